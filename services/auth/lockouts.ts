import type { Redis } from 'ioredis';
import { AppError, ErrorCode } from '../../domain/errors';

interface LockRule {
  name: string;
  maxFailures: number;
  windowSeconds: number;
}

/**
 * Lockouts after repeated failed verifications (wrong or dead codes). Counters live in Redis so
 * every API process sees them. The number and the device carry the weight; the address is a
 * coarse backstop, because a carrier's NAT puts thousands of phones behind one address and a
 * tight per-address lock would let one person's typos lock out everyone on it.
 * - account (the number): 5 per minute, on top of the flow's 5 attempts per code and 5 codes
 *   an hour, so guessing one number's code stays at about 25 tries an hour (odds 1 in 40,000).
 * - device (`X-Device-Id`): 10 per 10 minutes, one phone guessing across many numbers.
 * - ip: 100 per 10 minutes: far above the typos of everyone behind a shared address, and
 *   still 100 guesses at a one-in-a-million code for one address that spreads over numbers.
 */
export const SIGN_IN_LOCKS = {
  account: { name: 'account', maxFailures: 5, windowSeconds: 60 },
  device: { name: 'device', maxFailures: 10, windowSeconds: 600 },
  ip: { name: 'ip', maxFailures: 100, windowSeconds: 600 },
} satisfies Record<string, LockRule>;

export type SignInLock = [LockRule, string | undefined];

export class SignInLockouts {
  constructor(private readonly redis: Redis) {}

  private key(rule: LockRule, subject: string) {
    return `aura:lockout:${rule.name}:${subject}`;
  }

  /** Refuses (429 SIGN_IN_LOCKED with the wait) if any subject is locked; one round trip. */
  async assertOpen(subjects: SignInLock[]): Promise<void> {
    const checked = present(subjects);
    if (checked.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const [rule, subject] of checked) pipeline.get(this.key(rule, subject)).ttl(this.key(rule, subject));
    const replies = (await pipeline.exec()) ?? [];
    checked.forEach(([rule], i) => {
      const [countErr, count] = replies[2 * i] ?? [];
      const [, ttl] = replies[2 * i + 1] ?? [];
      if (countErr) throw countErr;
      if (Number(count ?? 0) >= rule.maxFailures) {
        throw new AppError(ErrorCode.SignInLocked, 'too many failed attempts; try again later', {
          lock: rule.name,
          retryAfterSeconds: Math.max(1, Number(ttl)),
        });
      }
    });
  }

  async recordFailure(subjects: SignInLock[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const [rule, subject] of present(subjects)) {
      const key = this.key(rule, subject);
      pipeline.incr(key);
      pipeline.expire(key, rule.windowSeconds, 'NX');
    }
    await pipeline.exec();
  }
}

/** Subjects the request has (a device id is optional). */
function present(subjects: SignInLock[]): [LockRule, string][] {
  return subjects.filter((s): s is [LockRule, string] => Boolean(s[1]));
}
