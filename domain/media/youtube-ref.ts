import { z } from 'zod';

/**
 * What a user may type to name a YouTube video: its 11-character id, or a link to it as YouTube's
 * apps and share buttons write them. Everything resolves to the id, as YouTube spells it (ids are
 * case-sensitive); the link itself is never kept or fetched, so nothing a user types ever becomes
 * a URL the server opens.
 *
 * Accepted (http or https, or no scheme at all, as apps often copy it; any other query
 * parameters such as `t=`, `si=`, `list=` or `feature=` are ignored):
 * - `dQw4w9WgXcQ`
 * - `youtube.com/watch?v=ID`, on www., m. and music.youtube.com
 * - `youtube.com/shorts/ID`, `/embed/ID`, `/live/ID` (same hosts), `youtube-nocookie.com/embed/ID`
 * - `youtu.be/ID`
 * Refused: other hosts (look-alikes included), other schemes (`javascript:`, `data:`), user
 * names, passwords or ports in the link, a playlist or channel without a video, two different
 * `v=` values, anything over 512 characters or with white space or control characters inside.
 */

export const YOUTUBE_REF_MAX_LENGTH = 512;

export type YouTubeRefProblem = 'EMPTY' | 'TOO_LONG' | 'BAD_CHARACTERS' | 'NOT_YOUTUBE' | 'PLAYLIST_ONLY' | 'NO_VIDEO_ID';

const PROBLEM_MESSAGES: Record<YouTubeRefProblem, string> = {
  EMPTY: 'must not be empty',
  TOO_LONG: `at most ${YOUTUBE_REF_MAX_LENGTH} characters`,
  BAD_CHARACTERS: 'a YouTube link or video id has no spaces or special characters',
  NOT_YOUTUBE: 'a YouTube video link (youtube.com or youtu.be) or an 11-character video id',
  PLAYLIST_ONLY: 'a YouTube playlist link: add one of its videos instead',
  NO_VIDEO_ID: 'a YouTube link without a video in it',
};

export function youtubeRefProblemMessage(problem: YouTubeRefProblem): string {
  return PROBLEM_MESSAGES[problem];
}

/** YouTube's video ids: 11 characters of base64url. */
const VIDEO_ID = /^[A-Za-z0-9_-]{11}$/;
/** Printable ASCII without spaces: a pasted link has nothing else (non-ASCII hosts are look-alikes). */
const LINK_CHARACTERS = /^[\x21-\x7e]+$/;

const WATCH_HOSTS = new Set(['youtube.com', 'www.youtube.com', 'm.youtube.com', 'music.youtube.com']);
const SHORT_HOSTS = new Set(['youtu.be', 'www.youtu.be']);
const NOCOOKIE_HOSTS = new Set(['youtube-nocookie.com', 'www.youtube-nocookie.com']);
/** Paths whose second segment is the video: /shorts/ID, /embed/ID, /live/ID. */
const ID_PATH = /^\/(shorts|embed|live)\/([^/]+)\/?$/;

export function isYouTubeVideoId(value: string): boolean {
  return VIDEO_ID.test(value);
}

export type YouTubeRefResult = { ok: true; videoId: string } | { ok: false; problem: YouTubeRefProblem };

/** The video a user's input names, or why it names none. Leading and trailing white space is ignored. */
export function parseYouTubeVideoRef(input: string): YouTubeRefResult {
  const text = input.trim();
  if (!text) return { ok: false, problem: 'EMPTY' };
  if (text.length > YOUTUBE_REF_MAX_LENGTH) return { ok: false, problem: 'TOO_LONG' };
  if (VIDEO_ID.test(text)) return { ok: true, videoId: text };
  if (!LINK_CHARACTERS.test(text)) return { ok: false, problem: 'BAD_CHARACTERS' };

  // A link copied without its scheme ("youtu.be/ID", "www.youtube.com/watch?v=ID").
  const hasScheme = /^[a-z][a-z0-9+.-]*:/i.test(text);
  if (hasScheme && !/^https?:\/\//i.test(text)) return { ok: false, problem: 'NOT_YOUTUBE' };
  let url: URL;
  try {
    url = new URL(hasScheme ? text : `https://${text}`);
  } catch {
    return { ok: false, problem: 'NOT_YOUTUBE' };
  }
  if (url.username || url.password || url.port) return { ok: false, problem: 'NOT_YOUTUBE' };
  const host = url.hostname; // lower-cased by the parser

  if (SHORT_HOSTS.has(host)) return videoIdOrProblem(/^\/([^/]+)\/?$/.exec(url.pathname)?.[1]);
  if (NOCOOKIE_HOSTS.has(host)) return videoIdOrProblem(/^\/embed\/([^/]+)\/?$/.exec(url.pathname)?.[1]);
  if (!WATCH_HOSTS.has(host)) return { ok: false, problem: 'NOT_YOUTUBE' };

  if (url.pathname === '/watch' || url.pathname === '/watch/') {
    const ids = new Set(url.searchParams.getAll('v'));
    if (ids.size === 0) return { ok: false, problem: url.searchParams.has('list') ? 'PLAYLIST_ONLY' : 'NO_VIDEO_ID' };
    if (ids.size > 1) return { ok: false, problem: 'NO_VIDEO_ID' };
    return videoIdOrProblem([...ids][0]);
  }
  const byPath = ID_PATH.exec(url.pathname);
  if (byPath) return videoIdOrProblem(byPath[2]);
  if (url.pathname === '/playlist' || url.searchParams.has('list')) return { ok: false, problem: 'PLAYLIST_ONLY' };
  return { ok: false, problem: 'NO_VIDEO_ID' };
}

function videoIdOrProblem(candidate: string | undefined): YouTubeRefResult {
  return candidate !== undefined && VIDEO_ID.test(candidate) ? { ok: true, videoId: candidate } : { ok: false, problem: 'NO_VIDEO_ID' };
}

/**
 * The request field for "a YouTube video": a link or an id, parsed to the id. A refusal is a
 * VALIDATION_FAILED issue saying what was wrong (api/http/validate.ts).
 */
export const youtubeVideoRef = z
  .string()
  .max(YOUTUBE_REF_MAX_LENGTH * 2, PROBLEM_MESSAGES.TOO_LONG) // cheap bound before parsing; the parser counts after trimming
  .transform((raw, ctx) => {
    const parsed = parseYouTubeVideoRef(raw);
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: youtubeRefProblemMessage(parsed.problem), params: { youtubeRefProblem: parsed.problem } });
      return z.NEVER;
    }
    return parsed.videoId;
  });

/** A bare video id (a path parameter, say): exactly 11 base64url characters, case kept. */
export const youtubeVideoId = z.string().regex(VIDEO_ID, 'an 11-character YouTube video id');
