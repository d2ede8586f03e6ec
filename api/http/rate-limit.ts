import type { Redis } from 'ioredis';
import type { Middleware } from 'koa';
import { AppError, ErrorCode } from '../../domain/errors';
import type { ApiState } from './context';
import type { Logger } from '../../platform/logging';
import { isRedisUnavailable } from '../../platform/redis';
import { errorBody } from './errors';

type Ctx = Parameters<Middleware<ApiState>>[0];

/**
 * What a limit does while Redis cannot be reached:
 * - `local`: each API process goes on counting on its own (the limit then holds per process
 *   rather than across processes), so an outage neither opens the door nor takes routes down;
 * - `closed`: refuse with 503 DEPENDENCY_UNAVAILABLE, for limits that guard something costly
 *   (sign-in: every code sent is a paid SMS).
 */
export type WhenRedisIsDown = 'local' | 'closed';

export interface LimitOptions {
  redis: Redis;
  /** Keeps the counters of different limits apart. */
  name: string;
  max: number;
  durationMs: number;
  key: (ctx: Ctx) => string | false;
  logger: Logger;
  whenRedisIsDown?: WhenRedisIsDown;
}

/** How often a process adds what it admitted on its own to the shared counts (and reads them back). */
const FLUSH_MS = 100;
/** Counts read from Redis longer ago than this are not trusted to admit a request locally. */
const FRESH_MS = 1_000;
/** Limits below this are counted in Redis request by request. */
const LOCAL_FROM = 100;
/** Keys followed at once per limit and process; past this the oldest are forgotten (their counts stay in Redis). */
const MAX_TRACKED_KEYS = 50_000;

/**
 * One call per key: adds what the process admitted since its last call (`add`), then admits one
 * more request (`want` = 1) if the sliding estimate allows it. The estimate weighs the previous
 * window by the part of it still inside the sliding duration (prev × (1 − elapsed) + current), the
 * usual two-window approximation of a sliding log. Windows are fields of one hash per key, so a
 * key is one Redis key (`aura:ratelimit:<name>:<id>`) that DEL resets.
 */
const WINDOW_SCRIPT = `
local key = KEYS[1]
local w = tonumber(ARGV[1])
local prevWeight = tonumber(ARGV[2])
local add = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local max = tonumber(ARGV[5])
local cur
if add > 0 then
  cur = redis.call('HINCRBY', key, w, add)
else
  cur = tonumber(redis.call('HGET', key, w) or '0')
end
local prev = tonumber(redis.call('HGET', key, w - 1) or '0')
local granted = 0
if want > 0 and prev * prevWeight + cur + want <= max then
  cur = redis.call('HINCRBY', key, w, want)
  granted = 1
end
if add > 0 or granted == 1 then
  redis.call('PEXPIRE', key, ARGV[6])
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if tonumber(f) < w - 1 then redis.call('HDEL', key, f) end
  end
end
return {cur, prev, granted}
`;

type WindowCall = (key: string, window: number, prevWeight: string, add: number, want: number, max: number, ttlMs: number) => Promise<[number, number, number]>;

function windowCommand(redis: Redis): WindowCall {
  const withCommand = redis as Redis & { auraRateWindow?: WindowCall };
  if (!withCommand.auraRateWindow) redis.defineCommand('auraRateWindow', { numberOfKeys: 1, lua: WINDOW_SCRIPT });
  return (...args) => withCommand.auraRateWindow!(...args);
}

/** What this process knows of one key's counts in the current window. */
interface Counter {
  window: number;
  /** Shared count of the current window at the last answer from Redis. */
  current: number;
  /** Shared count of the previous window. */
  previous: number;
  /** Requests this process admitted on its own and has not yet added to Redis. */
  pending: number;
  checkedAt: number;
}

/**
 * A sliding-window limit shared by every API process, answering 429 with Retry-After.
 *
 * Counting every request in Redis costs a round trip per limit per request (a socket write and
 * read each, most of a read's CPU on a small machine). Instead each process admits on its own
 * while the shared count it last read is fresh (≤ 1 s old) and well below the limit, taking at
 * most a tenth of the limit between two syncs, and adds what it admitted to Redis every 100 ms
 * in one batch. Near the limit, for limits under 100 and for every refusal it asks Redis
 * first, so a refusal is never based on stale counts and a lone process counts exactly. Across N
 * processes the limit can be overshot by at most N × max/10 within one sync period.
 */
export function rateLimit({ redis, name, max, durationMs, key, logger, whenRedisIsDown = 'local' }: LimitOptions): Middleware<ApiState> {
  const call = windowCommand(redis);
  const namespace = `aura:ratelimit:${name}:`;
  const ttlMs = 2 * durationMs;
  // Strict limits (under 100: sign-in, codes sent) see little traffic: every request asks Redis.
  const localShare = max >= LOCAL_FROM ? Math.floor(max / 10) : 0;
  const counters = new Map<string, Counter>();
  let outage = false;

  const windowAt = (now: number) => ({ window: Math.floor(now / durationMs), elapsed: (now % durationMs) / durationMs });
  const estimate = (c: Counter, elapsed: number) => c.previous * (1 - elapsed) + c.current + c.pending;

  function counterFor(id: string, now: number): Counter {
    const { window } = windowAt(now);
    let c = counters.get(id);
    if (c && c.window !== window) {
      const previous = c.window === window - 1 ? c.current + c.pending : 0;
      if (c.pending > 0) sync(id, c, 0).catch(() => undefined); // the old window's share still counts
      c = { window, current: 0, previous, pending: 0, checkedAt: 0 };
      counters.set(id, c);
    } else if (!c) {
      if (counters.size >= MAX_TRACKED_KEYS) counters.delete(counters.keys().next().value!);
      c = { window, current: 0, previous: 0, pending: 0, checkedAt: 0 };
      counters.set(id, c);
    }
    return c;
  }

  /** Adds the counter's pending share to Redis (and asks for one more request when want = 1). */
  async function sync(id: string, c: Counter, want: 0 | 1): Promise<boolean> {
    const add = c.pending;
    c.pending = 0;
    const elapsed = (Date.now() % durationMs) / durationMs;
    try {
      const [current, previous, granted] = await call(namespace + id, c.window, (1 - elapsed).toFixed(4), add, want, max, ttlMs);
      c.current = Math.max(c.current, Number(current));
      c.previous = Number(previous);
      c.checkedAt = Date.now();
      if (outage) {
        outage = false;
        logger.info({ limit: name }, 'rate limit counting in Redis again');
      }
      return granted === 1;
    } catch (err) {
      c.pending += add; // not counted yet: try again with the next sync
      throw err;
    }
  }

  const flusher = setInterval(() => {
    const { window } = windowAt(Date.now());
    for (const [id, c] of counters) {
      if (c.pending > 0) sync(id, c, 0).catch(() => undefined);
      else if (c.window < window - 1) counters.delete(id);
    }
  }, FLUSH_MS);
  flusher.unref();

  function refuse(ctx: Ctx, c: Counter, elapsed: number): void {
    const retryAfter = Math.max(1, Math.ceil(secondsUntilRoom(c, elapsed, max, durationMs)));
    ctx.status = 429;
    ctx.set('Retry-After', String(retryAfter));
    ctx.body = errorBody(ErrorCode.RateLimited, 'too many requests; slow down', { retryAfterSeconds: retryAfter, limit: name });
  }

  return async (ctx, next) => {
    const id = key(ctx);
    if (id === false) return next();
    const now = Date.now();
    const { elapsed } = windowAt(now);
    const c = counterFor(id, now);
    if (now - c.checkedAt < FRESH_MS && c.pending < localShare && estimate(c, elapsed) + 1 <= max - localShare) {
      c.pending += 1;
      return next();
    }
    let granted: boolean;
    try {
      granted = await sync(id, c, 1);
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      if (whenRedisIsDown === 'closed') {
        throw new AppError(ErrorCode.DependencyUnavailable, 'this limit cannot be checked right now; retry shortly', { limit: name });
      }
      if (!outage) {
        outage = true;
        logger.warn({ err: (err as Error).message, limit: name }, 'rate limit counting in this process only: Redis unavailable');
      }
      granted = estimate(c, elapsed) + 1 <= max;
      if (granted) c.pending += 1;
    }
    if (!granted) {
      refuse(ctx, c, elapsed);
      return;
    }
    await next();
  };
}

/** Seconds until the sliding estimate leaves room for one more request, if none come meanwhile. */
function secondsUntilRoom(c: Counter, elapsed: number, max: number, durationMs: number): number {
  const current = c.current + c.pending;
  if (current + 1 > max) {
    // Wait for the next window, then until this window's weight has shrunk enough.
    const next = current > 0 ? Math.max(0, 1 - (max - 1) / current) : 0;
    return ((1 - elapsed + next) * durationMs) / 1000;
  }
  if (c.previous <= 0) return 0;
  const needed = 1 - (max - current - 1) / c.previous;
  return (Math.max(0, needed - elapsed) * durationMs) / 1000;
}
