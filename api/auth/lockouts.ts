import type { Redis } from 'ioredis';
import { AppError, ErrorCode } from '../../domain/errors';

interface LockRule {
  name: string;
  maxFailures: number;
  windowSeconds: number;
}

/**
 * Lockouts after repeated failed verifications (Nakama's defaults: 5 per account for 1 minute,
 * 10 per IP for 10 minutes). Counters live in Redis so every API process sees them.
 */
export const SIGN_IN_LOCKS = {
  account: { name: 'account', maxFailures: 5, windowSeconds: 60 },
  ip: { name: 'ip', maxFailures: 10, windowSeconds: 600 },
} satisfies Record<string, LockRule>;

export class SignInLockouts {
  constructor(private readonly redis: Redis) {}

  private key(rule: LockRule, subject: string) {
    return `aura:lockout:${rule.name}:${subject}`;
  }

  async assertOpen(subjects: [LockRule, string][]): Promise<void> {
    for (const [rule, subject] of subjects) {
      const key = this.key(rule, subject);
      const [count, ttl] = await Promise.all([this.redis.get(key), this.redis.ttl(key)]);
      if (Number(count ?? 0) >= rule.maxFailures) {
        throw new AppError(ErrorCode.SignInLocked, 'too many failed attempts; try again later', {
          lock: rule.name,
          retryAfterSeconds: Math.max(1, ttl),
        });
      }
    }
  }

  async recordFailure(subjects: [LockRule, string][]): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const [rule, subject] of subjects) {
      const key = this.key(rule, subject);
      pipeline.incr(key);
      pipeline.expire(key, rule.windowSeconds, 'NX');
    }
    await pipeline.exec();
  }
}
