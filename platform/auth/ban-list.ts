import type { Redis } from 'ioredis';
import { isIP } from 'node:net';
import { ACCESS_CHANNEL, banField, type AccessCache, type AccessChange, type BanKind, type BanSource } from './access-cache';

export type { BanKind };

/** What the API and the edge ask of the ban list. */
export interface BanChecks {
  /** The first of the given subjects that is banned, if any. */
  firstBanned(subjects: [BanKind, string | undefined][]): Promise<BanKind | null>;
  /** `firstBanned` for many clients at once (the edge re-checks its sockets). */
  firstBannedEach(clients: [BanKind, string | undefined][][]): Promise<(BanKind | null)[]>;
}

/** One hash holds the Redis copy: a field per ban (its expiry in ms, 0 for good) and two of its own. */
export const BANS_KEY = 'aura:bans';
/** Present once the copy was loaded from PostgreSQL; a flushed Redis has lost it, and the copy. */
const LOADED = '~loaded';
/** Bumped by every change, so a reload can tell that one happened while it read PostgreSQL. */
const VERSION = '~version';

// Writes the ban copy read from PostgreSQL unless it was loaded meanwhile, or changed since
// the caller read ~version (then the caller reads PostgreSQL again).
const RELOAD_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], '${LOADED}') == 1 then return 1 end
if (redis.call('HGET', KEYS[1], '${VERSION}') or '') ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], '${LOADED}', '1')
redis.call('HINCRBY', KEYS[1], '${VERSION}', 1)
return 1`;

// One change to the copy, announced to every process's in-memory copy in the same step.
const CHANGE_SCRIPT = `
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('HINCRBY', KEYS[1], '${VERSION}', 1)
redis.call('PUBLISH', '${ACCESS_CHANNEL}', ARGV[3])
return 1`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The one spelling of a ban's subject, used when banning and when checking: lower-case user
 * ids, IP addresses as the server sees them (IPv4-mapped IPv6 as plain IPv4), device ids as
 * sent. Null for a value that can't be one (nothing can be banned under it).
 */
export function canonicalBanSubject(kind: BanKind, value: string): string | null {
  if (kind === 'user') return UUID.test(value) ? value.toLowerCase() : null;
  if (kind === 'ip') {
    const ip = value.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
    return isIP(ip) ? ip : null;
  }
  return /^[\w.:-]{1,128}$/.test(value) ? value : null;
}

const present = (subjects: [BanKind, string | undefined][]): [BanKind, string][] =>
  subjects.flatMap(([kind, value]) => {
    const subject = value ? canonicalBanSubject(kind, value) : null;
    return subject === null ? [] : [[kind, subject] as [BanKind, string]];
  });

/**
 * The bans every process checks on the hot path (API requests, socket upgrades). The record is
 * PostgreSQL (services/bans writes it, then calls `ban`/`lift` here). Checks are answered by
 * the process's in-memory copy while it is fresh; otherwise they ask Redis, whose copy is
 * rebuilt from PostgreSQL before answering if Redis lost it (its "loaded" field is gone).
 * A Redis or PostgreSQL failure while asking is thrown, never read as "not banned".
 */
export class BanList implements BanChecks {
  constructor(
    private readonly redis: Redis,
    private readonly options: { records?: BanSource; cache?: AccessCache; clock?: () => number } = {},
  ) {}

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }

  /**
   * Copies a ban into Redis and announces it to every process. `recorded` is its PostgreSQL
   * record (services/bans passes it); a ban put here without one is only a copy, dropped when
   * the caches next reload from PostgreSQL (within a minute) or Redis is rebuilt.
   */
  async ban(kind: BanKind, subject: string, _reason?: string, ttlSeconds?: number, recorded?: { id: string; expiresAt: number | null }): Promise<void> {
    const expiresAt = recorded ? recorded.expiresAt : ttlSeconds ? this.now() + ttlSeconds * 1000 : null;
    await this.change({ t: 'ban', kind, subject: canonicalBanSubject(kind, subject) ?? subject, id: recorded?.id ?? '', expiresAt }, String(expiresAt ?? 0));
  }

  async lift(kind: BanKind, subject: string): Promise<void> {
    await this.change({ t: 'lift', kind, subject: canonicalBanSubject(kind, subject) ?? subject }, '');
  }

  private async change(change: AccessChange & { kind: BanKind; subject: string }, value: string): Promise<void> {
    // This process's own copy learns first: its next check must see the change.
    this.options.cache?.apply(change);
    await this.redis.eval(CHANGE_SCRIPT, 1, BANS_KEY, banField(change.kind, change.subject), value, JSON.stringify(change));
  }

  /** Forgets the Redis copy, so the next check rebuilds it from PostgreSQL (a change that could not be copied). */
  async invalidate(): Promise<void> {
    await this.redis.hdel(BANS_KEY, LOADED);
  }

  async firstBanned(subjects: [BanKind, string | undefined][]): Promise<BanKind | null> {
    return (await this.firstBannedEach([subjects]))[0]!;
  }

  async firstBannedEach(clients: [BanKind, string | undefined][][]): Promise<(BanKind | null)[]> {
    const lists = clients.map(present);
    const cache = this.options.cache;
    if (cache?.fresh()) {
      const now = this.now();
      return lists.map((list) => list.find(([kind, value]) => cache.isBanned(kind, value, now))?.[0] ?? null);
    }
    return this.ask(lists);
  }

  /** Asks Redis (one round trip), rebuilding its copy from PostgreSQL first if it was lost. */
  private async ask(lists: [BanKind, string][][]): Promise<(BanKind | null)[]> {
    const fields = lists.flat().map(([kind, value]) => banField(kind, value));
    if (fields.length === 0) return lists.map(() => null);
    let values = await this.redis.hmget(BANS_KEY, LOADED, ...fields);
    if (values[0] === null && this.options.records) {
      await this.reload();
      values = await this.redis.hmget(BANS_KEY, LOADED, ...fields);
    }
    const now = this.now();
    let offset = 1;
    return lists.map((list) => {
      const mine = values.slice(offset, offset + list.length);
      offset += list.length;
      const index = mine.findIndex((v) => v !== null && (v === '0' || Number(v) > now));
      return index < 0 ? null : list[index]![0];
    });
  }

  /** Loads the Redis copy from PostgreSQL, unless another process did meanwhile. */
  async reload(): Promise<void> {
    const records = this.options.records;
    if (!records) return;
    for (let attempt = 0; attempt < 5; attempt++) {
      const version = (await this.redis.hget(BANS_KEY, VERSION)) ?? '';
      const { bans } = await records.active();
      const pairs = bans.flatMap((b) => [banField(b.kind, b.subject), String(b.expiresAt ?? 0)]);
      if ((await this.redis.eval(RELOAD_SCRIPT, 1, BANS_KEY, version, ...pairs)) === 1) return;
    }
    throw new Error('the ban list kept changing while it was reloaded from PostgreSQL');
  }
}
