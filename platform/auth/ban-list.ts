import type { Redis } from 'ioredis';

export type BanKind = 'user' | 'ip' | 'device';

/**
 * Bans every process checks on the hot path (API requests, socket upgrades): one Redis EXISTS
 * per subject. Account bans are also recorded on the user row by the ban use case.
 */
export class BanList {
  constructor(private readonly redis: Redis) {}

  private key(kind: BanKind, value: string) {
    return `aura:ban:${kind}:${value}`;
  }

  async ban(kind: BanKind, value: string, reason: string, ttlSeconds?: number): Promise<void> {
    const payload = JSON.stringify({ reason, at: new Date().toISOString() });
    if (ttlSeconds) await this.redis.set(this.key(kind, value), payload, 'EX', ttlSeconds);
    else await this.redis.set(this.key(kind, value), payload);
  }

  async lift(kind: BanKind, value: string): Promise<void> {
    await this.redis.del(this.key(kind, value));
  }

  /** The first of the given subjects that is banned, if any. */
  async firstBanned(subjects: [BanKind, string | undefined][]): Promise<BanKind | null> {
    const present = subjects.filter((s): s is [BanKind, string] => Boolean(s[1]));
    if (present.length === 0) return null;
    const hits = await this.redis.mget(present.map(([kind, value]) => this.key(kind, value)));
    const index = hits.findIndex((h) => h !== null);
    return index < 0 ? null : present[index]![0];
  }

  /** `firstBanned` for many clients at once (the edge re-checks its sockets): one round trip. */
  async firstBannedEach(clients: [BanKind, string | undefined][][]): Promise<(BanKind | null)[]> {
    const keys: string[] = [];
    const spans = clients.map((subjects) => {
      const present = subjects.filter((s): s is [BanKind, string] => Boolean(s[1]));
      keys.push(...present.map(([kind, value]) => this.key(kind, value)));
      return present;
    });
    if (keys.length === 0) return clients.map(() => null);
    const hits = await this.redis.mget(keys);
    let offset = 0;
    return spans.map((present) => {
      const mine = hits.slice(offset, offset + present.length);
      offset += present.length;
      const index = mine.findIndex((h) => h !== null);
      return index < 0 ? null : present[index]![0];
    });
  }
}
