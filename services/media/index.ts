import type { DataSource } from 'typeorm';
import type { Config } from '../../config';
import { MediaUploads } from '../../db/repositories/media-uploads';
import type { Logger } from '../../platform/logging';
import type { ObjectStore } from '../../platform/storage/object-store';
import { MediaSweep, UNUSED_UPLOAD_KEEP_MS } from './sweep';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { RoomLiveState } from '../../db/live/room-live-state';
import { mediaServerFromConfig, type MediaServer } from '../../platform/media/livekit';
import { MediaAccess } from './media-access';
import { MediaPresence } from './media-presence';
import { SeatBinder, createSeatBinderMetrics, type SeatBinderMetrics } from './seat-binder';

export { MediaSweep } from './sweep';

/** The media sweep as a process runs it (api/main.ts): `start(config.MEDIA_SWEEP_SECONDS * 1000)`. */
export function createMediaSweep(deps: { config: Pick<Config, 'MEDIA_PENDING_GRACE_SECONDS'>; dataSource: DataSource; store: ObjectStore; logger: Logger }): MediaSweep {
  return new MediaSweep({
    uploads: new MediaUploads(deps.dataSource),
    store: deps.store,
    logger: deps.logger,
    settings: { pendingGraceMs: deps.config.MEDIA_PENDING_GRACE_SECONDS * 1000, unusedMs: UNUSED_UPLOAD_KEEP_MS, batch: 100 },
  });
}

export { MediaAccess, type MediaJoin } from './media-access';
export { MediaPresence } from './media-presence';
export { SeatBinder, createSeatBinderMetrics } from './seat-binder';

/** Media access over the configured media server, or null (LIVEKIT_URL unset: rooms work silent, joins carry no media). */
export function mediaAccessFromConfig(config: Config, media: MediaServer | null = mediaServerFromConfig(config)): MediaAccess | null {
  if (!media) return null;
  return new MediaAccess(media, { tokenTtlSeconds: config.LIVEKIT_TOKEN_TTL_SECONDS, videoPublishersMax: config.MEDIA_VIDEO_PUBLISHERS_MAX });
}

/** The API's side: presence from the media server's webhooks (and their permission grants). */
export function createMediaPresence(deps: { access: MediaAccess; live: RoomLiveState; logger: Logger; metrics?: SeatBinderMetrics; registry?: Registry }): MediaPresence {
  return new MediaPresence({ ...deps, metrics: deps.metrics ?? createSeatBinderMetrics(deps.registry) });
}

/** The worker's side: the seat binder over a dedicated subscriber connection (see SeatBinder). */
export function createSeatBinder(deps: {
  config: Config;
  access: MediaAccess;
  live: RoomLiveState;
  subscriber: Redis;
  logger: Logger;
  registry?: Registry;
}): SeatBinder {
  return new SeatBinder(
    { access: deps.access, live: deps.live, subscriber: deps.subscriber, logger: deps.logger, metrics: createSeatBinderMetrics(deps.registry) },
    { reconcileMs: deps.config.MEDIA_RECONCILE_SECONDS * 1000, leaseMs: deps.config.ROOM_CONNECTION_LEASE_SECONDS * 1000 },
  );
}
