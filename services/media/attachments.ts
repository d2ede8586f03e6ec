import type { EntityManager } from 'typeorm';
import type { MediaUploads } from '../../db/repositories/media-uploads';
import type { Logger } from '../../platform/logging';
import type { ObjectStore } from '../../platform/storage/object-store';
import { attachUpload } from './uploads';

/**
 * Where uploaded files are put to use: a user's avatar and a room's cover (the gift catalog's
 * animations are in gift-animations.ts). Each change runs in the caller's transaction, with the
 * record it changes; the file it replaces is deleted from the store after the commit (`discard`),
 * or by the sweep if that fails.
 */
export class MediaAttachments {
  constructor(
    private readonly deps: {
      uploads: MediaUploads;
      store: ObjectStore;
      logger: Logger;
    },
  ) {}

  /** The user's avatar becomes `key` (null: none); returns the key it replaced, to discard after the commit. */
  async setAvatar(tx: EntityManager, userId: string, key: string | null): Promise<{ replaced: string | null }> {
    const current = await this.deps.uploads.lockAvatar(tx, userId);
    if (!current) return { replaced: null };
    if (key !== null) await attachUpload(this.deps.uploads, tx, { key, actorId: userId, kind: 'avatar', usedBy: `user:${userId}` });
    await this.deps.uploads.setAvatar(tx, userId, key);
    return this.replace(tx, current.key, key);
  }

  /**
   * The room's cover becomes `key` (null: none), uploaded by the acting owner or admin (who may
   * act is the room service's check). A closed room changes nothing here; the caller refuses it.
   */
  async setRoomCover(tx: EntityManager, actorId: string, roomId: string, key: string | null): Promise<{ replaced: string | null }> {
    const current = await this.deps.uploads.lockCover(tx, roomId);
    if (!current) return { replaced: null };
    if (key !== null) await attachUpload(this.deps.uploads, tx, { key, actorId, kind: 'room-cover', usedBy: `room:${roomId}` });
    await this.deps.uploads.setCover(tx, roomId, key);
    return this.replace(tx, current.key, key);
  }

  private async replace(tx: EntityManager, previous: string | null, next: string | null): Promise<{ replaced: string | null }> {
    if (previous === null || previous === next) return { replaced: null };
    await this.deps.uploads.markReplaced(tx, previous);
    return { replaced: previous };
  }

  /** After the commit: the replaced file leaves the store, then its row. A failure leaves it to the sweep. */
  async discard(key: string | null): Promise<void> {
    if (key === null) return;
    try {
      await this.deps.store.delete(key);
      await this.deps.uploads.forgetReplaced(key);
    } catch (err) {
      this.deps.logger.warn({ err, key }, 'a replaced media file could not be deleted now; the sweep will');
    }
  }
}
