import type { Redis } from 'ioredis';
import type { Config } from '../../config';
import type { Logger } from '../logging';
import { CachedVideoCatalog } from './cached-video-catalog';
import type { VideoCatalog } from './video-catalog';
import { YouTubeDataApi } from './youtube';

/**
 * The video catalog the configuration names: YouTube's Data API (YOUTUBE_API_URL,
 * YOUTUBE_API_KEY, MEDIA_TIMEOUT_MS per attempt) behind the Redis cache (YOUTUBE_CACHE_SECONDS).
 * Null without a key: adding videos is then refused, nothing else changes.
 */
export function videoCatalogFromConfig(config: Config, redis: Redis, options: { logger?: Pick<Logger, 'warn' | 'error'> } = {}): VideoCatalog | null {
  if (!config.YOUTUBE_API_KEY) return null;
  const youtube = new YouTubeDataApi({
    apiBaseUrl: config.YOUTUBE_API_URL,
    apiKey: config.YOUTUBE_API_KEY,
    timeoutMs: config.MEDIA_TIMEOUT_MS,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return new CachedVideoCatalog(youtube, redis, { ttlSeconds: config.YOUTUBE_CACHE_SECONDS, ...(options.logger ? { logger: options.logger } : {}) });
}
