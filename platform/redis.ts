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
