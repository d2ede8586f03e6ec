import type { DataSource } from 'typeorm';
import type { MediaUploads } from '../../db/repositories/media-uploads';
import { AppError, ErrorCode } from '../../domain/errors';
import type { AnimationFormat, GiftAnimation } from '../../domain/economy/gifts';
import { animationFormatsFor } from '../../domain/media/assets';
import type { ObjectStore } from '../../platform/storage/object-store';
import type { MediaAttachments } from './attachments';
import { attachUpload } from './uploads';

/** A catalog animation that came from an upload remembers its key, so replacing it deletes the old file. */
export type UploadedAnimation = GiftAnimation & { assetKey?: string };

export interface AnimationChange {
  giftId: string;
  animation: UploadedAnimation;
  /** The catalog's version in this process once it re-read the change (null: the refresh failed; it follows within GIFT_CATALOG_REFRESH_MS). */
  catalogVersion: string | null;
}

/**
 * Staff set a gift's animation to an uploaded file. The gift's row, the upload's use and the
 * audit row (gift_catalog_changes) commit together; then this process re-reads the catalog (its
 * version, the listing's ETag, changes with the content) and the others pick it up within their
 * refresh period. The animation's URL is written as the CDN URL of the key: the catalog is
 * reference data served whole from every process's memory.
 */
export class GiftAnimations {
  constructor(
    private readonly deps: {
      dataSource: DataSource;
      uploads: MediaUploads;
      attachments: MediaAttachments;
      store: ObjectStore;
      catalog: { refresh(): Promise<void>; readonly version: string | null };
    },
  ) {}

  async set(staffId: string, giftId: string, input: { key: string; format?: AnimationFormat }): Promise<AnimationChange> {
    const { animation, replaced } = await this.deps.dataSource.transaction(async (tx) => {
      const [gift]: { animation: UploadedAnimation }[] = await tx.query(`SELECT animation FROM gifts WHERE id = $1 FOR UPDATE`, [giftId]);
      if (!gift) throw new AppError(ErrorCode.GiftNotFound, 'no gift has this id');
      const upload = await attachUpload(this.deps.uploads, tx, { key: input.key, actorId: staffId, kind: 'gift-animation', usedBy: `gift:${giftId}` });
      const formats = animationFormatsFor(upload.contentType);
      const format = input.format ?? formats[0];
      if (format === undefined || !formats.includes(format)) {
        throw new AppError(ErrorCode.MediaKindMismatch, `a ${upload.contentType} file plays as ${formats.join(' or ')}, not ${input.format}`, { formats });
      }
      const before = gift.animation;
      const after: UploadedAnimation = { ...before, format, url: this.deps.store.publicUrl(upload.key), assetKey: upload.key };
      await tx.query(`UPDATE gifts SET animation = $2, updated_at = now() WHERE id = $1`, [giftId, JSON.stringify(after)]);
      await tx.query(`INSERT INTO gift_catalog_changes (gift_id, changed_by, field, before, after) VALUES ($1, $2, 'animation', $3, $4)`, [
        giftId,
        staffId,
        JSON.stringify(before),
        JSON.stringify(after),
      ]);
      const previous = before.assetKey ?? null;
      if (previous !== null && previous !== upload.key) await this.deps.uploads.markReplaced(tx, previous);
      return { animation: after, replaced: previous !== upload.key ? previous : null };
    });
    await this.deps.attachments.discard(replaced);
    const catalogVersion = await this.deps.catalog.refresh().then(
      () => this.deps.catalog.version,
      () => null,
    );
    return { giftId, animation, catalogVersion };
  }
}
