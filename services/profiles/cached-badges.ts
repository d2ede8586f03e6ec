import { MicroCache } from '../../platform/cache/micro-cache';
import { NO_BADGES, badgesAt, type BadgeFacts, type UserBadges } from '../../domain/profiles/badges';

/** Where badge facts come from: one query for many users (PublicProfiles.badgeFacts). */
export interface BadgeFactSource {
  badgeFacts(ids: readonly string[]): Promise<Map<string, BadgeFacts>>;
}

/** What rooms ask for: the badges of the users they show. */
export interface BadgeReader {
  badgesOf(ids: readonly string[]): Promise<Record<string, UserBadges>>;
}

/**
 * Badges for the users a room shows (seats, chat, members), read from PostgreSQL in one query
 * per call for whatever this process doesn't already hold, and kept per user for `ttlMs`.
 *
 * Staleness: a change (a VIP bought, a level reached, a CP pair formed or ended) shows in rooms
 * within `ttlMs` of its commit. A VIP expiry shows at once: the cache keeps the expiry instant
 * and the tier is read against the clock on every call. With `ttlMs` 0 nothing is kept.
 */
export class CachedBadges implements BadgeReader {
  private readonly cache: MicroCache<BadgeFacts | null> | null;

  constructor(
    private readonly source: BadgeFactSource,
    ttlMs: number,
    private readonly clock: () => number = Date.now,
    maxEntries = 50_000,
  ) {
    this.cache = ttlMs > 0 ? new MicroCache(ttlMs, maxEntries, clock) : null;
  }

  async badgesOf(ids: readonly string[]): Promise<Record<string, UserBadges>> {
    const unique = [...new Set(ids)];
    const facts = this.cache ? await this.cached(unique) : await this.source.badgeFacts(unique);
    const now = this.clock();
    const out: Record<string, UserBadges> = {};
    for (const id of unique) {
      const f = facts.get(id);
      out[id] = f ? badgesAt(f, now) : { ...NO_BADGES };
    }
    return out;
  }

  /** Drops what this process holds for a user (a writer in this process reads its own change). */
  forget(userId: string): void {
    this.cache?.delete(userId);
  }

  /** Hits from the cache; every miss joins one batch, loaded with a single query. */
  private async cached(ids: string[]): Promise<Map<string, BadgeFacts>> {
    const cache = this.cache!;
    let batch: { ids: string[]; loaded: Promise<Map<string, BadgeFacts>>; start: () => void } | null = null;
    const newBatch = () => {
      let start!: () => void;
      const gate = new Promise<void>((resolve) => (start = resolve));
      const ids: string[] = [];
      return { ids, loaded: gate.then(() => this.source.badgeFacts(ids)), start };
    };
    const pending = ids.map((id) =>
      cache.get(id, () => {
        batch ??= newBatch();
        batch.ids.push(id);
        return batch.loaded.then((m) => m.get(id) ?? null);
      }),
    );
    (batch as { start: () => void } | null)?.start();
    const values = await Promise.all(pending);
    const out = new Map<string, BadgeFacts>();
    ids.forEach((id, i) => {
      const v = values[i];
      if (v) out.set(id, v);
    });
    return out;
  }
}
