import type { Redis } from 'ioredis';
import type { Logger } from '../logging';

/** Where every change to bans or revoked sessions is announced, for each process's copy. */
export const ACCESS_CHANNEL = 'aura:access:changed';

export type BanKind = 'user' | 'ip' | 'device';

/** One ban as the copy needs it; `id` is the record's (empty for a ban known only to Redis). */
export interface BanState {
  id: string;
  kind: BanKind;
  subject: string;
  /** ms; null for good. */
  expiresAt: number | null;
  inForce: boolean;
}

/** The record of bans (PostgreSQL), as the copy reads it. */
export interface BanSource {
  /** Bans in force, and PostgreSQL's now when read (the cursor for `changedSince`). */
  active(): Promise<{ bans: BanState[]; cursor: Date }>;
  changedSince(since: Date): Promise<{ changes: BanState[]; cursor: Date }>;
}

/** The record of revoked sessions (PostgreSQL). */
export interface RevocationSource {
  since(since: Date): Promise<{ revocations: { sessionId: string; revokedAt: number }[]; cursor: Date }>;
}

/** What goes over ACCESS_CHANNEL. */
export type AccessChange =
  | { t: 'ban'; kind: BanKind; subject: string; id: string; expiresAt: number | null }
  | { t: 'lift'; kind: BanKind; subject: string }
  | { t: 'revoked'; sessionId: string; at: number };

export interface AccessCacheSettings {
  /** How often the copy asks PostgreSQL what changed (heals a missed announcement). */
  resyncMs: number;
  /** Past this without a successful resync the copy stops answering and callers ask instead. */
  staleMs: number;
  /** How far back each resync looks past the last one: a change's timestamp is its transaction's start. */
  overlapMs: number;
  /** How often the copy is reloaded whole (drops what no record backs, prunes what expired). */
  fullReloadMs: number;
  /** How long a revoked session is remembered: as long as one of its access tokens can live. */
  revokedKeepMs: number;
}

export const DEFAULT_ACCESS_CACHE_SETTINGS: AccessCacheSettings = {
  resyncMs: 500,
  staleMs: 3_000,
  overlapMs: 10_000,
  fullReloadMs: 60_000,
  revokedKeepMs: (900 + 60) * 1000,
};

export const banField = (kind: BanKind, subject: string) => `${kind}:${subject}`;

/**
 * Each process's in-memory copy of the bans in force and the sessions revoked recently, so a
 * request or a socket upgrade checks them without a round trip. It is loaded from the record
 * (PostgreSQL) at start, updated at once by announcements on ACCESS_CHANNEL, and re-read from
 * the record every `resyncMs` for what changed, so a missed announcement (a Redis blip, a
 * flushed Redis) is healed within that. While it is not loaded, or its last successful resync
 * is older than `staleMs`, `fresh()` is false and callers ask Redis or PostgreSQL instead
 * (and answer 503 if those fail): a check is never skipped.
 */
export class AccessCache {
  private bans = new Map<string, { id: string; expiresAt: number | null }>();
  private revoked = new Map<string, number>();
  private bansCursor: Date | null = null;
  private revokedCursor: Date | null = null;
  private syncedAt = 0;
  private fullAt = 0;
  private subscriber: Redis | null = null;
  private timer: NodeJS.Timeout | null = null;
  private syncing: Promise<void> | null = null;
  private again = false;
  /** Announcements that arrive while a full reload is in flight, replayed on its result. */
  private duringReload: AccessChange[] | null = null;
  private readonly settings: AccessCacheSettings;

  constructor(
    private readonly redis: Redis,
    private readonly banSource: BanSource,
    private readonly revocationSource: RevocationSource,
    private readonly logger: Logger,
    settings: Partial<AccessCacheSettings> = {},
    private readonly clock: () => number = Date.now,
  ) {
    this.settings = { ...DEFAULT_ACCESS_CACHE_SETTINGS, ...settings };
  }

  /** Subscribes, loads, and keeps resyncing. A failed first load leaves the copy unloaded (callers ask) and is retried. */
  async start(): Promise<void> {
    // Its own connection (a subscribed one can do nothing else), queueing the subscribe until connected.
    const subscriber = this.redis.duplicate({ connectionName: 'aura-access-cache', enableOfflineQueue: true });
    this.subscriber = subscriber;
    const subscribe = () =>
      subscriber.subscribe(ACCESS_CHANNEL).catch((err: unknown) => this.logger.warn({ err }, 'access cache could not subscribe; relying on resync'));
    subscriber.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'access cache subscriber error'));
    subscriber.on('message', (_channel: string, message: string) => this.receive(message));
    // Announcements made while disconnected are lost: (re)subscribe and look at the record as soon as we're back.
    subscriber.on('ready', () => {
      void subscribe();
      void this.requestSync();
    });
    await subscribe();
    await this.requestSync();
    this.timer = setInterval(() => void this.requestSync(), this.settings.resyncMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.syncing?.catch(() => undefined);
    this.subscriber?.disconnect();
    this.subscriber = null;
  }

  /** Whether this copy may answer: loaded, and resynced within `staleMs`. */
  fresh(now = this.clock()): boolean {
    return this.syncedAt > 0 && now - this.syncedAt <= this.settings.staleMs;
  }

  /** Whether a subject is banned now, by this copy (ask only when `fresh()`). */
  isBanned(kind: BanKind, subject: string, now = this.clock()): boolean {
    const ban = this.bans.get(banField(kind, subject));
    return ban !== undefined && (ban.expiresAt === null || ban.expiresAt > now);
  }

  isRevoked(sessionId: string): boolean {
    return this.revoked.has(sessionId);
  }

  /** Applies an announcement to this copy (also used for this process's own changes, before announcing them). */
  apply(change: AccessChange): void {
    this.duringReload?.push(change);
    this.applyTo(this.bans, this.revoked, change);
  }

  private applyTo(bans: AccessCache['bans'], revoked: AccessCache['revoked'], change: AccessChange): void {
    if (change.t === 'ban') bans.set(banField(change.kind, change.subject), { id: change.id, expiresAt: change.expiresAt });
    else if (change.t === 'lift') bans.delete(banField(change.kind, change.subject));
    else revoked.set(change.sessionId, change.at);
  }

  private receive(message: string): void {
    let change: AccessChange;
    try {
      change = JSON.parse(message) as AccessChange;
    } catch {
      return;
    }
    if (change && (change.t === 'ban' || change.t === 'lift' || change.t === 'revoked')) this.apply(change);
  }

  /** One resync at a time; a request during one runs another right after it. */
  requestSync(): Promise<void> {
    if (this.syncing) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      try {
        do {
          this.again = false;
          await this.sync();
        } while (this.again);
      } catch (err) {
        this.logger.warn({ err }, 'access cache resync failed; checks ask Redis and PostgreSQL until it recovers');
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }

  private async sync(): Promise<void> {
    const started = this.clock();
    if (!this.bansCursor || !this.revokedCursor || started - this.fullAt >= this.settings.fullReloadMs) {
      await this.reload(started);
    } else {
      const overlap = this.settings.overlapMs;
      const [bans, revoked] = await Promise.all([
        this.banSource.changedSince(new Date(this.bansCursor.getTime() - overlap)),
        this.revocationSource.since(new Date(this.revokedCursor.getTime() - overlap)),
      ]);
      // Oldest first: a ban that replaced another of the same subject comes after it.
      for (const ban of bans.changes) this.applyBanState(this.bans, ban, started);
      for (const r of revoked.revocations) this.revoked.set(r.sessionId, r.revokedAt);
      this.bansCursor = bans.cursor;
      this.revokedCursor = revoked.cursor;
    }
    this.syncedAt = started;
  }

  private async reload(started: number): Promise<void> {
    this.duringReload = [];
    try {
      const since = new Date(started - this.settings.revokedKeepMs);
      const [active, revoked] = await Promise.all([this.banSource.active(), this.revocationSource.since(since)]);
      const bans: AccessCache['bans'] = new Map();
      for (const ban of active.bans) this.applyBanState(bans, ban, started);
      const revokedMap: AccessCache['revoked'] = new Map();
      for (const r of revoked.revocations) revokedMap.set(r.sessionId, r.revokedAt);
      for (const change of this.duringReload) this.applyTo(bans, revokedMap, change);
      this.bans = bans;
      this.revoked = revokedMap;
      this.bansCursor = active.cursor;
      this.revokedCursor = revoked.cursor;
      this.fullAt = started;
    } finally {
      this.duringReload = null;
    }
  }

  private applyBanState(bans: AccessCache['bans'], ban: BanState, now: number): void {
    const key = banField(ban.kind, ban.subject);
    if (ban.inForce && (ban.expiresAt === null || ban.expiresAt > now)) bans.set(key, { id: ban.id, expiresAt: ban.expiresAt });
    else if (bans.get(key)?.id === ban.id) bans.delete(key);
  }
}
