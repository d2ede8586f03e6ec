import { z } from 'zod';

/**
 * How a client names the video to add: `{ "videoId": "<11 characters>" }` or
 * `{ "url": "<a YouTube link>" }`. INTERIM: the link parse below is a stand-in, to be replaced at
 * merge by domain/media/youtube-ref.ts (`parseYouTubeVideoRef` / the `youtubeVideoRef` field,
 * helper "youtube"): swap `toVideoId`'s body and delete the rest; the routes only use `videoRef`.
 */
const VIDEO_ID = /^[A-Za-z0-9_-]{11}$/;
const HOSTS = new Set(['youtube.com', 'www.youtube.com', 'm.youtube.com', 'music.youtube.com', 'youtu.be']);

/** The canonical 11-character id a YouTube link or bare id names, or null. */
export function toVideoId(input: string): string | null {
  if (VIDEO_ID.test(input)) return input;
  if (input.length > 2048 || !/^https?:\/\/[\x21-\x7e]+$/.test(input)) return null;
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return null;
  }
  if (!HOSTS.has(url.hostname.toLowerCase()) || url.username || url.password || url.port) return null;
  const parts = url.pathname.split('/').filter(Boolean);
  const id = url.hostname.toLowerCase() === 'youtu.be' ? parts.length === 1 ? parts[0] : undefined
    : parts[0] === 'watch' && parts.length === 1 ? url.searchParams.get('v') ?? undefined
      : ['shorts', 'embed', 'live'].includes(parts[0] ?? '') && parts.length === 2 ? parts[1] : undefined;
  return id !== undefined && VIDEO_ID.test(id) ? id : null;
}

const videoId = z.string().regex(VIDEO_ID, "YouTube's 11-character video id");
const videoUrl = z
  .string()
  .max(2048)
  .transform((raw, ctx) => {
    const id = toVideoId(raw);
    if (id === null) {
      ctx.addIssue({ code: 'custom', message: 'a YouTube video link (youtube.com/watch?v=…, youtu.be/…, /shorts/…, /embed/…)' });
      return z.NEVER;
    }
    return id;
  });

/** The body of "add a video": exactly one of videoId and url; parses to the video id. */
export const videoRef = z
  .union([z.object({ videoId }).strict(), z.object({ url: videoUrl }).strict()])
  .transform((ref) => ('videoId' in ref ? ref.videoId : ref.url));
