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

/**
 * The catalog refused our request itself (YouTube: a bad, expired or restricted API key, the API
 * not enabled for the project, a parameter it does not accept). Retrying will not help until an
 * operator fixes the configuration; to the user it is just as unavailable.
 */
export class VideoCatalogMisconfigured extends VideoCatalogUnavailable {
  constructor(message: string, readonly status: number, readonly providerReason?: string) {
    super(message);
    this.name = 'VideoCatalogMisconfigured';
  }
}

/** The caller's signal fired (the request went away or ran out of time) before an answer. */
export class VideoLookupCancelled extends VideoCatalogUnavailable {
  constructor(videoId: string) {
    super(`lookup of ${videoId} cancelled`);
    this.name = 'VideoLookupCancelled';
  }
}

export interface VideoCatalog {
  /**
   * One video's metadata; throws VideoNotFound or VideoCatalogUnavailable (or one of its kinds:
   * VideoCatalogMisconfigured, VideoLookupCancelled). `signal` ends the wait early.
   */
  lookup(videoId: string, options?: { signal?: AbortSignal }): Promise<VideoMeta>;
}
