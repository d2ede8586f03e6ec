/**
 * A tiny in-process cache for hot reads that may be a moment old (a discovery page, a profile):
 * each key is loaded at most once per `ttlMs` however many requests ask meanwhile (concurrent
 * misses share one load), a failed load is not kept, and the oldest keys go first past
 * `maxEntries`. It saves the database round trip that dominates such a read; it is not a copy
 * of record, and writers in the same process drop their key (`delete`) so they read their own
 * writes.
 */
export class MicroCache<V> {
  private readonly entries = new Map<string, { load: Promise<V>; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly clock: () => number = Date.now,
  ) {}

  get(key: string, load: () => Promise<V>): Promise<V> {
    const now = this.clock();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > now) return hit.load;
    if (hit) this.entries.delete(key);
    else if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    const entry = { load: load(), expiresAt: now + this.ttlMs };
    this.entries.set(key, entry);
    entry.load.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return entry.load;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
