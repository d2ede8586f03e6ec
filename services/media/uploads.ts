import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { MediaUploads, MediaUpload } from '../../db/repositories/media-uploads';
import { measureImage } from '../../platform/storage/image-probe';
import { AppError, ErrorCode } from '../../domain/errors';
import {
  HEADER_BYTES,
  KIND_RULES,
  checkUploadRequest,
  mediaKey,
  verifyUpload,
  type MediaContentType,
  type MediaKind,
  type UploadVerdict,
} from '../../domain/media/assets';
import type { Logger } from '../../platform/logging';
import type { WindowLimiter } from '../../platform/rate-limits/window-limiter';
import type { ObjectStore } from '../../platform/storage/object-store';
import { rateLimited } from '../rooms/limits';

export interface UploadSettings {
  /** How long the presigned URL is valid (MEDIA_UPLOAD_URL_TTL_SECONDS). */
  urlTtlSeconds: number;
  /** A pending upload may still be completed this long after its URL expired; then the sweep takes it. */
  pendingGraceMs: number;
  /** Uploads per user per hour. */
  perUserPerHour: number;
}

/** What the owner sees of an upload. */
export interface UploadView {
  uploadId: string;
  kind: MediaKind;
  key: string;
  status: 'pending' | 'ready' | 'rejected' | 'gone';
  contentType: string;
  bytes: number;
  width: number | null;
  height: number | null;
  /** The public (CDN) URL once ready. */
  url: string | null;
  expiresAt: string;
  rejection: { code: string; detail: string | null } | null;
}

export interface StartedUpload {
  uploadId: string;
  key: string;
  url: string;
  method: 'PUT';
  headers: Record<string, string>;
  expiresAt: string;
}

const REJECTION_CODE: Record<Exclude<UploadVerdict, { ok: true }>['reason'], ErrorCode> = {
  'size-mismatch': ErrorCode.MediaSizeMismatch,
  'content-mismatch': ErrorCode.MediaContentMismatch,
  'dimensions-out-of-range': ErrorCode.MediaDimensionsOutOfRange,
};

const HOUR_MS = 3_600_000;

/**
 * Presigned uploads: the client asks for a URL (kind, type and size checked first), PUTs the
 * bytes straight to the store, then asks us to complete, which checks what actually arrived
 * (size, real type by magic bytes, image dimensions) before the file may be used anywhere.
 */
export class MediaUploadService {
  private readonly uploads: MediaUploads;

  constructor(
    private readonly deps: {
      uploads: MediaUploads;
      store: ObjectStore;
      limiter: WindowLimiter;
      settings: UploadSettings;
      isStaff: (userId: string) => Promise<boolean>;
      logger: Logger;
      clock?: () => number;
    },
  ) {
    this.uploads = deps.uploads;
  }

  private now(): number {
    return (this.deps.clock ?? Date.now)();
  }

  async start(ownerId: string, request: { kind: MediaKind; contentType: string; bytes: number }): Promise<StartedUpload> {
    const rules = KIND_RULES[request.kind];
    const isStaff = rules.staffOnly ? await this.deps.isStaff(ownerId) : false;
    const refusal = checkUploadRequest(request, { isStaff });
    if (refusal?.refused === 'staff-only') throw new AppError(ErrorCode.MediaStaffOnly, `only staff may upload ${request.kind} files`);
    if (refusal?.refused === 'type-not-allowed') {
      throw new AppError(ErrorCode.MediaTypeNotAllowed, `a ${request.kind} may be ${refusal.allowed.join(', ')}`, { allowed: refusal.allowed });
    }
    if (refusal?.refused === 'too-large') {
      throw new AppError(ErrorCode.MediaTooLarge, `a ${request.kind} may be at most ${refusal.maxBytes} bytes`, { maxBytes: refusal.maxBytes });
    }
    // Counted only for requests that could go ahead: a refused one spends nothing.
    const perHour = this.deps.settings.perUserPerHour;
    const decision = await this.deps.limiter.take([{ key: `media-upload:${ownerId}`, max: perHour, windowMs: HOUR_MS }]);
    if (!decision.allowed) throw rateLimited('media-upload', decision.retryAfterMs, `at most ${perHour} uploads an hour`);

    const id = randomUUID();
    const key = mediaKey(request.kind, ownerId, id, request.contentType as MediaContentType);
    const ttl = this.deps.settings.urlTtlSeconds;
    // The URL is signed before the row exists, but the row commits before anyone sees the URL.
    const presigned = await this.deps.store.presignUpload(key, request.contentType, request.bytes, ttl);
    await this.uploads.create({ id, ownerId, kind: request.kind, key, contentType: request.contentType, declaredBytes: request.bytes, expiresAt: presigned.expiresAt });
    return { uploadId: id, key, url: presigned.url, method: presigned.method, headers: presigned.headers, expiresAt: presigned.expiresAt.toISOString() };
  }

  async get(ownerId: string, uploadId: string): Promise<UploadView> {
    return this.view(await this.owned(ownerId, uploadId));
  }

  /**
   * Checks the uploaded object and makes the upload usable, or rejects it (the object is deleted)
   * with the refusal's code. Completing again answers the same: the ready view, or the same refusal.
   */
  async complete(ownerId: string, uploadId: string): Promise<UploadView> {
    let upload = await this.owned(ownerId, uploadId);
    if (upload.status === 'pending') upload = await this.verify(upload);
    if (upload.status === 'ready') return this.view(upload);
    if (upload.status === 'rejected') throw this.rejectionError(upload);
    throw new AppError(ErrorCode.MediaUploadExpired, 'this upload is gone; start a new one');
  }

  private async verify(upload: MediaUpload): Promise<MediaUpload> {
    if (this.now() > upload.expiresAt.getTime() + this.deps.settings.pendingGraceMs) {
      throw new AppError(ErrorCode.MediaUploadExpired, 'this upload expired before it was completed; start a new one');
    }
    const stored = await this.deps.store.head(upload.key);
    if (!stored) {
      throw new AppError(ErrorCode.MediaNotUploaded, 'nothing was uploaded under this key yet: PUT the file to the upload URL first', {
        expiresAt: upload.expiresAt.toISOString(),
      });
    }
    const header = stored.bytes > 0 ? await this.deps.store.readRange(upload.key, Math.min(HEADER_BYTES, stored.bytes)) : Buffer.alloc(0);
    const verdict = header === null ? null : verifyUpload(upload.kind, { contentType: upload.contentType, bytes: upload.declaredBytes }, stored, header, measureImage);
    if (verdict === null) throw new AppError(ErrorCode.MediaNotUploaded, 'nothing was uploaded under this key yet: PUT the file to the upload URL first');

    const changed = verdict.ok
      ? await this.uploads.markReady(upload.id, { bytes: verdict.bytes, width: verdict.width, height: verdict.height })
      : await this.uploads.markRejected(upload.id, REJECTION_CODE[verdict.reason], verdict.detail);
    if (!verdict.ok && changed) await this.deleteObject(upload.key, 'rejected upload');
    // null: a concurrent completion (or the sweep) got there first; answer with what it decided.
    return changed ?? (await this.uploads.find(upload.id)) ?? { ...upload, status: 'deleting' };
  }

  /** Best effort: what is left behind, the sweep removes (rejected rows past their expiry). */
  private async deleteObject(key: string, what: string): Promise<void> {
    await this.deps.store.delete(key).catch((err: unknown) => this.deps.logger.warn({ err, key }, `could not delete a ${what} from the object store; the sweep will`));
  }

  private rejectionError(upload: MediaUpload): AppError {
    const code = (Object.values(REJECTION_CODE) as string[]).includes(upload.rejectionReason ?? '') ? (upload.rejectionReason as ErrorCode) : ErrorCode.MediaContentMismatch;
    return new AppError(code, `the uploaded file was refused: ${upload.rejectionDetail ?? 'it did not pass the checks'}`, {
      uploadId: upload.id,
      detail: upload.rejectionDetail,
    });
  }

  private async owned(ownerId: string, uploadId: string): Promise<MediaUpload> {
    const upload = await this.uploads.find(uploadId);
    // Someone else's upload is "not found": ids are not secrets, but their files are no business of others.
    if (!upload || upload.ownerId !== ownerId) throw new AppError(ErrorCode.MediaUploadNotFound, 'no such upload');
    return upload;
  }

  private view(upload: MediaUpload): UploadView {
    const status = upload.status === 'replaced' || upload.status === 'deleting' ? 'gone' : upload.status;
    return {
      uploadId: upload.id,
      kind: upload.kind,
      key: upload.key,
      status,
      contentType: upload.contentType,
      bytes: upload.bytes ?? upload.declaredBytes,
      width: upload.width,
      height: upload.height,
      url: status === 'ready' ? this.deps.store.publicUrl(upload.key) : null,
      expiresAt: upload.expiresAt.toISOString(),
      rejection: upload.status === 'rejected' ? { code: upload.rejectionReason ?? ErrorCode.MediaContentMismatch, detail: upload.rejectionDetail } : null,
    };
  }
}

/**
 * Puts a ready upload to use, inside the caller's transaction: it must be the actor's own, of
 * the kind the place takes, completed, and not in use elsewhere (a file attached twice would
 * break one place when the other replaces it). Returns the upload.
 */
export async function attachUpload(
  uploads: MediaUploads,
  tx: EntityManager,
  use: { key: string; actorId: string; kind: MediaKind; usedBy: string },
): Promise<MediaUpload> {
  const upload = await uploads.lockByKey(tx, use.key);
  if (!upload || upload.ownerId !== use.actorId || upload.status === 'replaced' || upload.status === 'deleting') {
    throw new AppError(ErrorCode.MediaKeyUnknown, 'no upload of yours has this key: upload the file first (POST /v1/media/uploads)');
  }
  if (upload.kind !== use.kind) throw new AppError(ErrorCode.MediaKindMismatch, `this is a ${upload.kind} upload; a ${use.kind} is needed here`);
  if (upload.status !== 'ready') {
    throw new AppError(ErrorCode.MediaNotReady, upload.status === 'pending' ? 'this upload is not completed yet' : 'this upload was refused', { status: upload.status });
  }
  if (upload.usedBy !== null && upload.usedBy !== use.usedBy) throw new AppError(ErrorCode.MediaInUse, 'this file is already in use elsewhere; upload it again');
  if (upload.usedBy === null) await uploads.markUsed(tx, upload.id, use.usedBy);
  return upload;
}
