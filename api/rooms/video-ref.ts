import { z } from 'zod';
import { youtubeVideoId, youtubeVideoRef } from '../../domain/media/youtube-ref';

/**
 * How a client names the video to add: `{ "videoId": "<11 characters>" }` or
 * `{ "url": "<a YouTube link>" }` (youtube.com/watch?v=, youtu.be/, /shorts/, /embed/, /live/,
 * m. and music. hosts, youtube-nocookie). Parses to the canonical video id.
 */
export const videoRef = z
  .union([z.object({ videoId: youtubeVideoId }).strict(), z.object({ url: youtubeVideoRef }).strict()])
  .transform((ref) => ('videoId' in ref ? ref.videoId : ref.url));
