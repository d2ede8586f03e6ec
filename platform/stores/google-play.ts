import { BrokenCircuitError } from 'cockatiel';
import { z } from 'zod';
import { GOOGLE_TOKEN_URL, ServiceAccountTokens, TokenEndpointError } from '../google/service-account-tokens';
import { outboundCircuitBreaker, type OutboundBreakerOptions } from '../resilience/outbound-policy';
import {
  StoreRefusal,
  TransientStoreError,
  type ProductPurchase,
  type StorePurchases,
  type StoreRefusalReason,
  type VoidedPurchasesPage,
  type VoidedPurchasesQuery,
} from './store-purchases';

export interface GooglePlaySettings {
  /** https://androidpublisher.googleapis.com in production; a local server in tests. */
  apiBaseUrl?: string;
  /** Google's OAuth 2.0 token endpoint, also the assertion's audience. */
  tokenUrl?: string;
  /** The app's application id, e.g. com.aura.voicechat. */
  packageName: string;
  /** A service account granted access to the app in the Play Console. */
  serviceAccount: { clientEmail: string; privateKeyPem: string };
  /** One call, from minting a token (when needed) to the last byte of the answer. */
  timeoutMs?: number;
  breaker?: Omit<Partial<OutboundBreakerOptions>, 'isProviderFailure'>;
}

export const GOOGLE_PLAY_API_URL = 'https://androidpublisher.googleapis.com';
export { GOOGLE_TOKEN_URL };
const SCOPE = 'https://www.googleapis.com/auth/androidpublisher';
/** Below the activities' attempt timeouts, which also pass their own signal. */
const DEFAULT_ATTEMPT_TIMEOUT_MS = 4_000;

/** Google's int64 fields arrive as decimal strings. */
const int64 = z.string().regex(/^\d{1,19}$/);
const int32 = z.number().int();

const productPurchaseSchema = z.object({
  kind: z.string(),
  purchaseTimeMillis: int64,
  purchaseState: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  consumptionState: z.union([z.literal(0), z.literal(1)]),
  acknowledgementState: z.union([z.literal(0), z.literal(1)]),
  orderId: z.string().optional(),
  purchaseType: int32.optional(),
  quantity: int32.min(1).default(1),
  obfuscatedExternalAccountId: z.string().optional(),
  obfuscatedExternalProfileId: z.string().optional(),
  regionCode: z.string().optional(),
}) satisfies z.ZodType<ProductPurchase, unknown>;

const voidedPurchasesSchema = z.object({
  // Google leaves out an empty list.
  voidedPurchases: z
    .array(
      z.object({
        kind: z.string(),
        purchaseToken: z.string().min(1),
        orderId: z.string().optional(),
        purchaseTimeMillis: int64,
        voidedTimeMillis: int64,
        voidedSource: int32,
        voidedReason: int32,
        voidedQuantity: int32.optional(),
      }),
    )
    .default([]),
  tokenPagination: z.object({ nextPageToken: z.string().min(1) }).optional(),
}) satisfies z.ZodType<VoidedPurchasesPage, unknown>;

const consumeSchema = z.unknown();

/** Google's error body: `{ error: { code, message, errors: [{ reason, domain, message }], status } }`. */
const googleErrorSchema = z.object({ error: z.object({ errors: z.array(z.object({ reason: z.string() })).optional(), status: z.string().optional() }) });

type Operation = 'read' | 'consume' | 'list';
const REFUSALS: Record<number, Record<Operation, StoreRefusalReason>> = {
  400: { read: 'INVALID_PURCHASE_TOKEN', consume: 'NOT_CONSUMABLE', list: 'INVALID_REQUEST' },
  404: { read: 'PURCHASE_NOT_FOUND', consume: 'PURCHASE_NOT_FOUND', list: 'INVALID_REQUEST' },
  410: { read: 'PURCHASE_GONE', consume: 'PURCHASE_GONE', list: 'INVALID_REQUEST' },
};

/**
 * Google Play Developer API (androidpublisher v3) for one-time products: purchases.products.get
 * and :consume, and purchases.voidedpurchases.list. Authenticates as a service account
 * (ServiceAccountTokens: a JWT-bearer grant, the token cached until shortly before it expires
 * and dropped when the API answers 401).
 *
 * One HTTP attempt per call (Temporal's activity retry policy is the one retry layer): 400, 404
 * and 410 are refusals (`StoreRefusal`); anything else that is not a success (5xx, 429, 401/403,
 * a failing token endpoint, network failures, the attempt's timeout) is a `TransientStoreError`
 * and counts against the circuit breaker. Purchase and access tokens never appear in a message.
 */
export class GooglePlayClient implements StorePurchases {
  private readonly breaker;
  private readonly apiBaseUrl: string;
  private readonly timeoutMs: number;
  private readonly tokens: ServiceAccountTokens;

  constructor(private readonly settings: GooglePlaySettings) {
    this.apiBaseUrl = (settings.apiBaseUrl ?? GOOGLE_PLAY_API_URL).replace(/\/+$/, '');
    this.timeoutMs = settings.timeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
    // The key is parsed here: a malformed one fails at start, not at the first purchase.
    this.tokens = new ServiceAccountTokens({
      serviceAccount: settings.serviceAccount,
      scope: SCOPE,
      ...(settings.tokenUrl ? { tokenUrl: settings.tokenUrl } : {}),
      timeoutMs: this.timeoutMs,
    });
    this.breaker = outboundCircuitBreaker({ isProviderFailure: (err) => err instanceof TransientStoreError, ...settings.breaker });
  }

  get circuitState() {
    return this.breaker.state;
  }

  async getProductPurchase(productId: string, purchaseToken: string, options: { signal?: AbortSignal } = {}): Promise<ProductPurchase> {
    return this.call('GET', this.purchasePath(productId, purchaseToken), 'read', productPurchaseSchema, options.signal);
  }

  async consumeProductPurchase(productId: string, purchaseToken: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.call('POST', `${this.purchasePath(productId, purchaseToken)}:consume`, 'consume', consumeSchema, options.signal);
  }

  async listVoidedPurchases(query: VoidedPurchasesQuery, options: { signal?: AbortSignal } = {}): Promise<VoidedPurchasesPage> {
    const params = new URLSearchParams({ startTime: String(query.startTimeMillis) });
    if (query.pageToken) params.set('token', query.pageToken);
    if (query.maxResults) params.set('maxResults', String(query.maxResults));
    params.set('type', '0'); // one-time products only
    const path = `${this.applicationPath()}/purchases/voidedpurchases?${params}`;
    return this.call('GET', path, 'list', voidedPurchasesSchema, options.signal);
  }

  private applicationPath(): string {
    return `/androidpublisher/v3/applications/${encodeURIComponent(this.settings.packageName)}`;
  }

  private purchasePath(productId: string, purchaseToken: string): string {
    return `${this.applicationPath()}/purchases/products/${encodeURIComponent(productId)}/tokens/${encodeURIComponent(purchaseToken)}`;
  }

  private async call<T>(method: 'GET' | 'POST', path: string, op: Operation, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await this.breaker.execute(() => this.attempt(method, path, op, schema, signal));
    } catch (err) {
      if (err instanceof BrokenCircuitError) throw new TransientStoreError('Google Play circuit is open');
      throw err;
    }
  }

  private async attempt<T>(method: 'GET' | 'POST', path: string, op: Operation, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const attempt = signal ? AbortSignal.any([timeout, signal]) : timeout;
    const accessToken = await this.accessToken(attempt);
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.apiBaseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
        signal: attempt,
      });
      // The body is read under the same signal: a server that stalls mid-answer is cut too.
      text = await res.text();
    } catch (err) {
      throw unreachable('Google Play', attempt, err);
    }
    if (res.ok) {
      const parsed = schema.safeParse(text ? parseJson(text) : {});
      if (!parsed.success) throw new TransientStoreError(`Google Play answered ${res.status} with an unexpected body`);
      return parsed.data;
    }
    if (res.status === 401) {
      // Revoked or expired early: the next attempt mints a new one.
      this.tokens.invalidate(accessToken);
      throw new TransientStoreError('Google Play refused the access token (401)');
    }
    const refusal = REFUSALS[res.status]?.[op];
    if (refusal) throw new StoreRefusal(refusal, res.status, googleReason(text));
    throw new TransientStoreError(`Google Play answered ${res.status}`);
  }

  /** A cached access token, or a new one; waits no longer than the attempt. */
  private async accessToken(attempt: AbortSignal): Promise<string> {
    try {
      return await this.tokens.get(attempt);
    } catch (err) {
      if (err instanceof TokenEndpointError) throw new TransientStoreError(err.message);
      throw err;
    }
  }
}

function unreachable(who: string, signal: AbortSignal, err: unknown): TransientStoreError {
  return new TransientStoreError(signal.aborted ? `${who} did not answer in time` : `${who} unreachable: ${(err as Error).message}`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function googleReason(text: string): string | undefined {
  const parsed = googleErrorSchema.safeParse(parseJson(text));
  return parsed.success ? (parsed.data.error.errors?.[0]?.reason ?? parsed.data.error.status) : undefined;
}

export { StoreRefusal, TransientStoreError } from './store-purchases';
export type { StorePurchases, ProductPurchase, VoidedPurchase, VoidedPurchasesPage, VoidedPurchasesQuery } from './store-purchases';
