import type { Redis } from 'ioredis';
import type { Middleware } from 'koa';
import ratelimit from 'koa-ratelimit';
import { ErrorCode } from '../../domain/errors';
import type { ApiState } from './context';
import type { Logger } from '../../platform/logging';
import { isRedisUnavailable } from '../../platform/redis';
import { errorBody } from './errors';

type Ctx = Parameters<Middleware<ApiState>>[0];

interface LimitOptions {
  redis: Redis;
  /** Keeps the counters of different limits apart. */
  name: string;
  max: number;
  durationMs: number;
  key: (ctx: Ctx) => string | false;
  logger: Logger;
}

/** A sliding-window limit in Redis (shared by every API process), answering 429 with Retry-After. */
export function rateLimit({ redis, name, max, durationMs, key, logger }: LimitOptions): Middleware<ApiState> {
  // onLimited exists in koa-ratelimit 6 but not in its published types.
  const options = {
    driver: 'redis',
    db: redis,
    namespace: `aura:ratelimit:${name}`,
    duration: durationMs,
    max,
    id: (ctx: Ctx) => key(ctx),
    onLimited: (ctx: Ctx) => {
      const retryAfter = Math.max(1, Number(ctx.response.get('Retry-After')) || 1);
      ctx.set('Retry-After', String(retryAfter));
      ctx.body = errorBody(ErrorCode.RateLimited, 'too many requests; slow down', { retryAfterSeconds: retryAfter, limit: name });
    },
  };
  const limit = ratelimit(options as Parameters<typeof ratelimit>[0]) as unknown as Middleware<ApiState>;

  // Fails open: a Redis outage must not take every route down with it. Money is protected by
  // the ledger's idempotency keys, not by rate limits; /readyz reports Redis as down meanwhile.
  return async (ctx, next) => {
    let passedThrough = false;
    try {
      await limit(ctx, async () => {
        passedThrough = true;
        await next();
      });
    } catch (err) {
      if (passedThrough || !isRedisUnavailable(err)) throw err;
      logger.warn({ err: (err as Error).message, limit: name }, 'rate limiter unavailable; letting the request through');
      await next();
    }
  };
}
