import { Redis } from 'ioredis';

/**
 * A Redis connection that fails commands fast while disconnected instead of queueing them.
 * Commands issued while it first connects are queued (start-up would race otherwise); once it
 * has been ready, or its first attempt failed, a command during an outage fails at once, so a
 * request answers 503 (or fails open) in milliseconds rather than after seconds of retries.
 */
export function createRedis(url: string, options: { name: string; lazy?: boolean } = { name: 'aura' }): Redis {
  const redis = new Redis(url, {
    connectionName: options.name,
    lazyConnect: options.lazy ?? false,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  const failFast = () => {
    redis.options.enableOfflineQueue = false;
  };
  redis.once('ready', failFast);
  redis.once('error', failFast); // never connected yet, and the first attempt failed: don't queue either
  return redis;
}

/** Whether an error means Redis could not be reached (as opposed to a bad command). */
export function isRedisUnavailable(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name ?? '';
  const message = (err as { message?: string } | null)?.message ?? '';
  return /Redis|MaxRetriesPerRequest/i.test(name) || /ECONNREFUSED|Connection is closed|max retries|Stream isn't writeable/i.test(message);
}
