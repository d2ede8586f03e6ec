import type { MediaUploads } from '../../db/repositories/media-uploads';
import type { Logger } from '../../platform/logging';
import type { ObjectStore } from '../../platform/storage/object-store';

export interface SweepSettings {
  /** A pending upload past its URL's expiry by this much is abandoned (MEDIA_PENDING_GRACE_SECONDS). */
  pendingGraceMs: number;
  /** A completed upload nobody attached within this long is deleted. */
  unusedMs: number;
  /** Uploads one pass claims at most (a pass repeats while it fills its batch). */
  batch: number;
}

/** Completed uploads nobody put to use are kept a day: long enough for any client to attach them. */
export const UNUSED_UPLOAD_KEEP_MS = 24 * 3_600_000;

/**
 * Removes what the store should no longer hold: uploads started and never completed, refused
 * ones, files replaced by newer ones (when the delete after the commit failed) and completed
 * files nobody used. Each upload is claimed in PostgreSQL first (`deleting`), then its object is
 * deleted, then its row; a failed delete leaves the claim for the next pass. Claims skip rows
 * another sweep holds, so every API process may run it (one Redis-free timer each), and a pass
 * costs one indexed query when there is nothing to do.
 */
export class MediaSweep {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly deps: {
      uploads: MediaUploads;
      store: ObjectStore;
      logger: Logger;
      settings: SweepSettings;
    },
  ) {}

  async sweep(now = new Date()): Promise<{ deleted: number; failed: number }> {
    let deleted = 0;
    let failed = 0;
    for (let pass = 0; pass < 20; pass++) {
      const { pendingGraceMs, unusedMs, batch } = this.deps.settings;
      const claimed = await this.deps.uploads.claimLeftovers(now, pendingGraceMs, unusedMs, batch);
      for (const leftover of claimed) {
        try {
          await this.deps.store.delete(leftover.key);
          await this.deps.uploads.forget(leftover.id);
          deleted++;
        } catch (err) {
          failed++;
          this.deps.logger.warn({ err, key: leftover.key }, 'media sweep could not delete an object; the next pass retries');
        }
      }
      // A failure stays claimed and would be claimed again at once: stop the run there.
      if (claimed.length < batch || failed > 0) break;
    }
    if (deleted > 0) this.deps.logger.info({ deleted, failed }, 'media sweep removed abandoned and replaced files');
    return { deleted, failed };
  }

  /** Runs `sweep` every `intervalMs` (with a little jitter so processes spread out) until `stop`. */
  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.timer) return;
    const tick = () => {
      this.running = this.sweep().catch((err: unknown) => this.deps.logger.warn({ err }, 'media sweep failed; it runs again later'));
      this.timer = setTimeout(tick, intervalMs * (0.9 + Math.random() * 0.2));
      this.timer.unref();
    };
    this.timer = setTimeout(tick, intervalMs * Math.random());
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}
