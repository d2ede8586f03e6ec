import type { Redis } from 'ioredis';
import { z } from 'zod';
import { isYouTubeVideoId } from '../../domain/media/youtube-ref';
import type { Logger } from '../logging';
import { VideoLookupCancelled, VideoNotFound, type VideoCatalog, type VideoMeta } from './video-catalog';

export interface CachedVideoCatalogSettings {
  /** How long a video's metadata is kept (YOUTUBE_CACHE_SECONDS). */
  ttlSeconds: number;
  /** How long "no such video" is kept: short, so a video made public soon after shows up. */
  notFoundTtlSeconds?: number;
  /** Redis key prefix; tests use their own. */
  keyPrefix?: string;
  /** A cache read or write that takes longer is given up (the lookup goes on without the cache). */
  redisTimeoutMs?: number;
  logger?: Pick<Logger, 'warn'>;
}

const DEFAULT_NOT_FOUND_TTL_SECONDS = 60;
const DEFAULT_KEY_PREFIX = 'aura:youtube:video:v1:';
/** Redis answers in well under a millisecond; a cache that takes longer than this is not saving time. */
const DEFAULT_REDIS_TIMEOUT_MS = 200;
/** One warning per this long while Redis is failing, not one per lookup. */
const WARN_INTERVAL_MS = 10_000;

const cachedMetaSchema = z.object({
  id: z.string(),
  title: z.string(),
  channelTitle: z.string(),
  durationMs: z.number().int().min(0),
  thumbnails: z.array(z.object({ url: z.string(), width: z.number(), height: z.number() })),
  embeddable: z.boolean(),
  regionsAllowed: z.array(z.string()).nullable(),
  regionsBlocked: z.array(z.string()).nullable(),
  liveBroadcastContent: z.enum(['none', 'live', 'upcoming']),
  ageRestricted: z.boolean(),
}) satisfies z.ZodType<VideoMeta>;
const cachedEntrySchema = z.union([z.object({ video: cachedMetaSchema }), z.object({ notFound: z.literal(true) })]);

interface Flight {
  result: Promise<VideoMeta>;
  /** Ends the upstream call when every caller waiting on it has given up. */
  controller: AbortController;
  waiters: number;
  settled: boolean;
}

/**
 * A video catalog that asks the one behind it (YouTube) at most once per video per TTL:
 * - Redis holds each answer under `<prefix><id>` for `ttlSeconds`, and "not found" for a short
 *   `notFoundTtlSeconds`. "Unavailable" is never kept: the next lookup tries again.
 * - Concurrent lookups of one id in this process share one flight (one Redis read, at most one
 *   upstream call). Across API processes each may make its own first call; the TTL makes that
 *   a few calls per video per day, not one per request.
 * - Redis is only a cache: a read or write that fails or takes longer than `redisTimeoutMs`
 *   is skipped and the lookup goes upstream, so the cache being down never fails a lookup. An
 *   entry that does not read back as a video (an older shape) counts as a miss.
 * - A caller's signal ends its own wait; the shared upstream call is cancelled only when every
 *   caller waiting on it has given up.
 */
export class CachedVideoCatalog implements VideoCatalog {
  private readonly flights = new Map<string, Flight>();
  private readonly keyPrefix: string;
  private readonly notFoundTtlSeconds: number;
  private readonly redisTimeoutMs: number;
  private lastWarnAt = 0;

  constructor(
    private readonly upstream: VideoCatalog,
    private readonly redis: Pick<Redis, 'get' | 'set'>,
    private readonly settings: CachedVideoCatalogSettings,
  ) {
    this.keyPrefix = settings.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.notFoundTtlSeconds = Math.min(settings.notFoundTtlSeconds ?? DEFAULT_NOT_FOUND_TTL_SECONDS, settings.ttlSeconds);
    this.redisTimeoutMs = settings.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
  }

  async lookup(videoId: string, options: { signal?: AbortSignal } = {}): Promise<VideoMeta> {
    const { signal } = options;
    // Nothing that cannot be an id becomes a Redis key (callers parse with youtube-ref first).
    if (!isYouTubeVideoId(videoId)) throw new VideoNotFound(videoId);
    if (signal?.aborted) throw new VideoLookupCancelled(videoId);
    const flight = this.flights.get(videoId) ?? this.start(videoId);
    flight.waiters += 1;
    try {
      return await untilAborted(flight.result, signal, () => new VideoLookupCancelled(videoId));
    } finally {
      flight.waiters -= 1;
      if (flight.waiters === 0 && !flight.settled) {
        flight.controller.abort();
        // A later caller starts afresh rather than joining a cancelled flight.
        if (this.flights.get(videoId) === flight) this.flights.delete(videoId);
      }
    }
  }

  private start(videoId: string): Flight {
    const controller = new AbortController();
    // Marked settled before any waiter resumes (they await `result`), so a waiter's exit never
    // cancels a finished flight. The callback runs after `flight` exists: at least a tick later.
    const result = this.load(videoId, controller.signal).finally(() => {
      flight.settled = true;
      if (this.flights.get(videoId) === flight) this.flights.delete(videoId);
    });
    result.catch(() => undefined); // each waiter gets the error; this copy is not left unhandled
    const flight: Flight = { result, controller, waiters: 0, settled: false };
    this.flights.set(videoId, flight);
    return flight;
  }

  private async load(videoId: string, signal: AbortSignal): Promise<VideoMeta> {
    const key = this.keyPrefix + videoId;
    const cached = await this.read(key);
    if (cached && 'video' in cached) return cached.video;
    if (cached) throw new VideoNotFound(videoId);
    try {
      const video = await this.upstream.lookup(videoId, { signal });
      await this.write(key, { video }, this.settings.ttlSeconds);
      return video;
    } catch (err) {
      if (err instanceof VideoNotFound) await this.write(key, { notFound: true }, this.notFoundTtlSeconds);
      throw err;
    }
  }

  private async read(key: string): Promise<z.infer<typeof cachedEntrySchema> | undefined> {
    try {
      const raw = await withTimeout(this.redis.get(key), this.redisTimeoutMs);
      if (raw === null) return undefined;
      const parsed = cachedEntrySchema.safeParse(parseJson(raw));
      return parsed.success ? parsed.data : undefined;
    } catch (err) {
      this.warn(err, 'video cache read failed; asking YouTube');
      return undefined;
    }
  }

  private async write(key: string, entry: z.infer<typeof cachedEntrySchema>, ttlSeconds: number): Promise<void> {
    try {
      await withTimeout(this.redis.set(key, JSON.stringify(entry), 'EX', ttlSeconds), this.redisTimeoutMs);
    } catch (err) {
      this.warn(err, 'video cache write failed');
    }
  }

  private warn(err: unknown, message: string): void {
    const now = Date.now();
    if (now - this.lastWarnAt < WARN_INTERVAL_MS) return;
    this.lastWarnAt = now;
    this.settings.logger?.warn({ err: (err as Error).message }, message);
  }
}

/** `promise`, or a rejection after `ms` (the promise itself goes on; its outcome is dropped). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
    void promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err as Error);
      },
    );
  });
}

/** `promise`, or the error `cancelled()` makes as soon as `signal` fires (the promise goes on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, cancelled: () => Error): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
