import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { Config } from '../../config';
import { RoomLiveState, type LiveStateSettings } from '../../db/live/room-live-state';
import { ChatArchive } from '../../db/repositories/room-messages';
import { ModerationLog, Reports, RoomMutes } from '../../db/repositories/room-moderation';
import { RoomDirectory } from '../../db/repositories/rooms';
import { RoomPlaylists } from '../../db/repositories/room-playlists';
import { Relations } from '../../db/repositories/relations';
import { Counter, type Registry } from 'prom-client';
import { createLogger, type Logger } from '../../platform/logging';
import { createDataSource } from '../../db/data-source';
import { WindowLimiter } from '../../platform/rate-limits/window-limiter';
import { RoomConnections } from './connections';
import { RoomLimits, roomLimitsFromConfig } from './limits';
import { RoomService, type HalfApplied, type RoomPolicy } from './room-service';
import { createPlaybackService, type PlaybackService } from '../playback';
import { MediaUploads } from '../../db/repositories/media-uploads';
import { publicMediaUrl } from '../../domain/media/assets';
import { objectStoreFromConfig, type ObjectStore } from '../../platform/storage/object-store';
import { MediaAttachments } from '../media/attachments';
import { PublicProfiles } from '../../db/repositories/profiles';
import { CachedBadges, type BadgeReader } from '../profiles/cached-badges';

export { RoomConnections } from './connections';

export function liveStateSettingsFromConfig(config: Config): LiveStateSettings {
  return {
    streamMax: config.ROOM_EVENT_RETENTION,
    recentChat: config.ROOM_RECENT_CHAT,
    graceMs: config.ROOM_SEAT_GRACE_SECONDS * 1000,
    leaseMs: config.ROOM_CONNECTION_LEASE_SECONDS * 1000,
    emptyTimeoutMs: config.ROOM_EMPTY_TIMEOUT_SECONDS * 1000,
    chatPerWindow: config.ROOM_CHAT_PER_5_SECONDS,
    chatWindowMs: 5_000,
    sweepBatch: 500,
    memberEventsMax: config.ROOM_MEMBER_EVENTS_MAX,
  };
}

export function roomPolicyFromConfig(config: Config): RoomPolicy {
  return {
    maxAdmins: config.ROOM_MAX_ADMINS,
    kickCooldownMs: config.ROOM_KICK_COOLDOWN_SECONDS * 1000,
    inviteTtlMs: config.ROOM_SEAT_INVITE_TTL_SECONDS * 1000,
    maxChatMuteMs: 7 * 24 * 3_600_000,
    popularCacheMs: config.ROOM_POPULAR_CACHE_MS,
  };
}

/**
 * Reports a moderation change left half-applied (see HalfApplied): an error log with the ids
 * and `aura_room_half_applied_total{action,missing}`, for an alert. The client got an error and
 * a retry repairs it; the log says which room to look at if nobody retries.
 */
export function halfAppliedReporter(logger: Logger, registry?: Registry): { report: (failure: HalfApplied) => void; counter: Counter<'action' | 'missing'> } {
  const counter = new Counter({
    name: 'aura_room_half_applied_total',
    help: 'Moderation changes committed on one side (PostgreSQL or Redis) whose other side failed',
    labelNames: ['action', 'missing'] as const,
    registers: registry ? [registry] : [],
  });
  return {
    counter,
    report({ err, ...ids }) {
      counter.inc({ action: ids.action, missing: ids.missing });
      logger.error({ err, ...ids }, `room moderation half-applied: the ${ids.missing} step failed; a retry of the action repairs it`);
    },
  };
}

/** The room service over the real stores, as the API and the edge both build it. */
export function createRoomService(deps: {
  config: Config;
  dataSource: DataSource;
  redis: Redis;
  logger?: Logger;
  /** Where the half-applied counter is scraped (the process's /metrics). */
  metricsRegistry?: Registry;
  /** The media store covers are kept in; default: the one the configuration names. */
  store?: ObjectStore;
}): {
  rooms: RoomService;
  live: RoomLiveState;
  connections: RoomConnections;
  /** The badges rooms show, through the process's cache (GET /v1/users/badges reads the same). */
  badges: BadgeReader;
} {
  const live = new RoomLiveState(deps.redis, liveStateSettingsFromConfig(deps.config));
  const logger = deps.logger ?? createLogger({ name: 'rooms', level: deps.config.LOG_LEVEL });
  const halfApplied = halfAppliedReporter(logger, deps.metricsRegistry);
  const cdnBase = deps.config.MEDIA_CDN_BASE_URL;
  const badges = new CachedBadges(new PublicProfiles(deps.dataSource), deps.config.USER_BADGE_CACHE_MS);
  const rooms = new RoomService({
    rooms: new RoomDirectory(deps.dataSource, { mediaUrl: (key) => publicMediaUrl(cdnBase, key) }),
    covers: new MediaAttachments({ uploads: new MediaUploads(deps.dataSource), store: deps.store ?? objectStoreFromConfig(deps.config), logger }),
    chat: new ChatArchive(deps.dataSource),
    moderationLog: new ModerationLog(deps.dataSource),
    mutes: new RoomMutes(deps.dataSource),
    reports: new Reports(deps.dataSource),
    relations: new Relations(deps.dataSource),
    live,
    playlists: new RoomPlaylists(deps.dataSource),
    policy: roomPolicyFromConfig(deps.config),
    onHalfApplied: halfApplied.report,
    limits: new RoomLimits(new WindowLimiter(deps.redis), roomLimitsFromConfig(deps.config)),
    badges,
  });
  return { rooms, live, connections: new RoomConnections(live), badges };
}

/**
 * The room services for a process that keeps no other PostgreSQL work of its own (the realtime
 * edge), with their own small pool; `close` ends it.
 */
export async function openRoomServices(deps: { config: Config; redis: Redis; poolSize: number; applicationName: string }): Promise<{
  rooms: RoomService;
  connections: RoomConnections;
  /** Playlists (the edge runs their sweeper). */
  playback: PlaybackService;
  /** The pool, for the process's other services (its access checks). */
  dataSource: DataSource;
  close(): Promise<void>;
}> {
  const dataSource = await createDataSource({ url: deps.config.DATABASE_URL, poolSize: deps.poolSize, applicationName: deps.applicationName }).initialize();
  const { rooms, connections, live } = createRoomService({ config: deps.config, dataSource, redis: deps.redis });
  const playback = createPlaybackService({ config: deps.config, dataSource, live, rooms });
  return { rooms, connections, playback, dataSource, close: () => dataSource.destroy() };
}
