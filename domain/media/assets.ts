import type { AnimationFormat } from '../economy/gifts';

/**
 * Media assets: what may be uploaded, where it is kept and how an upload is judged once its bytes
 * are in the store. Pure rules; the store and the records are elsewhere (platform/storage,
 * db/repositories/media-uploads.ts).
 */

export const MEDIA_KINDS = ['avatar', 'room-cover', 'gift-animation'] as const;
export type MediaKind = (typeof MEDIA_KINDS)[number];

export const MB = 1024 * 1024;

export const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;
export const GIFT_ANIMATION_TYPES = ['application/octet-stream', 'video/mp4', 'application/json'] as const;
export type MediaContentType = (typeof IMAGE_TYPES)[number] | (typeof GIFT_ANIMATION_TYPES)[number];
export const MEDIA_CONTENT_TYPES: readonly MediaContentType[] = [...IMAGE_TYPES, ...GIFT_ANIMATION_TYPES];

export interface ImageLimits {
  minWidth: number;
  minHeight: number;
  maxWidth: number;
  maxHeight: number;
  /** Longest side over shortest side, at most (null: any). */
  maxAspect: number | null;
}

export interface KindRules {
  contentTypes: readonly MediaContentType[];
  maxBytes: number;
  /** Only staff may upload it. */
  staffOnly: boolean;
  /** Images are measured after upload; other files are checked by their first bytes only. */
  image: ImageLimits | null;
}

/**
 * The limits. Avatars are shown cropped to a circle, so they may be at most 2:1 either way;
 * covers are banners (16:9 at least 320×180). Gift animations are staff uploads in the formats
 * the catalog plays: SVGA (application/octet-stream), MP4 with alpha or VAP (video/mp4) and
 * Lottie (application/json). A static image is not an animation format of the catalog, so it is
 * not offered.
 */
export const KIND_RULES: Record<MediaKind, KindRules> = {
  avatar: {
    contentTypes: IMAGE_TYPES,
    maxBytes: 5 * MB,
    staffOnly: false,
    image: { minWidth: 64, minHeight: 64, maxWidth: 4096, maxHeight: 4096, maxAspect: 2 },
  },
  'room-cover': {
    contentTypes: IMAGE_TYPES,
    maxBytes: 8 * MB,
    staffOnly: false,
    image: { minWidth: 320, minHeight: 180, maxWidth: 4096, maxHeight: 4096, maxAspect: null },
  },
  'gift-animation': {
    contentTypes: GIFT_ANIMATION_TYPES,
    maxBytes: 20 * MB,
    staffOnly: true,
    image: null,
  },
};

/** How many leading bytes the verification reads: enough for a JPEG's EXIF block before its frame header. */
export const HEADER_BYTES = 128 * 1024;

const EXTENSION: Record<MediaContentType, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
  'application/octet-stream': 'svga',
  'video/mp4': 'mp4',
  'application/json': 'json',
};

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** Every key the API hands out, and nothing else: `<kind>/<owner id>/<upload id>.<ext>`. */
export const MEDIA_KEY_PATTERN = new RegExp(`^(${MEDIA_KINDS.join('|')})/(${UUID})/(${UUID})\\.(jpg|png|webp|svga|mp4|json)$`);

/** The object key of an upload: chosen by the server, never by the client. */
export function mediaKey(kind: MediaKind, ownerId: string, uploadId: string, contentType: MediaContentType): string {
  return `${kind}/${ownerId}/${uploadId}.${EXTENSION[contentType]}`;
}

/** The kind a well-formed key names (null: not a key this API hands out). */
export function kindOfKey(key: string): MediaKind | null {
  const m = MEDIA_KEY_PATTERN.exec(key);
  return m ? (m[1] as MediaKind) : null;
}

/** Where anyone reads an object: the CDN base and the key. */
export function publicMediaUrl(cdnBaseUrl: string, key: string): string {
  return `${cdnBaseUrl.replace(/\/+$/, '')}/${key}`;
}

export type UploadRequestRefusal =
  | { refused: 'type-not-allowed'; allowed: readonly MediaContentType[] }
  | { refused: 'too-large'; maxBytes: number }
  | { refused: 'staff-only' };

/** Whether an upload of this kind, type and size may start (the caller's staff role known). */
export function checkUploadRequest(
  request: { kind: MediaKind; contentType: string; bytes: number },
  caller: { isStaff: boolean },
): UploadRequestRefusal | null {
  const rules = KIND_RULES[request.kind];
  if (rules.staffOnly && !caller.isStaff) return { refused: 'staff-only' };
  if (!(rules.contentTypes as readonly string[]).includes(request.contentType)) return { refused: 'type-not-allowed', allowed: rules.contentTypes };
  if (request.bytes > rules.maxBytes) return { refused: 'too-large', maxBytes: rules.maxBytes };
  return null;
}

/** An image's size as its header states it; `orientation` is the EXIF one (1-8), if any. */
export interface ImageMeasure {
  width: number;
  height: number;
  orientation?: number;
}

/** Reads an image's dimensions from its first bytes (platform/storage/image-probe.ts); null: unreadable. */
export type MeasureImage = (header: Uint8Array) => ImageMeasure | null;

export type UploadVerdict =
  | { ok: true; bytes: number; width: number | null; height: number | null }
  | { ok: false; reason: 'size-mismatch' | 'content-mismatch' | 'dimensions-out-of-range'; detail: string };

/** The real type of a file from its first bytes (magic numbers), as one of ours; null: none of them. */
export function sniffContentType(header: Uint8Array): MediaContentType | null {
  const b = header;
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 8 && b[0] === 0x89 && ascii(1, 8) === 'PNG\r\n\x1a\n') return 'image/png';
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  if (b.length >= 8 && ascii(4, 8) === 'ftyp') return 'video/mp4';
  // SVGA 1.x is a zip archive; SVGA 2.x a zlib-deflated protobuf.
  if (b.length >= 4 && ascii(0, 4) === 'PK\x03\x04') return 'application/octet-stream';
  if (b.length >= 2 && b[0] === 0x78 && [0x01, 0x5e, 0x9c, 0xda].includes(b[1]!)) return 'application/octet-stream';
  // Lottie: a JSON object (a UTF-8 byte-order mark and white space allowed before it).
  let i = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  while (i < b.length && [0x20, 0x09, 0x0a, 0x0d].includes(b[i]!)) i++;
  if (i < b.length && b[i] === 0x7b) return 'application/json';
  return null;
}

/**
 * Judges an upload once its bytes are in the store: the stored size must be the declared size
 * (and within the kind's limit), the bytes must be what the declared type says (magic numbers,
 * not the type the client claimed), and an image must measure within the kind's limits.
 */
export function verifyUpload(
  kind: MediaKind,
  declared: { contentType: string; bytes: number },
  stored: { bytes: number; contentType: string | null },
  header: Uint8Array,
  measureImage: MeasureImage,
): UploadVerdict {
  const rules = KIND_RULES[kind];
  if (stored.bytes !== declared.bytes || stored.bytes > rules.maxBytes || stored.bytes === 0) {
    return { ok: false, reason: 'size-mismatch', detail: `stored ${stored.bytes} bytes, declared ${declared.bytes}` };
  }
  if (stored.contentType !== null && stored.contentType.split(';')[0]!.trim().toLowerCase() !== declared.contentType) {
    return { ok: false, reason: 'content-mismatch', detail: `stored as ${stored.contentType}, declared ${declared.contentType}` };
  }
  const sniffed = sniffContentType(header);
  if (sniffed !== declared.contentType) {
    return { ok: false, reason: 'content-mismatch', detail: `the bytes are ${sniffed ?? 'of no allowed type'}, declared ${declared.contentType}` };
  }
  if (!rules.image) return { ok: true, bytes: stored.bytes, width: null, height: null };

  const size = measureImage(header);
  if (!size) return { ok: false, reason: 'content-mismatch', detail: 'the image header cannot be read' };
  let { width, height } = size;
  // EXIF orientations 5-8 turn the picture a quarter: the shown width is the stored height.
  if (size.orientation !== undefined && size.orientation >= 5) [width, height] = [height, width];
  const limits = rules.image;
  if (width < limits.minWidth || height < limits.minHeight) {
    return { ok: false, reason: 'dimensions-out-of-range', detail: `${width}x${height} is smaller than ${limits.minWidth}x${limits.minHeight}` };
  }
  if (width > limits.maxWidth || height > limits.maxHeight) {
    return { ok: false, reason: 'dimensions-out-of-range', detail: `${width}x${height} is larger than ${limits.maxWidth}x${limits.maxHeight}` };
  }
  if (limits.maxAspect !== null && Math.max(width, height) / Math.min(width, height) > limits.maxAspect) {
    return { ok: false, reason: 'dimensions-out-of-range', detail: `${width}x${height} is more elongated than ${limits.maxAspect}:1` };
  }
  return { ok: true, bytes: stored.bytes, width, height };
}

/** The catalog formats a gift-animation file of this type may be set as. */
export function animationFormatsFor(contentType: string): AnimationFormat[] {
  if (contentType === 'application/octet-stream') return ['svga'];
  if (contentType === 'video/mp4') return ['mp4-alpha', 'vap'];
  if (contentType === 'application/json') return ['lottie'];
  return [];
}
