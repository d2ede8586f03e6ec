import type { Redis } from 'ioredis';

/** One counter a caller is checked against: at most `max` in any `windowMs` fixed window. */
export interface WindowLimit {
  key: string;
  max: number;
  windowMs: number;
}

export type LimitDecision = { allowed: true } | { allowed: false; retryAfterMs: number; key: string };

// Checks every counter first and counts in all of them only if none is full, in one atomic
// step: two racing attempts can't both take the last slot, and a refused attempt spends nothing.
// Returns 0 when counted, else the index (1-based) of a full counter and its remaining time.
const TAKE = `
local worst, worstTtl = 0, 0
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then ttl = tonumber(ARGV[2 * i]) end
    if ttl > worstTtl then worst, worstTtl = i, ttl end
  end
end
if worst > 0 then return { worst, worstTtl } end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[2 * i]) end
end
return { 0, 0 }
`;

const REFUND = `
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
`;

/**
 * Fixed-window counters in Redis, shared by every process (API and edges). Used for the abuse
 * limits that must hold across processes: room password attempts, room creation, reports,
 * socket upgrades per address. Keys are `aura:limit:<name>:<subject>`.
 */
export class WindowLimiter {
  constructor(private readonly redis: Redis) {}

  /** Counts one attempt against every limit, or none if any is already full. */
  async take(limits: WindowLimit[]): Promise<LimitDecision> {
    const keys = limits.map((l) => `aura:limit:${l.key}`);
    const args = limits.flatMap((l) => [String(l.max), String(l.windowMs)]);
    const [worst, ttl] = (await this.redis.eval(TAKE, keys.length, ...keys, ...args)) as [number, number];
    if (worst === 0) return { allowed: true };
    return { allowed: false, retryAfterMs: Math.max(1, ttl), key: limits[worst - 1]!.key };
  }

  /** Gives back an attempt that turned out legitimate (a right password does not use up the budget). */
  async refund(limits: WindowLimit[]): Promise<void> {
    const keys = limits.map((l) => `aura:limit:${l.key}`);
    await this.redis.eval(REFUND, keys.length, ...keys);
  }
}
