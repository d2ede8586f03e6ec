import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the YouTube Data API v3's videos.list (`GET /youtube/v3/videos?part=...&id=...&key=...`),
 * speaking its wire format: the list response with `items` in the parts asked for (snippet,
 * contentDetails, status), private and unknown videos left out as YouTube leaves them out, the
 * API key checked, and errors in Google's JSON shape. Tests register videos and steer failures
 * through `controls`; another process (the dev stack) through POST /__fake__/<control>.
 */

export interface FakeVideoInput {
  /** The 11-character id, as YouTube spells it. */
  id: string;
  title: string;
  channelTitle?: string;
  /** ISO 8601, as YouTube sends it: `PT3M33S`, `P1DT2H`; a live or upcoming broadcast sends `P0D`. */
  duration?: string;
  /** Default true. */
  embeddable?: boolean;
  regionsAllowed?: string[];
  regionsBlocked?: string[];
  ageRestricted?: boolean;
  live?: 'live' | 'upcoming';
  /** Default public; a private video is left out of the answer, as YouTube does for an API key. */
  privacyStatus?: 'public' | 'unlisted' | 'private';
  /** Default true: standard (640x480) and maxres (1280x720) thumbnails too, as HD uploads have. */
  hdThumbnails?: boolean;
}

export interface FakeYouTubeCall {
  path: string;
  /** The query with the key left out (`keyPresent` and `keyValid` say what was sent). */
  query: Record<string, string>;
  ids: string[];
  keyPresent: boolean;
  keyValid: boolean;
}

export interface FakeYouTubeControls {
  addVideo(input: FakeVideoInput): void;
  removeVideo(id: string): void;
  /**
   * The next `n` videos.list requests answer `status` with Google's error body; the reason
   * defaults by status: 403 quotaExceeded, 429 rateLimitExceeded, 400 keyInvalid, 5xx backendError.
   */
  failNext(n: number, status: number, reason?: string): void;
  /** The next `n` requests are never answered (until close). */
  stallNext(n: number): void;
  /** The next `n` requests have their connection closed without an answer. */
  dropNext(n: number): void;
  /** How many videos.list requests asked for `id` (failed and stalled ones included). */
  callsFor(id: string): number;
  /** Resolves with the next videos.list request that arrives after this call. */
  nextCall(): Promise<FakeYouTubeCall>;
  readonly calls: readonly FakeYouTubeCall[];
  clearCalls(): void;
}

export interface FakeYouTube {
  /** The API base (YOUTUBE_API_URL), `http://127.0.0.1:<port>/youtube/v3`. */
  url: string;
  /** The key it accepts (YOUTUBE_API_KEY). */
  apiKey: string;
  controls: FakeYouTubeControls;
  close(): Promise<void>;
}

type Script = { kind: 'fail'; status: number; reason?: string } | { kind: 'stall' } | { kind: 'drop' };

const PARTS = new Set(['snippet', 'contentDetails', 'status', 'id']);
const GRPC_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};
const DEFAULT_REASONS: Record<number, string> = { 400: 'keyInvalid', 403: 'quotaExceeded', 404: 'notFound', 429: 'rateLimitExceeded' };
const MESSAGES: Record<string, string> = {
  quotaExceeded: 'The request cannot be completed because you have exceeded your <a href="/youtube/v3/getting-started#quota">quota</a>.',
  rateLimitExceeded: 'The request cannot be completed because you have exceeded your rate limit.',
  keyInvalid: 'API key not valid. Please pass a valid API key.',
  backendError: 'Backend Error',
};
const THUMBNAILS = [
  ['default', 'default', 120, 90],
  ['medium', 'mqdefault', 320, 180],
  ['high', 'hqdefault', 480, 360],
  ['standard', 'sddefault', 640, 480],
  ['maxres', 'maxresdefault', 1280, 720],
] as const;

export async function startFakeYouTube(options: { port?: number; apiKey?: string } = {}): Promise<FakeYouTube> {
  const apiKey = options.apiKey ?? 'AIzaSyFakeYouTubeKey-0123456789abcdefgh';
  const videos = new Map<string, FakeVideoInput>();
  const calls: FakeYouTubeCall[] = [];
  const scripted: Script[] = [];
  const stalled = new Set<ServerResponse>();
  const waiting: Array<(call: FakeYouTubeCall) => void> = [];

  const controls: FakeYouTubeControls = {
    addVideo(input) {
      if (!/^[A-Za-z0-9_-]{11}$/.test(input.id)) throw new Error(`not a YouTube video id: ${input.id}`);
      videos.set(input.id, input);
    },
    removeVideo: (id) => void videos.delete(id),
    failNext(n, status, reason) {
      scripted.push(...Array.from({ length: n }, () => ({ kind: 'fail' as const, status, ...(reason ? { reason } : {}) })));
    },
    stallNext(n) {
      scripted.push(...Array.from({ length: n }, () => ({ kind: 'stall' as const })));
    },
    dropNext(n) {
      scripted.push(...Array.from({ length: n }, () => ({ kind: 'drop' as const })));
    },
    callsFor: (id) => calls.filter((c) => c.ids.includes(id)).length,
    nextCall: () => new Promise((resolve) => waiting.push(resolve)),
    calls,
    clearCalls() {
      calls.length = 0;
    },
  };

  const server = createServer((req, res) => {
    void readBody(req)
      .then((body) => {
        const url = new URL(req.url ?? '/', 'http://fake');
        if (url.pathname.startsWith('/__fake__/')) return control(url.pathname.slice('/__fake__/'.length), body, res);
        if (url.pathname !== '/youtube/v3/videos') return googleError(res, 404, 'notFound', 'Not Found');
        if (req.method !== 'GET') return googleError(res, 405, 'methodNotAllowed', 'Method Not Allowed');

        const key = url.searchParams.get('key');
        const query = Object.fromEntries([...url.searchParams].filter(([name]) => name !== 'key'));
        const ids = (url.searchParams.get('id') ?? '').split(',').filter(Boolean);
        const call: FakeYouTubeCall = { path: url.pathname, query, ids, keyPresent: key !== null, keyValid: key === apiKey };
        calls.push(call);
        for (const resolve of waiting.splice(0)) resolve(call);

        const script = scripted.shift();
        if (script?.kind === 'stall') return void stalled.add(res);
        if (script?.kind === 'drop') return void res.socket?.destroy();
        if (script?.kind === 'fail') {
          const reason = script.reason ?? DEFAULT_REASONS[script.status] ?? 'backendError';
          return googleError(res, script.status, reason, MESSAGES[reason] ?? reason);
        }

        if (key === null) {
          const message =
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";
          return googleError(res, 403, 'forbidden', message);
        }
        if (key !== apiKey) return googleError(res, 400, 'keyInvalid', MESSAGES.keyInvalid!);
        const parts = (url.searchParams.get('part') ?? '').split(',').filter(Boolean);
        if (!parts.length) return googleError(res, 400, 'required', 'Required parameter: part', 'part');
        const unknown = parts.find((p) => !PARTS.has(p));
        if (unknown) return googleError(res, 400, 'unknownPart', `'${unknown}'`, 'part');
        if (!ids.length) return googleError(res, 400, 'missingRequiredParameter', 'No filter selected. Expected one of: chart, id, myRated, idParam');
        if (ids.length > 50) return googleError(res, 400, 'invalidFilters', 'Invalid filters', 'id');

        const items = ids
          .map((id) => videos.get(id))
          .filter((video): video is FakeVideoInput => video !== undefined && video.privacyStatus !== 'private')
          .map((video) => videoResource(video, new Set(parts)));
        json(res, 200, {
          kind: 'youtube#videoListResponse',
          etag: etag(JSON.stringify(items)),
          items,
          pageInfo: { totalResults: items.length, resultsPerPage: items.length },
        });
      })
      .catch((err: unknown) => {
        if (!res.headersSent) json(res, 500, { error: `fake failed: ${(err as Error).message}` });
      });
  });

  function control(name: string, body: string, res: ServerResponse): void {
    try {
      const args = (body ? JSON.parse(body) : {}) as Record<string, unknown>;
      if (name === 'videos') for (const video of Array.isArray(args) ? args : [args]) controls.addVideo(video as FakeVideoInput);
      else if (name === 'fail') controls.failNext(Number(args.n ?? 1), Number(args.status), args.reason as string | undefined);
      else if (name === 'stall') controls.stallNext(Number(args.n ?? 1));
      else if (name === 'calls') return json(res, 200, { calls });
      else if (name === 'list') return json(res, 200, { videos: [...videos.values()] });
      else return json(res, 404, { error: 'unknown control' });
    } catch (err) {
      return json(res, 400, { error: (err as Error).message });
    }
    json(res, 200, {});
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: `${origin}/youtube/v3`,
    apiKey,
    controls,
    async close() {
      for (const res of stalled) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One `youtube#video` resource with the parts asked for, shaped like YouTube's. */
function videoResource(video: FakeVideoInput, parts: Set<string>) {
  const live = video.live ?? 'none';
  const thumbnails = Object.fromEntries(
    THUMBNAILS.filter(([name]) => video.hdThumbnails !== false || !['standard', 'maxres'].includes(name)).map(([name, file, width, height]) => [
      name,
      { url: `https://i.ytimg.com/vi/${video.id}/${file}.jpg`, width, height },
    ]),
  );
  const regionRestriction =
    video.regionsAllowed || video.regionsBlocked
      ? { ...(video.regionsAllowed ? { allowed: video.regionsAllowed } : {}), ...(video.regionsBlocked ? { blocked: video.regionsBlocked } : {}) }
      : undefined;
  return {
    kind: 'youtube#video',
    etag: etag(video.id + video.title),
    id: video.id,
    ...(parts.has('snippet')
      ? {
          snippet: {
            publishedAt: '2009-10-25T06:57:33Z',
            channelId: `UC${createHash('sha256').update(video.channelTitle ?? 'channel').digest('base64url').slice(0, 22)}`,
            title: video.title,
            description: '',
            thumbnails,
            channelTitle: video.channelTitle ?? 'Aura Demo',
            categoryId: '10',
            liveBroadcastContent: live,
            localized: { title: video.title, description: '' },
          },
        }
      : {}),
    ...(parts.has('contentDetails')
      ? {
          contentDetails: {
            duration: live === 'none' ? (video.duration ?? 'PT3M') : 'P0D',
            dimension: '2d',
            definition: video.hdThumbnails === false ? 'sd' : 'hd',
            caption: 'false',
            licensedContent: true,
            ...(regionRestriction ? { regionRestriction } : {}),
            contentRating: video.ageRestricted ? { ytRating: 'ytAgeRestricted' } : {},
            projection: 'rectangular',
          },
        }
      : {}),
    ...(parts.has('status')
      ? {
          status: {
            uploadStatus: live === 'none' ? 'processed' : 'uploaded',
            privacyStatus: video.privacyStatus ?? 'public',
            license: 'youtube',
            embeddable: video.embeddable ?? true,
            publicStatsViewable: true,
            madeForKids: false,
          },
        }
      : {}),
  };
}

function etag(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 27);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => resolve(raw));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body));
}

/** Google's error body; quota errors carry YouTube's own domain. */
function googleError(res: ServerResponse, code: number, reason: string, message: string, location?: string): void {
  const domain = reason === 'quotaExceeded' ? 'youtube.quota' : reason === 'keyInvalid' ? 'usageLimits' : 'global';
  const error = { message, domain, reason, ...(location ? { location, locationType: 'parameter' } : {}) };
  json(res, code, { error: { code, message, errors: [error], status: GRPC_STATUS[code] ?? (code >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION') } });
}
