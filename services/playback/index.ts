import type { DataSource } from 'typeorm';
import type { Config } from '../../config';
import type { RoomLiveState } from '../../db/live/room-live-state';
import { ModerationLog } from '../../db/repositories/room-moderation';
import { RoomPlaylists } from '../../db/repositories/room-playlists';
import { RoomDirectory } from '../../db/repositories/rooms';
import type { Logger } from '../../platform/logging';
import type { VideoCatalog } from '../../platform/media/video-catalog';
import type { RoomService } from '../rooms/room-service';
import { PlaybackService, type PlaybackPolicy } from './playback-service';

export { PlaybackService } from './playback-service';

export function playbackPolicyFromConfig(config: Config): PlaybackPolicy {
  return {
    maxItems: config.PLAYLIST_MAX_ITEMS,
    maxItemsPerUser: config.PLAYLIST_MAX_ITEMS_PER_USER,
    maxDurationMs: config.PLAYLIST_MAX_VIDEO_SECONDS * 1000,
    skipVoteFraction: config.PLAYLIST_SKIP_VOTE_FRACTION,
    // The catalog bounds each attempt by MEDIA_TIMEOUT_MS and may retry; this bounds the whole lookup.
    catalogTimeoutMs: config.MEDIA_TIMEOUT_MS * 2,
  };
}

/** The playlist and playback service over the real stores, as the API and the edge build it. */
export function createPlaybackService(deps: {
  config: Config;
  dataSource: DataSource;
  live: RoomLiveState;
  rooms: RoomService;
  /** Absent: adding videos answers VIDEO_CATALOG_NOT_CONFIGURED (the edge's sweeper needs none). */
  catalog?: VideoCatalog;
  logger?: Logger;
}): PlaybackService {
  return new PlaybackService({
    rooms: new RoomDirectory(deps.dataSource),
    roomService: deps.rooms,
    playlists: new RoomPlaylists(deps.dataSource),
    moderationLog: new ModerationLog(deps.dataSource),
    live: deps.live,
    catalog: deps.catalog,
    policy: playbackPolicyFromConfig(deps.config),
    onLiveStepFailed: ({ roomId, what, err }) =>
      deps.logger?.error({ err, roomId, what }, 'a playlist or playback change committed but its live step failed; the next change or a rebuild repairs it'),
  });
}
