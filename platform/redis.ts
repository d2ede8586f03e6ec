import { Redis } from 'ioredis';

/** A Redis connection that fails commands fast while disconnected instead of queueing them forever. */
export function createRedis(url: string, options: { name: string; lazy?: boolean } = { name: 'aura' }): Redis {
  return new Redis(url, {
    connectionName: options.name,
    lazyConnect: options.lazy ?? false,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
}

/** Whether an error means Redis could not be reached (as opposed to a bad command). */
export function isRedisUnavailable(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name ?? '';
  const message = (err as { message?: string } | null)?.message ?? '';
  return /Redis|MaxRetriesPerRequest/i.test(name) || /ECONNREFUSED|Connection is closed|max retries/i.test(message);
}
