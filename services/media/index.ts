import type { DataSource } from 'typeorm';
import type { Config } from '../../config';
import { MediaUploads } from '../../db/repositories/media-uploads';
import type { Logger } from '../../platform/logging';
import type { ObjectStore } from '../../platform/storage/object-store';
import { MediaSweep, UNUSED_UPLOAD_KEEP_MS } from './sweep';

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
