import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { BrokenCircuitError } from 'cockatiel';
import type { Config } from '../../config';
import { AppError, ErrorCode } from '../../domain/errors';
import { outboundCircuitBreaker } from '../resilience/outbound-policy';

/** What the store holds under a key. */
export interface StoredObject {
  bytes: number;
  contentType: string | null;
}

/** How a client uploads one object straight to the store: send exactly these headers. */
export interface PresignedUpload {
  url: string;
  method: 'PUT';
  headers: Record<string, string>;
  expiresAt: Date;
}

/**
 * The object store the media assets live in (an S3-compatible bucket behind a CDN). Every call
 * that reaches the store has a timeout and few retries; a store that is down, stalled or
 * refusing answers DEPENDENCY_UNAVAILABLE (503 with Retry-After), never a hang.
 */
export interface ObjectStore {
  /** A URL the client PUTs the bytes to; the type and the exact length are part of the signature. */
  presignUpload(key: string, contentType: string, bytes: number, ttlSeconds: number): Promise<PresignedUpload>;
  /** Size and type of the object, or null if there is none. */
  head(key: string): Promise<StoredObject | null>;
  /** The object's first `bytes` bytes (fewer if it is shorter), or null if there is none. */
  readRange(key: string, bytes: number): Promise<Buffer | null>;
  /** Removes the object; removing one that is not there is not an error. */
  delete(key: string): Promise<void>;
  /** Where anyone reads the object: the CDN base and the key. */
  publicUrl(key: string): string;
}

export interface S3ObjectStoreSettings {
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  /** Public URLs are this base + '/' + key. */
  cdnBaseUrl: string;
  /** One attempt, from connecting to the last byte read. */
  timeoutMs: number;
  /** Attempts per call (1: no retry); only transient failures are retried. */
  attempts: number;
}

/** The store failed in a way another attempt may fix (network, timeout, 5xx, throttling). */
class TransientStoreError extends Error {
  override name = 'TransientStoreError';
}

const RETRY_BACKOFF_MS = 100;

function isTransient(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown } | null;
  if (!e) return false;
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number') return status >= 500 || status === 429;
  // No HTTP answer at all: refused, reset, unreachable.
  return true;
}

const isNotFound = (err: unknown) => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
};

export class S3ObjectStore implements ObjectStore {
  private readonly client: S3Client;
  private readonly breaker;
  private readonly cdnBase: string;

  constructor(private readonly settings: S3ObjectStoreSettings) {
    this.client = new S3Client({
      endpoint: settings.endpoint,
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
      // SeaweedFS refuses presigned PUTs carrying the SDK's optional CRC checksums (BadDigest).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Our own attempts, each under its own timeout, replace the SDK's retries.
      maxAttempts: 1,
    });
    this.breaker = outboundCircuitBreaker({ isProviderFailure: (err) => err instanceof TransientStoreError });
    this.cdnBase = settings.cdnBaseUrl.replace(/\/+$/, '');
  }

  get circuitState() {
    return this.breaker.state;
  }

  async presignUpload(key: string, contentType: string, bytes: number, ttlSeconds: number): Promise<PresignedUpload> {
    const command = new PutObjectCommand({ Bucket: this.settings.bucket, Key: key, ContentType: contentType, ContentLength: bytes });
    // Signing is local (no call to the store). Content-Type and Content-Length are signed headers:
    // the store refuses a PUT with another length, so the size limit holds at the store.
    const url = await getSignedUrl(this.client, command, {
      expiresIn: ttlSeconds,
      signableHeaders: new Set(['content-type', 'content-length']),
    });
    return {
      url,
      method: 'PUT',
      headers: { 'Content-Type': contentType, 'Content-Length': String(bytes) },
      expiresAt: new Date(Date.now() + ttlSeconds * 1000),
    };
  }

  async head(key: string): Promise<StoredObject | null> {
    return this.call('head', async (signal) => {
      try {
        const out = await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: key }), { abortSignal: signal });
        return { bytes: out.ContentLength ?? 0, contentType: out.ContentType ?? null };
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    });
  }

  async readRange(key: string, bytes: number): Promise<Buffer | null> {
    return this.call('read', async (signal) => {
      try {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: key, Range: `bytes=0-${bytes - 1}` }), {
          abortSignal: signal,
        });
        if (!out.Body) return Buffer.alloc(0);
        const body = out.Body;
        // The body streams after the headers: the attempt's deadline covers reading it too.
        const read = body.transformToByteArray();
        const aborted = new Promise<never>((_, reject) => {
          const fail = () => {
            (body as { destroy?: () => void }).destroy?.();
            reject(signal.reason instanceof Error ? signal.reason : new TransientStoreError('object read timed out'));
          };
          if (signal.aborted) fail();
          else signal.addEventListener('abort', fail, { once: true });
        });
        aborted.catch(() => undefined);
        return Buffer.from(await Promise.race([read, aborted])).subarray(0, bytes);
      } catch (err) {
        if (isNotFound(err)) return null;
        // An empty object has no byte 0: 416 Range Not Satisfiable.
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416) return Buffer.alloc(0);
        throw err;
      }
    });
  }

  async delete(key: string): Promise<void> {
    await this.call('delete', async (signal) => {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: key }), { abortSignal: signal });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    });
  }

  publicUrl(key: string): string {
    return `${this.cdnBase}/${key}`;
  }

  destroy(): void {
    this.client.destroy();
  }

  /**
   * One call: up to `attempts` tries, each under `timeoutMs`, retrying transient failures only,
   * behind the circuit breaker. Whatever is left over becomes DEPENDENCY_UNAVAILABLE.
   */
  private async call<T>(operation: string, attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (let i = 0; i < Math.max(1, this.settings.attempts); i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, RETRY_BACKOFF_MS * i));
      try {
        return await this.breaker.execute(async () => {
          try {
            return await attempt(AbortSignal.timeout(this.settings.timeoutMs));
          } catch (err) {
            throw isTransient(err) ? new TransientStoreError(`object store ${operation} failed: ${(err as Error).name ?? 'error'}`, { cause: err }) : err;
          }
        });
      } catch (err) {
        lastError = err;
        if (err instanceof BrokenCircuitError) break;
        if (!(err instanceof TransientStoreError)) break;
      }
    }
    throw new AppError(ErrorCode.DependencyUnavailable, 'the media store is unavailable; retry shortly', {
      dependency: 'object-store',
      operation,
      reason: lastError instanceof BrokenCircuitError ? 'circuit-open' : lastError instanceof TransientStoreError ? 'unreachable' : 'refused',
    });
  }
}

/** The store as the configuration names it (S3_* and MEDIA_* settings). */
export function objectStoreFromConfig(
  config: Pick<
    Config,
    | 'S3_ENDPOINT'
    | 'S3_REGION'
    | 'S3_BUCKET'
    | 'S3_ACCESS_KEY_ID'
    | 'S3_SECRET_ACCESS_KEY'
    | 'S3_FORCE_PATH_STYLE'
    | 'MEDIA_CDN_BASE_URL'
    | 'MEDIA_STORE_TIMEOUT_MS'
    | 'MEDIA_STORE_ATTEMPTS'
  >,
): S3ObjectStore {
  return new S3ObjectStore({
    endpoint: config.S3_ENDPOINT,
    region: config.S3_REGION,
    bucket: config.S3_BUCKET,
    accessKeyId: config.S3_ACCESS_KEY_ID,
    secretAccessKey: config.S3_SECRET_ACCESS_KEY,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    cdnBaseUrl: config.MEDIA_CDN_BASE_URL,
    timeoutMs: config.MEDIA_STORE_TIMEOUT_MS,
    attempts: config.MEDIA_STORE_ATTEMPTS,
  });
}
