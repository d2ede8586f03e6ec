import type { Redis } from 'ioredis';

export const revokedSessionKey = (sessionId: string) => `aura:session:revoked:${sessionId}`;

/** Signed-out sessions, marked in Redis for as long as their access tokens could live. */
export class RevokedSessions {
  constructor(private readonly redis: Redis) {}

  async isRevoked(sessionId: string): Promise<boolean> {
    return (await this.redis.exists(revokedSessionKey(sessionId))) === 1;
  }

  /** Which of these sessions are revoked: one round trip for many sockets. */
  async revokedAmong(sessionIds: string[]): Promise<Set<string>> {
    if (sessionIds.length === 0) return new Set();
    const hits = await this.redis.mget(sessionIds.map(revokedSessionKey));
    return new Set(sessionIds.filter((_, i) => hits[i] !== null));
  }
}
