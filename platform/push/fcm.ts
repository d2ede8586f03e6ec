import { BrokenCircuitError } from 'cockatiel';
import { z } from 'zod';
import { maskToken } from '../../domain/notifications/push';
import { ServiceAccountTokens, TokenEndpointError, type ServiceAccount } from '../google/service-account-tokens';
import type { Logger } from '../logging';
import { outboundCircuitBreaker, type OutboundBreakerOptions } from '../resilience/outbound-policy';
import { PushRejected, PushTokenInvalid, PushUnavailable, type PushMessage, type PushSender, type PushTokenProblem } from './push-sender';

export interface FcmSettings {
  /** https://fcm.googleapis.com in production; a local server in tests and on the dev stack. */
  apiBaseUrl?: string;
  /** Google's OAuth 2.0 token endpoint, also the assertion's audience. */
  tokenUrl?: string;
  /** The Firebase project the app is registered in. */
  projectId: string;
  /** A service account with the Firebase Cloud Messaging API Admin role (or cloudmessaging.messages.create). */
  serviceAccount: ServiceAccount;
  /** One HTTP attempt, from minting a token (when needed) to the last byte of the answer. */
  timeoutMs?: number;
  /** Attempts per send when FCM fails in a way worth retrying now (5xx, 429, timeout, network, a stale access token). */
  attempts?: number;
  /** Wait before the first retry without Retry-After; doubled for each further one (with jitter). */
  backoffMs?: number;
  /** A Retry-After longer than this is not waited for here: the send fails with it (the outbox waits). */
  maxRetryWaitMs?: number;
  breaker?: Omit<Partial<OutboundBreakerOptions>, 'isProviderFailure'>;
  logger?: Pick<Logger, 'warn' | 'error'>;
  /** How a retry waits (tests record the waits instead); false when `signal` fired first. */
  wait?: (ms: number, signal?: AbortSignal) => Promise<boolean>;
}

export const FCM_API_URL = 'https://fcm.googleapis.com';
export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_ATTEMPTS = 3;
const DEFAULT_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 5_000;
const DEFAULT_MAX_RETRY_WAIT_MS = 10_000;
const DEFAULT_HALF_OPEN_MS = 30_000;

/** FCM's error body: `{ error: { code, message, status, details: [{ '@type', errorCode } | { '@type', fieldViolations }] } }`. */
const fcmErrorSchema = z.object({
  error: z.object({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
    details: z.array(z.looseObject({ '@type': z.string(), errorCode: z.string().optional(), fieldViolations: z.array(z.looseObject({ field: z.string().optional() })).optional() })).optional(),
  }),
});
const sendAnswerSchema = z.object({ name: z.string().regex(/^projects\/[^/]+\/messages\/.+$/) });
const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
const BAD_REQUEST_TYPE = 'type.googleapis.com/google.rpc.BadRequest';

/** A failure another attempt soon may not meet (5xx, 429, timeout, network, a stale access token). */
class FcmRetryable extends PushUnavailable {
  override name = 'FcmRetryable';
}

/**
 * Firebase Cloud Messaging HTTP v1: `POST {base}/v1/projects/{projectId}/messages:send` with one
 * message per call, authorised by an OAuth 2.0 access token for a service account (scope
 * firebase.messaging), cached until shortly before it expires.
 *
 * How FCM's answers map (the `errorCode` of its FcmError detail, else the HTTP status):
 * - 200 `{name}` -> the message id.
 * - UNREGISTERED (404), INVALID_ARGUMENT naming `message.token` (400), SENDER_ID_MISMATCH (403)
 *   -> PushTokenInvalid: the caller removes the token.
 * - UNAVAILABLE (503), INTERNAL (500), any other 5xx, QUOTA_EXCEEDED (429), a network failure or
 *   an attempt past `timeoutMs` -> retried up to `attempts` times, after Retry-After when FCM
 *   sends one (FCM asks for it on 429 and may on 5xx) or exponential backoff with jitter; a
 *   Retry-After past `maxRetryWaitMs` ends the call at once. Then PushUnavailable(retryAfterMs).
 * - 401 without THIRD_PARTY_AUTH_ERROR: the access token was refused; dropped and retried.
 * - any other 403/404 (a project or role set up wrong) -> PushUnavailable, logged as an error,
 *   not retried now: an operator must act; the outbox keeps the push until its max age.
 * - INVALID_ARGUMENT about the payload, THIRD_PARTY_AUTH_ERROR, other 4xx -> PushRejected.
 * Every attempt runs through the circuit breaker (5 failures in 10 s open it for 30 s; token
 * and payload refusals don't count): while open, sends fail fast with PushUnavailable. Tokens
 * appear in messages and logs only masked.
 */
export class FcmClient implements PushSender {
  private readonly breaker;
  private readonly tokens: ServiceAccountTokens;
  private readonly sendUrl: string;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly maxRetryWaitMs: number;
  private readonly halfOpenAfterMs: number;
  private readonly wait: (ms: number, signal?: AbortSignal) => Promise<boolean>;

  constructor(private readonly settings: FcmSettings) {
    const base = (settings.apiBaseUrl ?? FCM_API_URL).replace(/\/+$/, '');
    this.sendUrl = `${base}/v1/projects/${encodeURIComponent(settings.projectId)}/messages:send`;
    this.timeoutMs = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.attempts = Math.max(1, settings.attempts ?? DEFAULT_ATTEMPTS);
    this.backoffMs = settings.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.maxRetryWaitMs = settings.maxRetryWaitMs ?? DEFAULT_MAX_RETRY_WAIT_MS;
    this.halfOpenAfterMs = settings.breaker?.halfOpenAfterMs ?? DEFAULT_HALF_OPEN_MS;
    this.wait = settings.wait ?? sleep;
    this.tokens = new ServiceAccountTokens({ serviceAccount: settings.serviceAccount, scope: FCM_SCOPE, tokenUrl: settings.tokenUrl, timeoutMs: this.timeoutMs });
    this.breaker = outboundCircuitBreaker({ isProviderFailure: (err) => err instanceof PushUnavailable, ...settings.breaker });
  }

  get circuitState() {
    return this.breaker.state;
  }

  async send(message: PushMessage, options: { signal?: AbortSignal } = {}): Promise<{ messageId: string }> {
    const { signal } = options;
    const body = JSON.stringify({ message: wireMessage(message) });
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw new PushUnavailable('push cancelled');
      try {
        return await this.breaker.execute(() => this.attempt(body, message.token, signal));
      } catch (err) {
        if (err instanceof BrokenCircuitError) throw new PushUnavailable('FCM circuit is open', this.halfOpenAfterMs);
        if (!(err instanceof FcmRetryable) || attempt >= this.attempts) throw err;
        const delay = err.retryAfterMs ?? this.backoff(attempt);
        if (delay > this.maxRetryWaitMs) throw err;
        this.settings.logger?.warn({ tokenHint: maskToken(message.token), attempt, delayMs: delay }, `${err.message}; retrying`);
        if (!(await this.wait(delay, signal))) throw new PushUnavailable('push cancelled');
      }
    }
  }

  private async attempt(body: string, token: string, signal?: AbortSignal): Promise<{ messageId: string }> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const attempt = signal ? AbortSignal.any([timeout, signal]) : timeout;
    let accessToken: string;
    try {
      accessToken = await this.tokens.get(attempt);
    } catch (err) {
      if (err instanceof TokenEndpointError) throw new FcmRetryable(err.message);
      throw err;
    }
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.sendUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json; charset=UTF-8', accept: 'application/json' },
        body,
        signal: attempt,
      });
      // The body is read under the same signal: a server that stalls mid-answer is cut too.
      text = await res.text();
    } catch (err) {
      if (timeout.aborted) throw new FcmRetryable(`FCM did not answer in time (${this.timeoutMs} ms)`);
      if (signal?.aborted) throw new PushUnavailable('push cancelled');
      const cause = (err as { cause?: { code?: unknown } }).cause;
      throw new FcmRetryable(`FCM unreachable: ${typeof cause?.code === 'string' ? cause.code : (err as Error).message}`);
    }
    if (res.ok) {
      const parsed = sendAnswerSchema.safeParse(parseJson(text));
      if (!parsed.success) throw new PushUnavailable(`FCM answered ${res.status} with an unexpected body`);
      return { messageId: parsed.data.name };
    }
    throw this.failure(res, text, accessToken, token);
  }

  private failure(res: Response, text: string, accessToken: string, token: string): Error {
    const parsed = fcmErrorSchema.safeParse(parseJson(text));
    const error = parsed.success ? parsed.data.error : undefined;
    const errorCode = error?.details?.find((d) => d['@type'] === FCM_ERROR_TYPE)?.errorCode;
    const status = error?.status;
    const what = `FCM answered ${res.status}${errorCode ? ` ${errorCode}` : status ? ` ${status}` : ''}`;
    const tokenProblem = this.tokenProblem(res.status, errorCode, error);
    if (tokenProblem) return new PushTokenInvalid(tokenProblem);
    if (res.status >= 500 || res.status === 429) return new FcmRetryable(what, retryAfterMs(res));
    if (res.status === 401 && errorCode !== 'THIRD_PARTY_AUTH_ERROR') {
      this.tokens.invalidate(accessToken);
      return new FcmRetryable(`${what} (the access token was refused)`);
    }
    if (res.status === 403 || res.status === 404) {
      this.settings.logger?.error({ status: res.status, errorCode, fcmStatus: status, tokenHint: maskToken(token) }, `${what}: check FCM_PROJECT_ID and the service account's role`);
      return new PushUnavailable(`${what} (FCM is not set up for this project or account)`);
    }
    return new PushRejected(`${what}: ${(error?.message ?? '').slice(0, 200)}`, res.status, errorCode ?? status);
  }

  private tokenProblem(httpStatus: number, errorCode: string | undefined, error: z.infer<typeof fcmErrorSchema>['error'] | undefined): PushTokenProblem | undefined {
    if (errorCode === 'UNREGISTERED' || errorCode === 'SENDER_ID_MISMATCH') return errorCode;
    if (httpStatus === 400 && (errorCode === 'INVALID_ARGUMENT' || error?.status === 'INVALID_ARGUMENT')) {
      // INVALID_ARGUMENT is also FCM's answer to a bad payload: only a violation of message.token is the token's fault.
      const fields = (error?.details ?? []).filter((d) => d['@type'] === BAD_REQUEST_TYPE).flatMap((d) => d.fieldViolations ?? []);
      if (fields.some((f) => f.field === 'message.token') || /registration token/i.test(error?.message ?? '')) return 'INVALID_ARGUMENT';
    }
    return undefined;
  }

  private backoff(attempt: number): number {
    const full = Math.min(this.backoffMs * 2 ** (attempt - 1), MAX_BACKOFF_MS);
    return Math.round(full / 2 + (Math.random() * full) / 2); // jittered, so many senders do not retry in step
  }
}

/** FCM v1's Message resource (proto field names, as FCM documents them). */
function wireMessage(m: PushMessage) {
  return {
    token: m.token,
    notification: { title: m.title, body: m.body },
    data: m.data,
    android: {
      priority: m.priority,
      collapse_key: m.collapseKey,
      ...(m.ttlSeconds !== undefined ? { ttl: `${m.ttlSeconds}s` } : {}),
      notification: { tag: m.collapseKey },
    },
  };
}

/** Retry-After in seconds (FCM sends seconds) or as an HTTP date. */
function retryAfterMs(res: Response): number | undefined {
  const header = res.headers.get('retry-after')?.trim();
  if (!header) return undefined;
  if (/^\d{1,6}$/.test(header)) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Waits `ms`; false when `signal` fired first. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export { PushRejected, PushTokenInvalid, PushUnavailable } from './push-sender';
