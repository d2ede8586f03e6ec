import type { Redis } from 'ioredis';
import type { RealtimeEvent } from '../../domain/events';
import type { UserEventPublisher } from '../events/publisher';
import { ACCESS_CHANNEL, type AccessCache, type AccessChange } from './access-cache';
import { isDependencyUnavailable } from '../dependency-errors';

export const revokedSessionKey = (sessionId: string) => `aura:session:revoked:${sessionId}`;

/** What the API and the edge ask about sessions. */
export interface SessionChecks {
  isRevoked(sessionId: string): Promise<boolean>;
  /** Which of these sessions are revoked (the edge re-checks its sockets at once). */
  revokedAmong(sessionIds: string[]): Promise<Set<string>>;
}

/**
 * Signed-out sessions. The record is `sessions.revoked_at` in PostgreSQL. Checks are answered
 * by the process's in-memory copy while it is fresh; otherwise they ask PostgreSQL (or, with no
 * record to hand or PostgreSQL down, the Redis markers sign-out sets for as long as an access
 * token can live).
 */
export class RevokedSessions implements SessionChecks {
  constructor(
    private readonly redis: Redis,
    private readonly options: { records?: { revokedAmong(sessionIds: string[]): Promise<Set<string>> }; cache?: AccessCache } = {},
  ) {}

  async isRevoked(sessionId: string): Promise<boolean> {
    return (await this.revokedAmong([sessionId])).has(sessionId);
  }

  async revokedAmong(sessionIds: string[]): Promise<Set<string>> {
    if (sessionIds.length === 0) return new Set();
    const cache = this.options.cache;
    if (cache?.fresh()) return new Set(sessionIds.filter((id) => cache.isRevoked(id)));
    if (this.options.records) {
      try {
        return await this.options.records.revokedAmong(sessionIds);
      } catch (err) {
        // PostgreSQL is down: every sign-out also set a Redis marker that outlives the session's
        // access tokens, so the markers still answer (a sign-out whose marker write failed while
        // PostgreSQL is down too is the one case they miss). Reads of cached data go on serving.
        if (!isDependencyUnavailable(err)) throw err;
      }
    }
    const hits = await this.redis.mget(sessionIds.map(revokedSessionKey));
    return new Set(sessionIds.filter((_, i) => hits[i] !== null));
  }

  /** Sessions were revoked (and recorded): this process's copy learns now, every other one by announcement. */
  async announce(sessionIds: string[], at = Date.now()): Promise<void> {
    if (sessionIds.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const sessionId of sessionIds) {
      const change: AccessChange = { t: 'revoked', sessionId, at };
      this.options.cache?.apply(change);
      pipeline.publish(ACCESS_CHANNEL, JSON.stringify(change));
    }
    await pipeline.exec();
  }
}

/**
 * Sign-out announces each revoked session to its user's sockets (`session.revoked`); this
 * passes those announcements on to the revocation copies too, so the process that signed a
 * session out refuses its token from the next request on, and every other within moments.
 */
export function announcingRevocations(publisher: UserEventPublisher, revoked: RevokedSessions): UserEventPublisher {
  return {
    async publishToUser(userId: string, event: RealtimeEvent): Promise<void> {
      if (event.type === 'session.revoked') {
        const sessionId = (event.data as { sessionId?: unknown } | undefined)?.sessionId;
        if (typeof sessionId === 'string') await revoked.announce([sessionId]);
      }
      await publisher.publishToUser(userId, event);
    },
  };
}
