import { BrokenCircuitError } from 'cockatiel';
import { z } from 'zod';
import { isoDurationMs } from '../../domain/media/iso-duration';
import { isYouTubeVideoId } from '../../domain/media/youtube-ref';
import type { Logger } from '../logging';
import { outboundCircuitBreaker, type OutboundBreakerOptions } from '../resilience/outbound-policy';
import {
  VideoCatalogMisconfigured,
  VideoCatalogUnavailable,
  VideoLookupCancelled,
  VideoNotFound,
  type VideoCatalog,
  type VideoMeta,
} from './video-catalog';

export interface YouTubeSettings {
  /** https://www.googleapis.com/youtube/v3 in production; a local server in tests and on the dev stack. */
  apiBaseUrl?: string;
  /** A Google Cloud API key with the YouTube Data API v3 enabled. Never logged or quoted. */
  apiKey: string;
  /** One HTTP attempt, from connecting to the last byte of the answer (MEDIA_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Attempts per lookup when YouTube fails in a way worth retrying (5xx, timeout, network). */
  attempts?: number;
  /** Wait before the first retry; doubled for each further one (with jitter), capped at 5 s. */
  backoffMs?: number;
  breaker?: Omit<Partial<OutboundBreakerOptions>, 'isProviderFailure'>;
  /** Retry attempts and refusals that need an operator are reported here (no key in them). */
  logger?: Pick<Logger, 'warn' | 'error'>;
}

export const YOUTUBE_API_URL = 'https://www.googleapis.com/youtube/v3';
const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_ATTEMPTS = 3;
const DEFAULT_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5_000;
const DEFAULT_HALF_OPEN_MS = 30_000;
/** A rate limit without Retry-After: try again after about as long as an open breaker waits. */
const RATE_LIMIT_RETRY_AFTER_MS = 30_000;
/** Reasons Google gives when the project's quota or rate is spent (403, or 429). */
const QUOTA_REASONS = new Set(['quotaExceeded', 'dailyLimitExceeded']);
const RATE_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded']);
/** Uploads that never became (or stopped being) a playable video. */
const GONE_UPLOADS = new Set(['deleted', 'failed', 'rejected']);

/** YouTube's named thumbnail sizes, for an answer that leaves a size out. */
const THUMBNAIL_SIZES: Record<string, { width: number; height: number }> = {
  default: { width: 120, height: 90 },
  medium: { width: 320, height: 180 },
  high: { width: 480, height: 360 },
  standard: { width: 640, height: 480 },
  maxres: { width: 1280, height: 720 },
};

const regionCodes = z.array(z.string().regex(/^[A-Z]{2}$/));
const videoSchema = z.object({
  id: z.string(),
  snippet: z.object({
    title: z.string(),
    channelTitle: z.string().default(''),
    thumbnails: z
      .record(z.string(), z.object({ url: z.string(), width: z.number().int().positive().optional(), height: z.number().int().positive().optional() }))
      .default({}),
    liveBroadcastContent: z.enum(['none', 'live', 'upcoming']),
  }),
  contentDetails: z.object({
    duration: z.string().optional(),
    regionRestriction: z.object({ allowed: regionCodes.optional(), blocked: regionCodes.optional() }).optional(),
    contentRating: z.object({ ytRating: z.string().optional() }).optional(),
  }),
  status: z.object({
    embeddable: z.boolean(),
    privacyStatus: z.string(),
    uploadStatus: z.string().optional(),
  }),
});
const listSchema = z.object({ items: z.array(videoSchema) });
/** Google's error body: `{ error: { code, message, errors: [{ reason, domain, message }], status } }`. */
const googleErrorSchema = z.object({
  error: z.object({ message: z.string().optional(), errors: z.array(z.object({ reason: z.string() })).optional(), status: z.string().optional() }),
});

/** A failure of one attempt that another attempt may not meet: 5xx, network, the attempt's timeout. */
class YouTubeTransientError extends VideoCatalogUnavailable {
  override name = 'YouTubeTransientError';
}

/**
 * YouTube Data API v3, videos.list for one id (`part=snippet,contentDetails,status`, 1 quota
 * unit), over fetch with an API key.
 *
 * How YouTube's answers map:
 * - no item (unknown, deleted or private: YouTube leaves those out), or an item that is private
 *   or whose upload was deleted, failed or rejected -> VideoNotFound. Not a failure of YouTube.
 * - 5xx, a network failure, an attempt that did not answer within `timeoutMs` -> retried up to
 *   `attempts` times with exponential backoff, then VideoCatalogUnavailable.
 * - 403 quotaExceeded / dailyLimitExceeded -> VideoCatalogUnavailable with retryAfterMs until
 *   YouTube's quota resets (midnight Pacific time); 403 rateLimitExceeded or 429 ->
 *   VideoCatalogUnavailable with Retry-After or 30 s. Not retried: another call now is refused too.
 * - any other 4xx (400 keyInvalid / badRequest, 403 forbidden / accessNotConfigured /
 *   ipRefererBlocked, 404) -> VideoCatalogMisconfigured (a VideoCatalogUnavailable): our request
 *   or key is wrong, an operator must act; logged as an error, never retried.
 * - a 200 whose body is not a video list -> VideoCatalogUnavailable, not retried.
 * Every attempt runs through the circuit breaker (5 failures in 10 s open it for 30 s); all of
 * the above but VideoNotFound count as failures, so a bad key or a spent quota stops reaching
 * Google after a few calls. The caller's signal ends the lookup at once (VideoLookupCancelled,
 * not counted). The key travels only in the request URL: it is kept in a private field and cut
 * out of every message.
 */
export class YouTubeDataApi implements VideoCatalog {
  readonly #apiKey: string;
  private readonly breaker;
  private readonly apiBaseUrl: string;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly halfOpenAfterMs: number;
  private readonly logger?: Pick<Logger, 'warn' | 'error'>;

  constructor(settings: YouTubeSettings) {
    if (!settings.apiKey) throw new Error('YouTubeDataApi needs an API key');
    this.#apiKey = settings.apiKey;
    this.apiBaseUrl = (settings.apiBaseUrl ?? YOUTUBE_API_URL).replace(/\/+$/, '');
    this.timeoutMs = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.attempts = Math.max(1, settings.attempts ?? DEFAULT_ATTEMPTS);
    this.backoffMs = settings.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.halfOpenAfterMs = settings.breaker?.halfOpenAfterMs ?? DEFAULT_HALF_OPEN_MS;
    this.logger = settings.logger;
    this.breaker = outboundCircuitBreaker({
      isProviderFailure: (err) => err instanceof VideoCatalogUnavailable && !(err instanceof VideoLookupCancelled),
      ...settings.breaker,
    });
  }

  get circuitState() {
    return this.breaker.state;
  }

  async lookup(videoId: string, options: { signal?: AbortSignal } = {}): Promise<VideoMeta> {
    // Never spend quota on something that cannot be an id (callers parse with youtube-ref first).
    if (!isYouTubeVideoId(videoId)) throw new VideoNotFound(videoId);
    const { signal } = options;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw new VideoLookupCancelled(videoId);
      try {
        return await this.breaker.execute(() => this.attempt(videoId, signal));
      } catch (err) {
        if (err instanceof BrokenCircuitError) throw new VideoCatalogUnavailable('YouTube circuit is open', this.halfOpenAfterMs);
        if (!(err instanceof YouTubeTransientError) || attempt >= this.attempts) {
          if (err instanceof VideoCatalogMisconfigured) this.logger?.error({ status: err.status, reason: err.providerReason }, err.message);
          throw err;
        }
        const delay = this.backoff(attempt);
        this.logger?.warn({ videoId, attempt, delayMs: delay }, `${err.message}; retrying`);
        if (!(await sleep(delay, signal))) throw new VideoLookupCancelled(videoId);
      }
    }
  }

  private async attempt(videoId: string, signal?: AbortSignal): Promise<VideoMeta> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const attempt = signal ? AbortSignal.any([timeout, signal]) : timeout;
    const query = new URLSearchParams({ part: 'snippet,contentDetails,status', id: videoId, key: this.#apiKey });
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.apiBaseUrl}/videos?${query}`, { headers: { accept: 'application/json' }, signal: attempt });
      // The body is read under the same signal: a server that stalls mid-answer is cut too.
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw new VideoLookupCancelled(videoId);
      if (timeout.aborted) throw new YouTubeTransientError(`YouTube did not answer in time (${this.timeoutMs} ms)`);
      // undici puts the reason (ECONNREFUSED, a reset) in `cause`; never the URL, which holds the key.
      const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
      const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (err as Error).message;
      throw new YouTubeTransientError(`YouTube unreachable: ${this.masked(why)}`);
    }
    if (res.ok) return this.videoFrom(videoId, text);
    throw this.failure(res, text);
  }

  private videoFrom(videoId: string, text: string): VideoMeta {
    const parsed = listSchema.safeParse(parseJson(text));
    if (!parsed.success) throw new VideoCatalogUnavailable('YouTube answered 200 with an unexpected body');
    const item = parsed.data.items.find((v) => v.id === videoId);
    if (!item) throw new VideoNotFound(videoId);
    if (item.status.privacyStatus === 'private' || GONE_UPLOADS.has(item.status.uploadStatus ?? '')) throw new VideoNotFound(videoId);

    const live = item.snippet.liveBroadcastContent;
    const durationMs = item.contentDetails.duration === undefined ? null : isoDurationMs(item.contentDetails.duration);
    if (live === 'none' && durationMs === null) throw new VideoCatalogUnavailable('YouTube answered a video without a readable duration');
    const thumbnails = Object.entries(item.snippet.thumbnails)
      .map(([name, t]) => ({ url: t.url, width: t.width ?? THUMBNAIL_SIZES[name]?.width, height: t.height ?? THUMBNAIL_SIZES[name]?.height }))
      .filter((t): t is VideoMeta['thumbnails'][number] => t.width !== undefined && t.height !== undefined && /^https:\/\/[^\s]+$/.test(t.url))
      .sort((a, b) => b.width * b.height - a.width * a.height);
    const restriction = item.contentDetails.regionRestriction;
    return {
      id: item.id,
      title: item.snippet.title,
      channelTitle: item.snippet.channelTitle,
      durationMs: live === 'none' ? durationMs! : 0,
      thumbnails,
      embeddable: item.status.embeddable,
      regionsAllowed: restriction?.allowed ?? null,
      regionsBlocked: restriction?.blocked ?? null,
      liveBroadcastContent: live,
      ageRestricted: item.contentDetails.contentRating?.ytRating === 'ytAgeRestricted',
    };
  }

  private failure(res: Response, text: string): VideoCatalogUnavailable {
    const body = googleErrorSchema.safeParse(parseJson(text));
    const reason = body.success ? (body.data.error.errors?.[0]?.reason ?? body.data.error.status) : undefined;
    const said = body.success && body.data.error.message ? `: ${this.masked(stripTags(body.data.error.message))}` : '';
    const what = `YouTube answered ${res.status}${reason ? ` ${reason}` : ''}`;
    if (res.status >= 500) return new YouTubeTransientError(what);
    if (QUOTA_REASONS.has(reason ?? '')) return new VideoCatalogUnavailable(`${what} (the daily quota is spent)`, msUntilQuotaReset(new Date()));
    if (res.status === 429 || RATE_REASONS.has(reason ?? '')) return new VideoCatalogUnavailable(what, retryAfterMs(res) ?? RATE_LIMIT_RETRY_AFTER_MS);
    return new VideoCatalogMisconfigured(`${what}${said} (check YOUTUBE_API_KEY and the project's API access)`, res.status, reason);
  }

  private backoff(attempt: number): number {
    const full = Math.min(this.backoffMs * 2 ** (attempt - 1), MAX_BACKOFF_MS);
    return Math.round(full / 2 + (Math.random() * full) / 2); // jittered, so many callers do not retry in step
  }

  /** `text` with the API key cut out, should a message ever quote it. */
  private masked(text: string): string {
    return text.split(this.#apiKey).join('[api key]');
  }
}

/** YouTube's daily quota resets at midnight Pacific time. */
export function msUntilQuotaReset(now: Date): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: 'America/Los_Angeles', hourCycle: 'h23', hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(now);
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const elapsedMs = (part('hour') * 3600 + part('minute') * 60 + part('second')) * 1000 + now.getUTCMilliseconds();
  return Math.max(60_000, 86_400_000 - elapsedMs);
}

function retryAfterMs(res: Response): number | undefined {
  const header = res.headers.get('retry-after');
  if (!header || !/^\d{1,6}$/.test(header)) return undefined;
  return Number(header) * 1000;
}

/** Google's quota message carries an HTML link. */
function stripTags(text: string): string {
  return text.replace(/<[^>]*>/g, '').slice(0, 200);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Waits `ms`; false when `signal` fired first. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
