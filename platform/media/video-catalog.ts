/**
 * Where a room's playlist learns what a video is: YouTube's Data API in production
 * (platform/media/youtube.ts), a local server speaking its wire format in tests and on the dev
 * stack. The playlist only ever stores what `lookup` returned, so a video's title and duration
 * are read once, when it is added.
 */
export interface VideoMeta {
  /** YouTube's 11-character video id, as YouTube spells it (case matters). */
  id: string;
  title: string;
  channelTitle: string;
  /** 0 for a live broadcast (no end). */
  durationMs: number;
  /** The largest thumbnail first; https URLs. */
  thumbnails: { url: string; width: number; height: number }[];
  /** Whether the owner lets other sites embed it (the app plays it in an embedded player). */
  embeddable: boolean;
  /** YouTube's regionRestriction: ISO 3166-1 alpha-2 lists; both null means every region. */
  regionsAllowed: string[] | null;
  regionsBlocked: string[] | null;
  /** 'none' for an ordinary video; 'live' and 'upcoming' have no fixed duration. */
  liveBroadcastContent: 'none' | 'live' | 'upcoming';
  /** Made for kids, age-restricted and other flags the app may want, as YouTube gives them. */
  ageRestricted: boolean;
}

/** The video is not there (wrong id, deleted, private): a refusal, not worth a retry. */
export class VideoNotFound extends Error {
  constructor(readonly videoId: string) {
    super(`no such video: ${videoId}`);
    this.name = 'VideoNotFound';
  }
}

/** The catalog could not answer now (timeout, 5xx, quota, open circuit): retry later. */
export class VideoCatalogUnavailable extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
    this.name = 'VideoCatalogUnavailable';
  }
}

export interface VideoCatalog {
  /** One video's metadata; throws VideoNotFound or VideoCatalogUnavailable. */
  lookup(videoId: string, options?: { signal?: AbortSignal }): Promise<VideoMeta>;
}
