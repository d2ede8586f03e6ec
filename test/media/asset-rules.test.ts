import { KIND_RULES, MB, animationFormatsFor, checkUploadRequest, kindOfKey, mediaKey, publicMediaUrl, sniffContentType, verifyUpload } from '../../domain/media/assets';
import { measureImage } from '../../platform/storage/image-probe';
import { jpegHeader, pngImage, svgaFile, webpHeader } from '../support/images';

/** The upload rules (domain/media/assets.ts), with the real image probe; no servers involved. */

const OWNER = '3f1e2d4c-5b6a-4789-8abc-def012345678';
const UPLOAD = '0b5e5c4a-1d2e-4f30-8a9b-0c1d2e3f4a5b';

const stored = (file: Buffer, contentType: string) => ({ bytes: file.length, contentType });
const verify = (kind: Parameters<typeof verifyUpload>[0], file: Buffer, contentType: string, declaredBytes = file.length) =>
  verifyUpload(kind, { contentType, bytes: declaredBytes }, stored(file, contentType), file, measureImage);

describe('upload requests', () => {
  it('lets anyone start an avatar or cover of an image type within the size limit', () => {
    expect(checkUploadRequest({ kind: 'avatar', contentType: 'image/png', bytes: 5 * MB }, { isStaff: false })).toBeNull();
    expect(checkUploadRequest({ kind: 'room-cover', contentType: 'image/webp', bytes: 8 * MB }, { isStaff: false })).toBeNull();
  });

  it('refuses other types, more bytes than the kind allows, and gift animations from non-staff', () => {
    expect(checkUploadRequest({ kind: 'avatar', contentType: 'image/gif', bytes: 10 }, { isStaff: false })).toMatchObject({ refused: 'type-not-allowed' });
    expect(checkUploadRequest({ kind: 'avatar', contentType: 'video/mp4', bytes: 10 }, { isStaff: true })).toMatchObject({ refused: 'type-not-allowed' });
    expect(checkUploadRequest({ kind: 'avatar', contentType: 'image/png', bytes: 5 * MB + 1 }, { isStaff: false })).toEqual({ refused: 'too-large', maxBytes: 5 * MB });
    expect(checkUploadRequest({ kind: 'gift-animation', contentType: 'video/mp4', bytes: 10 }, { isStaff: false })).toEqual({ refused: 'staff-only' });
    expect(checkUploadRequest({ kind: 'gift-animation', contentType: 'video/mp4', bytes: 20 * MB }, { isStaff: true })).toBeNull();
    expect(checkUploadRequest({ kind: 'gift-animation', contentType: 'image/png', bytes: 10 }, { isStaff: true })).toMatchObject({ refused: 'type-not-allowed' });
  });
});

describe('keys and URLs', () => {
  it('lays keys out as kind/owner/upload.ext and recognises only those', () => {
    const key = mediaKey('avatar', OWNER, UPLOAD, 'image/jpeg');
    expect(key).toBe(`avatar/${OWNER}/${UPLOAD}.jpg`);
    expect(kindOfKey(key)).toBe('avatar');
    expect(kindOfKey(mediaKey('gift-animation', OWNER, UPLOAD, 'application/octet-stream'))).toBe('gift-animation');
    for (const bad of [`/${key}`, `https://cdn.test/${key}`, `avatar/../${OWNER}/${UPLOAD}.jpg`, `${key}?x`, key.toUpperCase(), `avatar/${OWNER}/${UPLOAD}.gif`]) {
      expect(kindOfKey(bad)).toBeNull();
    }
  });

  it('builds the public URL from the CDN base and the key', () => {
    expect(publicMediaUrl('https://cdn.aura.test/media/', 'avatar/a.png')).toBe('https://cdn.aura.test/media/avatar/a.png');
    expect(publicMediaUrl('https://cdn.aura.test', 'avatar/a.png')).toBe('https://cdn.aura.test/avatar/a.png');
  });
});

describe('what the bytes are', () => {
  it('tells the types apart by their magic numbers', () => {
    expect(sniffContentType(pngImage(2, 2))).toBe('image/png');
    expect(sniffContentType(jpegHeader(10, 10))).toBe('image/jpeg');
    expect(sniffContentType(webpHeader(10, 10))).toBe('image/webp');
    expect(sniffContentType(svgaFile())).toBe('application/octet-stream');
    expect(sniffContentType(Buffer.from('PK\x03\x04rest', 'latin1'))).toBe('application/octet-stream');
    expect(sniffContentType(Buffer.from('\x00\x00\x00\x20ftypisom', 'latin1'))).toBe('video/mp4');
    expect(sniffContentType(Buffer.from('\ufeff  {"v":"5.7.0"}'))).toBe('application/json');
    expect(sniffContentType(Buffer.from('<html><script>'))).toBeNull();
    expect(sniffContentType(Buffer.from('GIF89a'))).toBeNull();
    expect(sniffContentType(Buffer.alloc(0))).toBeNull();
  });
});

describe('verifying an upload', () => {
  it('accepts an avatar of the declared type and size, and measures it', () => {
    expect(verify('avatar', pngImage(256, 256), 'image/png')).toMatchObject({ ok: true, width: 256, height: 256 });
    expect(verify('avatar', jpegHeader(640, 480), 'image/jpeg')).toMatchObject({ ok: true, width: 640, height: 480 });
    expect(verify('room-cover', webpHeader(1280, 720), 'image/webp')).toMatchObject({ ok: true, width: 1280, height: 720 });
  });

  it('refuses a stored size other than the declared one', () => {
    const file = pngImage(100, 100);
    expect(verify('avatar', file, 'image/png', file.length + 1)).toMatchObject({ ok: false, reason: 'size-mismatch' });
  });

  it('refuses bytes that are not the declared type, and a stored type other than the declared one', () => {
    expect(verify('avatar', Buffer.from('<html>not an image</html>'), 'image/png')).toMatchObject({ ok: false, reason: 'content-mismatch' });
    expect(verify('avatar', jpegHeader(100, 100), 'image/png')).toMatchObject({ ok: false, reason: 'content-mismatch' });
    const png = pngImage(100, 100);
    expect(verifyUpload('avatar', { contentType: 'image/png', bytes: png.length }, { bytes: png.length, contentType: 'text/html' }, png, measureImage)).toMatchObject({
      ok: false,
      reason: 'content-mismatch',
    });
  });

  it('refuses images outside the kind\'s dimensions', () => {
    expect(verify('avatar', pngImage(63, 63), 'image/png')).toMatchObject({ ok: false, reason: 'dimensions-out-of-range' });
    expect(verify('avatar', jpegHeader(4097, 4000), 'image/jpeg')).toMatchObject({ ok: false, reason: 'dimensions-out-of-range' });
    expect(verify('avatar', pngImage(300, 100), 'image/png')).toMatchObject({ ok: false, reason: 'dimensions-out-of-range' });
    expect(verify('avatar', pngImage(200, 100), 'image/png')).toMatchObject({ ok: true });
    expect(verify('room-cover', pngImage(319, 180), 'image/png')).toMatchObject({ ok: false, reason: 'dimensions-out-of-range' });
    expect(verify('room-cover', pngImage(320, 179), 'image/png')).toMatchObject({ ok: false, reason: 'dimensions-out-of-range' });
    expect(verify('room-cover', pngImage(320, 180), 'image/png')).toMatchObject({ ok: true, width: 320, height: 180 });
  });

  it('checks gift animations by their first bytes only', () => {
    expect(verify('gift-animation', svgaFile(), 'application/octet-stream')).toMatchObject({ ok: true, width: null, height: null });
    expect(verify('gift-animation', Buffer.from('{"v":"5.7.0","layers":[]}'), 'application/json')).toMatchObject({ ok: true });
    expect(verify('gift-animation', Buffer.from('not json'), 'application/json')).toMatchObject({ ok: false, reason: 'content-mismatch' });
    expect(animationFormatsFor('video/mp4')).toEqual(['mp4-alpha', 'vap']);
    expect(animationFormatsFor('image/png')).toEqual([]);
  });

  it('keeps the limits it states', () => {
    expect(KIND_RULES.avatar.maxBytes).toBe(5 * MB);
    expect(KIND_RULES['room-cover'].maxBytes).toBe(8 * MB);
    expect(KIND_RULES['gift-animation'].maxBytes).toBe(20 * MB);
  });
});
