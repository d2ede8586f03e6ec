import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { CircuitState } from 'cockatiel';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../config';
import { DEV_SECRETS } from '../../config/dev-secrets';
import { CachedVideoCatalog, type CachedVideoCatalogSettings } from '../../platform/media/cached-video-catalog';
import { videoCatalogFromConfig } from '../../platform/media/from-config';
import {
  VideoCatalogMisconfigured,
  VideoCatalogUnavailable,
  VideoLookupCancelled,
  VideoNotFound,
  type VideoCatalog,
  type VideoMeta,
} from '../../platform/media/video-catalog';
import { msUntilQuotaReset, YouTubeDataApi, type YouTubeSettings } from '../../platform/media/youtube';
import { createRedis } from '../../platform/redis';
import { freePort } from '../support/ports';
import { startFakeYouTube, type FakeVideoInput, type FakeYouTube } from '../support/fake-youtube';

/**
 * The YouTube Data API client against a local server speaking videos.list's wire format
 * (test/support/fake-youtube.ts), over real HTTP on loopback, and the Redis cache in front of it
 * against the test run's real Redis. Retries wait 1-2 ms here instead of 200 ms.
 */
let fake: FakeYouTube;
let redis: Redis;

beforeAll(async () => {
  fake = await startFakeYouTube();
  redis = createRedis(process.env.REDIS_URL!, { name: 'test-youtube' });
});

afterAll(async () => {
  await fake?.close();
  redis?.disconnect();
});

beforeEach(() => fake.controls.clearCalls());

const youtube = (settings: Partial<YouTubeSettings> = {}) =>
  new YouTubeDataApi({ apiBaseUrl: fake.url, apiKey: fake.apiKey, backoffMs: 2, timeoutMs: 5_000, ...settings });

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** A fresh 11-character id, so no test sees another's video or cache entry. */
function newId(): string {
  return Array.from(randomBytes(11), (b) => ID_CHARS[b % 64]).join('');
}

function video(input: Partial<FakeVideoInput> = {}): string {
  const id = input.id ?? newId();
  fake.controls.addVideo({ title: 'Rick Astley - Never Gonna Give You Up (Official Music Video)', channelTitle: 'Rick Astley', duration: 'PT3M33S', ...input, id });
  return id;
}

const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (err: unknown) => err as Error);

describe('reading a video', () => {
  it('maps videos.list to the video’s metadata, asking with the key for the three parts', async () => {
    const id = video();
    const meta = await youtube().lookup(id);
    expect(meta).toEqual<VideoMeta>({
      id,
      title: 'Rick Astley - Never Gonna Give You Up (Official Music Video)',
      channelTitle: 'Rick Astley',
      durationMs: 213_000,
      thumbnails: [
        { url: `https://i.ytimg.com/vi/${id}/maxresdefault.jpg`, width: 1280, height: 720 },
        { url: `https://i.ytimg.com/vi/${id}/sddefault.jpg`, width: 640, height: 480 },
        { url: `https://i.ytimg.com/vi/${id}/hqdefault.jpg`, width: 480, height: 360 },
        { url: `https://i.ytimg.com/vi/${id}/mqdefault.jpg`, width: 320, height: 180 },
        { url: `https://i.ytimg.com/vi/${id}/default.jpg`, width: 120, height: 90 },
      ],
      embeddable: true,
      regionsAllowed: null,
      regionsBlocked: null,
      liveBroadcastContent: 'none',
      ageRestricted: false,
    });
    expect(fake.controls.calls).toEqual([
      { path: '/youtube/v3/videos', query: { part: 'snippet,contentDetails,status', id }, ids: [id], keyPresent: true, keyValid: true },
    ]);
  });

  it.each([
    ['PT19S', 19_000],
    ['PT1H2M3S', 3_723_000],
    ['PT1H', 3_600_000],
    ['P1DT2H', 93_600_000],
    ['PT0S', 0],
  ])('reads a %s video as %i ms', async (duration, durationMs) => {
    await expect(youtube().lookup(video({ duration }))).resolves.toMatchObject({ durationMs });
  });

  it('keeps the id’s case: two ids differing only in case are two videos', async () => {
    const lower = `abcdefghij${newId().slice(0, 1)}`;
    const upper = lower.toUpperCase();
    video({ id: lower, title: 'lower' });
    video({ id: upper, title: 'upper' });
    await expect(youtube().lookup(upper)).resolves.toMatchObject({ id: upper, title: 'upper' });
    await expect(youtube().lookup(lower)).resolves.toMatchObject({ id: lower, title: 'lower' });
  });

  it('reports where a video may play, whether it may be embedded, and an age restriction', async () => {
    const client = youtube();
    await expect(client.lookup(video({ regionsAllowed: ['US', 'CA', 'GB'] }))).resolves.toMatchObject({ regionsAllowed: ['US', 'CA', 'GB'], regionsBlocked: null });
    await expect(client.lookup(video({ regionsBlocked: ['DE', 'RU'] }))).resolves.toMatchObject({ regionsAllowed: null, regionsBlocked: ['DE', 'RU'] });
    // An empty allowed list is YouTube's "blocked everywhere": kept as it is, not read as "no restriction".
    await expect(client.lookup(video({ regionsAllowed: [] }))).resolves.toMatchObject({ regionsAllowed: [], regionsBlocked: null });
    await expect(client.lookup(video({ embeddable: false }))).resolves.toMatchObject({ embeddable: false });
    await expect(client.lookup(video({ ageRestricted: true }))).resolves.toMatchObject({ ageRestricted: true, embeddable: true });
  });

  it('reads a live or upcoming broadcast as having no length', async () => {
    const client = youtube();
    await expect(client.lookup(video({ live: 'live' }))).resolves.toMatchObject({ liveBroadcastContent: 'live', durationMs: 0 });
    await expect(client.lookup(video({ live: 'upcoming' }))).resolves.toMatchObject({ liveBroadcastContent: 'upcoming', durationMs: 0 });
  });

  it('lists only the thumbnails an older, SD upload has, largest first', async () => {
    const meta = await youtube().lookup(video({ hdThumbnails: false }));
    expect(meta.thumbnails.map((t) => [t.width, t.height])).toEqual([
      [480, 360],
      [320, 180],
      [120, 90],
    ]);
  });

  it('keeps an unlisted video (anyone with the link may watch it)', async () => {
    await expect(youtube().lookup(video({ privacyStatus: 'unlisted' }))).resolves.toMatchObject({ embeddable: true });
  });
});

describe('a video that is not there', () => {
  it('is VideoNotFound: unknown, removed or private (YouTube leaves those out of items)', async () => {
    const client = youtube();
    const removed = video();
    fake.controls.removeVideo(removed);
    for (const id of [newId(), removed, video({ privacyStatus: 'private' })]) {
      const err = await failure(client.lookup(id));
      expect(err).toBeInstanceOf(VideoNotFound);
      expect(err).toMatchObject({ videoId: id });
    }
    expect(fake.controls.calls).toHaveLength(3); // answered at once, not retried
  });

  it('is refused without asking YouTube when the id cannot be one', async () => {
    for (const id of ['short', 'https://youtu.be/dQw4w9WgXcQ', 'dQw4w9WgXc!', '']) {
      await expect(youtube().lookup(id)).rejects.toBeInstanceOf(VideoNotFound);
    }
    expect(fake.controls.calls).toHaveLength(0);
  });

  it('does not trip the circuit breaker', async () => {
    const client = youtube({ attempts: 1 });
    for (let i = 0; i < 6; i++) await expect(client.lookup(newId())).rejects.toBeInstanceOf(VideoNotFound);
    expect(client.circuitState).toBe(CircuitState.Closed);
    expect(fake.controls.calls).toHaveLength(6);
  });
});

describe('failures worth retrying', () => {
  it.each([500, 502, 503])('retries %i with backoff and answers once YouTube recovers', async (status) => {
    const id = video();
    fake.controls.failNext(2, status);
    await expect(youtube().lookup(id)).resolves.toMatchObject({ id });
    expect(fake.controls.callsFor(id)).toBe(3);
  });

  it('gives up after the last attempt: VideoCatalogUnavailable', async () => {
    const id = video();
    fake.controls.failNext(3, 503);
    const err = await failure(youtube().lookup(id));
    expect(err).toBeInstanceOf(VideoCatalogUnavailable);
    expect(err).not.toBeInstanceOf(VideoCatalogMisconfigured);
    expect(err!.message).toBe('YouTube answered 503 backendError');
    expect(fake.controls.callsFor(id)).toBe(3);
  });

  it('retries a connection closed without an answer', async () => {
    const id = video();
    fake.controls.dropNext(1);
    await expect(youtube().lookup(id)).resolves.toMatchObject({ id });
    expect(fake.controls.callsFor(id)).toBe(2);
  });

  it('cuts an attempt YouTube does not answer at the timeout, then retries it', async () => {
    const id = video();
    fake.controls.stallNext(1);
    await expect(youtube({ timeoutMs: 200 }).lookup(id)).resolves.toMatchObject({ id });
    expect(fake.controls.callsFor(id)).toBe(2);

    fake.controls.stallNext(2);
    const err = await failure(youtube({ timeoutMs: 200, attempts: 2 }).lookup(id));
    expect(err).toBeInstanceOf(VideoCatalogUnavailable);
    expect(err!.message).toBe('YouTube did not answer in time (200 ms)');
    expect(fake.controls.callsFor(id)).toBe(4);
  });

  it('ends the lookup when the caller’s signal fires, without waiting for the attempt’s timeout', async () => {
    const id = video();
    fake.controls.stallNext(1);
    const client = youtube({ timeoutMs: 60_000 });
    const controller = new AbortController();
    const arrived = fake.controls.nextCall();
    const settled = failure(client.lookup(id, { signal: controller.signal }));
    await arrived;
    controller.abort();
    expect(await settled).toBeInstanceOf(VideoLookupCancelled);
    expect(fake.controls.callsFor(id)).toBe(1); // not retried
    expect(client.circuitState).toBe(CircuitState.Closed);
  });

  it('ends the wait between attempts when the caller’s signal fires', async () => {
    const id = video();
    fake.controls.failNext(1, 503);
    const controller = new AbortController();
    const arrived = fake.controls.nextCall();
    const settled = failure(youtube({ backoffMs: 60_000 }).lookup(id, { signal: controller.signal }));
    await arrived;
    controller.abort();
    expect(await settled).toBeInstanceOf(VideoLookupCancelled);
    expect(fake.controls.callsFor(id)).toBe(1);
  });
});

describe('quota and refusals', () => {
  it('does not retry a spent daily quota, and says when it comes back (midnight Pacific)', async () => {
    const id = video();
    fake.controls.failNext(1, 403, 'quotaExceeded');
    const err = (await failure(youtube().lookup(id))) as VideoCatalogUnavailable;
    expect(err).toBeInstanceOf(VideoCatalogUnavailable);
    expect(err).not.toBeInstanceOf(VideoCatalogMisconfigured);
    expect(err.message).toBe('YouTube answered 403 quotaExceeded (the daily quota is spent)');
    expect(err.retryAfterMs).toBeGreaterThanOrEqual(60_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(86_400_000);
    expect(fake.controls.callsFor(id)).toBe(1);
  });

  it('counts the hours to the quota reset in Pacific time', () => {
    expect(msUntilQuotaReset(new Date('2026-01-15T08:00:00Z'))).toBe(86_400_000); // midnight PST (UTC-8): a fresh day
    expect(msUntilQuotaReset(new Date('2026-01-15T07:00:00Z'))).toBe(3_600_000); // 23:00 PST
    expect(msUntilQuotaReset(new Date('2026-01-15T20:00:00Z'))).toBe(12 * 3_600_000); // 12:00 PST
    expect(msUntilQuotaReset(new Date('2026-07-15T19:00:00Z'))).toBe(12 * 3_600_000); // 12:00 PDT (UTC-7)
    expect(msUntilQuotaReset(new Date('2026-07-16T06:59:30Z'))).toBe(60_000); // 30 s before: at least a minute
  });

  it.each([
    [403, 'rateLimitExceeded'],
    [429, 'rateLimitExceeded'],
  ])('does not retry a rate limit (%i %s): unavailable, back in 30 s', async (status, reason) => {
    const id = video();
    fake.controls.failNext(1, status, reason);
    await expect(youtube().lookup(id)).rejects.toMatchObject({ name: 'VideoCatalogUnavailable', retryAfterMs: 30_000 });
    expect(fake.controls.callsFor(id)).toBe(1);
  });

  it('reports a key YouTube refuses as misconfiguration, once, never quoting the key', async () => {
    const id = video();
    const logged: unknown[] = [];
    const logger = { warn: (...args: unknown[]) => logged.push(args), error: (...args: unknown[]) => logged.push(args) };
    const stranger = 'AIzaSyWrongKey-abcdefghijklmnopqrstuvwx';
    const err = await failure(youtube({ apiKey: stranger, logger }).lookup(id));
    expect(err).toBeInstanceOf(VideoCatalogMisconfigured);
    expect(err).toBeInstanceOf(VideoCatalogUnavailable); // to a user, just unavailable
    expect(err).toMatchObject({ status: 400, providerReason: 'keyInvalid' });
    expect(err!.message).toBe("YouTube answered 400 keyInvalid: API key not valid. Please pass a valid API key. (check YOUTUBE_API_KEY and the project's API access)");
    expect(fake.controls.calls).toEqual([expect.objectContaining({ keyPresent: true, keyValid: false })]);
    expect(logged).toHaveLength(1);
    expect(JSON.stringify(logged) + err!.stack + JSON.stringify(err)).not.toContain(stranger);
  });

  it.each([
    [403, 'accessNotConfigured'],
    [403, 'forbidden'],
    [404, 'notFound'],
  ])('reports %i %s as misconfiguration, not retried', async (status, reason) => {
    const id = video();
    fake.controls.failNext(1, status, reason);
    await expect(youtube().lookup(id)).rejects.toMatchObject({ name: 'VideoCatalogMisconfigured', status, providerReason: reason });
    expect(fake.controls.callsFor(id)).toBe(1);
  });

  it('treats a 200 that is not a video list as unavailable', async () => {
    const notYouTube = await startPlainServer('<html>captive portal</html>');
    try {
      const err = await failure(new YouTubeDataApi({ apiBaseUrl: notYouTube.url, apiKey: fake.apiKey }).lookup(newId()));
      expect(err).toBeInstanceOf(VideoCatalogUnavailable);
      expect(err!.message).toBe('YouTube answered 200 with an unexpected body');
    } finally {
      await notYouTube.close();
    }
  });
});

describe('the circuit breaker', () => {
  it('opens after 5 failed attempts in 10 s, then fails fast without reaching YouTube', async () => {
    const id = video();
    const client = youtube({ attempts: 3 });
    fake.controls.failNext(5, 503);
    await expect(client.lookup(id)).rejects.toThrow('YouTube answered 503 backendError'); // 3 attempts
    await expect(client.lookup(id)).rejects.toThrow('YouTube circuit is open'); // opened by its 2nd attempt: no 3rd
    expect(client.circuitState).toBe(CircuitState.Open);
    expect(fake.controls.callsFor(id)).toBe(5);

    const err = (await failure(client.lookup(id))) as VideoCatalogUnavailable;
    expect(err).toBeInstanceOf(VideoCatalogUnavailable);
    expect(err.retryAfterMs).toBe(30_000);
    expect(fake.controls.callsFor(id)).toBe(5);
  });

  it('counts a spent quota, so Google stops being asked for a while', async () => {
    const id = video();
    const client = youtube({ attempts: 1 });
    fake.controls.failNext(5, 403, 'quotaExceeded');
    for (let i = 0; i < 5; i++) await expect(client.lookup(id)).rejects.toThrow(/quotaExceeded/);
    await expect(client.lookup(id)).rejects.toThrow('YouTube circuit is open');
    expect(fake.controls.callsFor(id)).toBe(5);
  });

  it('lets a trial call through after the half-open wait, and closes when it succeeds', async () => {
    const id = video();
    const client = youtube({ attempts: 1, breaker: { halfOpenAfterMs: 50 } });
    fake.controls.failNext(5, 500);
    for (let i = 0; i < 5; i++) await expect(client.lookup(id)).rejects.toBeInstanceOf(VideoCatalogUnavailable);
    expect(client.circuitState).toBe(CircuitState.Open);
    await untilTrue(async () => (await client.lookup(id).then(() => true, () => false)));
    expect(client.circuitState).toBe(CircuitState.Closed);
  });
});

describe('the API key', () => {
  it('never appears in an error, a log line or the client itself', async () => {
    const secret = 'AIzaSySecretKey-Never-Log-0123456789abc';
    const logged: unknown[] = [];
    const logger = { warn: (...args: unknown[]) => logged.push(args), error: (...args: unknown[]) => logged.push(args) };
    const dead = `http://127.0.0.1:${await freePort()}/youtube/v3`;
    const unreachable = new YouTubeDataApi({ apiBaseUrl: dead, apiKey: secret, backoffMs: 1, logger });
    const stalled = new YouTubeDataApi({ apiBaseUrl: fake.url, apiKey: secret, timeoutMs: 100, attempts: 1, logger });
    fake.controls.stallNext(1);

    const errors = [await failure(unreachable.lookup(newId())), await failure(stalled.lookup(video()))];
    expect(errors[0]!.message).toMatch(/^YouTube unreachable: ECONNREFUSED$/);
    expect(errors[1]!.message).toMatch(/did not answer in time/);
    expect(logged.length).toBeGreaterThanOrEqual(2); // the retries of the unreachable one
    const everything = [JSON.stringify(logged), ...errors.flatMap((e) => [e!.message, e!.stack, JSON.stringify(e)]), JSON.stringify(unreachable), String(unreachable)];
    for (const text of everything) expect(text).not.toContain(secret);
  });
});

describe('the cache', () => {
  const prefix = `test:youtube:${randomBytes(4).toString('hex')}:`;
  const cached = (upstream: VideoCatalog = youtube(), settings: Partial<CachedVideoCatalogSettings> = {}, client: Redis = redis) =>
    new CachedVideoCatalog(upstream, client, { ttlSeconds: 3600, keyPrefix: prefix, ...settings });

  it('asks YouTube once per video: the second lookup, even from another process, is read from Redis', async () => {
    const id = video();
    const first = await cached().lookup(id);
    expect(await cached().lookup(id)).toEqual(first);
    expect(await cached().lookup(id)).toEqual(first);
    expect(fake.controls.callsFor(id)).toBe(1);
    const ttl = await redis.ttl(prefix + id);
    expect(ttl).toBeGreaterThan(3500);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it('makes one upstream call for 50 concurrent lookups of one video', async () => {
    const id = video();
    fake.controls.failNext(1, 503); // the one flight retries; nobody starts another meanwhile
    const catalog = cached();
    const all = await Promise.all(Array.from({ length: 50 }, () => catalog.lookup(id)));
    expect(new Set(all.map((v) => JSON.stringify(v))).size).toBe(1);
    expect(fake.controls.callsFor(id)).toBe(2);
  });

  it('keeps "not found" briefly, and asks again once that has expired', async () => {
    const id = newId();
    const catalog = cached(youtube(), { notFoundTtlSeconds: 30 });
    await expect(catalog.lookup(id)).rejects.toBeInstanceOf(VideoNotFound);
    await expect(catalog.lookup(id)).rejects.toBeInstanceOf(VideoNotFound);
    expect(fake.controls.callsFor(id)).toBe(1);
    const ttl = await redis.ttl(prefix + id);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30);

    video({ id }); // made public since
    await redis.del(prefix + id); // the entry's expiry
    await expect(catalog.lookup(id)).resolves.toMatchObject({ id });
    expect(fake.controls.callsFor(id)).toBe(2);
  });

  it('does not keep "unavailable": the next lookup asks again', async () => {
    const id = video();
    fake.controls.failNext(1, 403, 'quotaExceeded');
    const catalog = cached();
    await expect(catalog.lookup(id)).rejects.toBeInstanceOf(VideoCatalogUnavailable);
    await expect(catalog.lookup(id)).resolves.toMatchObject({ id });
    expect(fake.controls.callsFor(id)).toBe(2);
  });

  it('reads an entry it cannot understand as a miss, and replaces it', async () => {
    const id = video();
    await redis.set(prefix + id, JSON.stringify({ video: { id, title: 'an older shape' } }), 'EX', 60);
    await expect(cached().lookup(id)).resolves.toMatchObject({ id, durationMs: 213_000 });
    await expect(cached().lookup(id)).resolves.toMatchObject({ id, durationMs: 213_000 });
    expect(fake.controls.callsFor(id)).toBe(1);
  });

  it('answers from YouTube when Redis is down', async () => {
    const dead = createRedis(`redis://127.0.0.1:${await freePort()}/0`, { name: 'test-youtube-dead' });
    dead.on('error', () => undefined);
    try {
      const id = video();
      const catalog = cached(youtube(), {}, dead);
      await expect(catalog.lookup(id)).resolves.toMatchObject({ id });
      await expect(catalog.lookup(id)).resolves.toMatchObject({ id });
      await expect(catalog.lookup(newId())).rejects.toBeInstanceOf(VideoNotFound);
      expect(fake.controls.callsFor(id)).toBe(2); // nothing kept, nothing failed
    } finally {
      dead.disconnect();
    }
  });

  it('answers from YouTube when Redis accepts connections but never answers', async () => {
    const silent = await startSilentServer();
    const stalled = createRedis(`redis://127.0.0.1:${silent.port}/0`, { name: 'test-youtube-stalled' });
    stalled.on('error', () => undefined);
    const logged: unknown[] = [];
    try {
      const id = video();
      const catalog = cached(youtube(), { redisTimeoutMs: 100, logger: { warn: (...args: unknown[]) => logged.push(args) } }, stalled);
      await expect(catalog.lookup(id)).resolves.toMatchObject({ id });
      await expect(catalog.lookup(id)).resolves.toMatchObject({ id });
      expect(fake.controls.callsFor(id)).toBe(2);
      expect(logged).toHaveLength(1); // one warning, not one per lookup
    } finally {
      stalled.disconnect();
      await silent.close();
    }
  });

  it('lets one caller give up without cancelling the lookup others wait for; cancels it when all have', async () => {
    const upstream = new HeldCatalog();
    const catalog = cached(upstream);
    const id = newId();
    const quitter = new AbortController();
    const first = failure(catalog.lookup(id, { signal: quitter.signal }));
    const second = catalog.lookup(id);
    await upstream.called;
    quitter.abort();
    expect(await first).toBeInstanceOf(VideoLookupCancelled);
    expect(upstream.signal!.aborted).toBe(false);
    upstream.answer(metaFor(id));
    await expect(second).resolves.toMatchObject({ id });
    expect(upstream.calls).toBe(1);

    const lonely = new HeldCatalog();
    const other = newId();
    const controller = new AbortController();
    const settled = failure(cached(lonely).lookup(other, { signal: controller.signal }));
    await lonely.called;
    controller.abort();
    expect(await settled).toBeInstanceOf(VideoLookupCancelled);
    expect(lonely.signal!.aborted).toBe(true);
  });
});

describe('from configuration', () => {
  const configWith = (env: Record<string, string>) => loadConfig({ ...DEV_SECRETS, REDIS_URL: process.env.REDIS_URL, ...env });

  it('builds the cached YouTube client from the settings', async () => {
    const catalog = videoCatalogFromConfig(configWith({ YOUTUBE_API_URL: fake.url, YOUTUBE_API_KEY: fake.apiKey, MEDIA_TIMEOUT_MS: '5000' }), redis);
    const id = video();
    try {
      await expect(catalog!.lookup(id)).resolves.toMatchObject({ id, durationMs: 213_000 });
      await expect(catalog!.lookup(id)).resolves.toMatchObject({ id });
      expect(fake.controls.callsFor(id)).toBe(1);
    } finally {
      await redis.del(`aura:youtube:video:v1:${id}`);
    }
  });

  it('has no catalog without an API key', () => {
    expect(videoCatalogFromConfig(configWith({ YOUTUBE_API_URL: fake.url }), redis)).toBeNull();
  });
});

/** An upstream that answers when the test says so, recording the signal it was handed. */
class HeldCatalog implements VideoCatalog {
  calls = 0;
  signal?: AbortSignal;
  private resolve!: (meta: VideoMeta) => void;
  private arrived!: () => void;
  readonly called = new Promise<void>((resolve) => (this.arrived = resolve));

  lookup(_videoId: string, options: { signal?: AbortSignal } = {}): Promise<VideoMeta> {
    this.calls += 1;
    this.signal = options.signal;
    this.arrived();
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      options.signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
    });
  }

  answer(meta: VideoMeta): void {
    this.resolve(meta);
  }
}

function metaFor(id: string): VideoMeta {
  return {
    id,
    title: 'Me at the zoo',
    channelTitle: 'jawed',
    durationMs: 19_000,
    thumbnails: [],
    embeddable: true,
    regionsAllowed: null,
    regionsBlocked: null,
    liveBroadcastContent: 'none',
    ageRestricted: false,
  };
}

/** A TCP server that accepts connections and never writes a byte: a stalled Redis. */
async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An HTTP server answering every request 200 with `body`. */
async function startPlainServer(body: string): Promise<{ url: string; close(): Promise<void> }> {
  const { createServer: createHttpServer } = await import('node:http');
  const server = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Polls `check` until it holds (5 s at most). */
async function untilTrue(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
