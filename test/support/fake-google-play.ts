import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';

/**
 * A local stand-in for Google Play's Developer API and Google's OAuth 2.0 token endpoint, speaking
 * their wire format: the JWT-bearer grant (the assertion's RS256 signature checked against the
 * test service account's public key), purchases.products.get and :consume, and
 * purchases.voidedpurchases.list with token pagination. Errors have Google's JSON shape. Tests
 * steer it through `controls`; another process can steer it through POST /__fake__/<control>.
 */

export type FakePurchaseState = 'purchased' | 'canceled' | 'pending';

export interface FakePurchaseInput {
  token: string;
  productId: string;
  orderId: string;
  /** What the app put in obfuscatedAccountId when it started the billing flow. */
  accountId?: string;
  profileId?: string;
  packageName?: string;
  state?: FakePurchaseState;
  consumed?: boolean;
  quantity?: number;
  purchaseTimeMillis?: number;
  regionCode?: string;
  /** 0 test, 1 promo, 2 rewarded; absent for a real payment. */
  purchaseType?: number;
}

export interface FakeCall {
  endpoint: 'token' | 'api';
  method: string;
  /** Without the query string. */
  path: string;
  query: Record<string, string>;
  /** An Authorization header was sent (its value is never kept). */
  authorized: boolean;
}

type Endpoint = FakeCall['endpoint'];

export interface FakeGooglePlayControls {
  addPurchase(input: FakePurchaseInput): void;
  /** Refunds the purchase at `when` (it turns canceled and shows in the voided list). */
  voidPurchase(token: string, when: Date | number, options?: { reason?: number; source?: number }): void;
  /** The next `n` requests to `endpoint` (default the API) answer `status` with Google's error body. */
  failNext(n: number, status: number, options?: { endpoint?: Endpoint }): void;
  /** The next `n` requests to `endpoint` (default the API) are never answered (until close). */
  stallNext(n: number, options?: { endpoint?: Endpoint }): void;
  /** Every access token issued so far stops working (the API answers 401). */
  revokeAccessTokens(): void;
  /** A stored purchase as the fake sees it, for assertions. */
  purchase(token: string): Readonly<StoredPurchase> | undefined;
  /** Resolves with the next request to `endpoint` (default the API) that arrives after this call. */
  nextCall(endpoint?: Endpoint): Promise<FakeCall>;
  /** Requests received so far, oldest first (control requests excluded). */
  readonly calls: readonly FakeCall[];
  clearCalls(): void;
}

export interface FakeGooglePlay {
  /** The API base URL (GOOGLE_PLAY_API_URL). */
  url: string;
  /** The token endpoint (GOOGLE_PLAY_TOKEN_URL), also the assertion's audience. */
  tokenUrl: string;
  packageName: string;
  serviceAccount: { clientEmail: string; privateKeyPem: string };
  controls: FakeGooglePlayControls;
  close(): Promise<void>;
}

interface StoredPurchase extends Required<Omit<FakePurchaseInput, 'accountId' | 'profileId' | 'regionCode' | 'purchaseType'>> {
  accountId?: string;
  profileId?: string;
  regionCode?: string;
  purchaseType?: number;
  acknowledged: boolean;
  voided?: { timeMillis: number; reason: number; source: number };
}

const SCOPE = 'https://www.googleapis.com/auth/androidpublisher';
const PRODUCT_PATH = /^\/androidpublisher\/v3\/applications\/([^/]+)\/purchases\/products\/([^/]+)\/tokens\/([^/:]+)(:consume)?$/;
const VOIDED_PATH = /^\/androidpublisher\/v3\/applications\/([^/]+)\/purchases\/voidedpurchases$/;
const GRPC_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  503: 'UNAVAILABLE',
};
const STATE_CODES: Record<FakePurchaseState, 0 | 1 | 2> = { purchased: 0, canceled: 1, pending: 2 };

export async function startFakeGooglePlay(
  options: {
    port?: number;
    packageName?: string;
    tokenLifetimeSeconds?: number;
    /** The service account's key (PKCS#8 PEM): a restarted fake keeps the key a running worker holds. */
    privateKeyPem?: string;
  } = {},
): Promise<FakeGooglePlay> {
  const packageName = options.packageName ?? 'com.aura.voicechat';
  const tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3599;
  const keys = options.privateKeyPem
    ? { privateKey: createPrivateKey(options.privateKeyPem), publicKey: createPublicKey(options.privateKeyPem) }
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const serviceAccount = {
    clientEmail: 'aura-play-fake@aura-test.iam.gserviceaccount.com',
    privateKeyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };

  const purchases = new Map<string, StoredPurchase>();
  const accessTokens = new Map<string, number>(); // token → expiry (ms)
  const calls: FakeCall[] = [];
  const scripted: Record<Endpoint, Array<number | 'stall'>> = { api: [], token: [] };
  const stalled = new Set<ServerResponse>();
  const waiting: Array<{ endpoint: Endpoint; resolve: (call: FakeCall) => void }> = [];
  let tokenUrl = '';

  const controls: FakeGooglePlayControls = {
    addPurchase(input) {
      purchases.set(input.token, {
        packageName,
        state: 'purchased',
        consumed: false,
        quantity: 1,
        purchaseTimeMillis: Date.now(),
        ...input,
        acknowledged: input.consumed ?? false,
      });
    },
    voidPurchase(token, when, voidOptions = {}) {
      const purchase = purchases.get(token);
      if (!purchase) throw new Error('no such purchase');
      purchase.state = 'canceled';
      purchase.voided = { timeMillis: Number(when), reason: voidOptions.reason ?? 1, source: voidOptions.source ?? 0 };
    },
    failNext(n, status, scriptOptions = {}) {
      scripted[scriptOptions.endpoint ?? 'api'].push(...Array<number>(n).fill(status));
    },
    stallNext(n, scriptOptions = {}) {
      scripted[scriptOptions.endpoint ?? 'api'].push(...Array<'stall'>(n).fill('stall'));
    },
    revokeAccessTokens() {
      accessTokens.clear();
    },
    purchase: (token) => purchases.get(token),
    nextCall: (endpoint = 'api') => new Promise((resolve) => waiting.push({ endpoint, resolve })),
    calls,
    clearCalls() {
      calls.length = 0;
    },
  };

  const server = createServer((req, res) => {
    void readBody(req).then(async (body) => {
      const url = new URL(req.url ?? '/', 'http://fake');
      if (url.pathname.startsWith('/__fake__/')) return control(url.pathname.slice('/__fake__/'.length), body, res);
      const endpoint: Endpoint = url.pathname === '/token' ? 'token' : 'api';
      const call: FakeCall = { endpoint, method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), authorized: Boolean(req.headers.authorization) };
      calls.push(call);
      for (const waiter of waiting.filter((w) => w.endpoint === endpoint)) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve(call);
      }
      const script = scripted[endpoint].shift();
      if (script === 'stall') return void stalled.add(res);
      if (script !== undefined) {
        return endpoint === 'token'
          ? json(res, script, { error: 'internal_failure', error_description: 'scripted failure' })
          : googleError(res, script, 'Backend Error', 'backendError');
      }
      if (endpoint === 'token') return json(res, ...(await mintToken(req, body)));
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const expires = bearer ? accessTokens.get(bearer) : undefined;
      if (!expires || expires <= Date.now()) {
        return googleError(res, 401, 'Request had invalid authentication credentials.', 'authError');
      }
      return api(req.method ?? '', url, res);
    }).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: `fake failed: ${(err as Error).message}` });
    });
  });

  async function mintToken(req: IncomingMessage, body: string): Promise<[number, unknown]> {
    const form = new URLSearchParams(body);
    if (req.method !== 'POST' || !/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')) {
      return [400, { error: 'invalid_request', error_description: 'Expected a form POST.' }];
    }
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      return [400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type.' }];
    }
    try {
      const { payload } = await jwtVerify(form.get('assertion') ?? '', keys.publicKey as KeyObject, {
        algorithms: ['RS256'],
        issuer: serviceAccount.clientEmail,
        audience: tokenUrl,
        requiredClaims: ['iat', 'exp'],
      });
      if (payload.scope !== SCOPE) return [400, { error: 'invalid_scope', error_description: 'Invalid OAuth scope.' }];
      if (payload.exp! - payload.iat! > 3600) return [400, { error: 'invalid_grant', error_description: 'Invalid JWT: expiration too far.' }];
    } catch {
      return [400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }];
    }
    const accessToken = `ya29.fake-${randomBytes(24).toString('base64url')}`;
    accessTokens.set(accessToken, Date.now() + tokenLifetimeSeconds * 1000);
    return [200, { access_token: accessToken, expires_in: tokenLifetimeSeconds, token_type: 'Bearer' }];
  }

  function api(method: string, url: URL, res: ServerResponse): void {
    const product = PRODUCT_PATH.exec(url.pathname);
    if (product) {
      const [pkg, productId, token] = product.slice(1, 4).map((part) => decodeURIComponent(part!));
      const consume = Boolean(product[4]);
      if (method !== (consume ? 'POST' : 'GET')) return googleError(res, 405, 'Method not allowed.', 'methodNotAllowed');
      // Like Google: a token of another app or another product is not found.
      const purchase = purchases.get(token!);
      if (!purchase || purchase.packageName !== pkg || purchase.productId !== productId) {
        return googleError(res, 404, 'The purchase token was not found.', 'purchaseTokenNotFound');
      }
      if (!consume) return json(res, 200, productPurchase(purchase));
      if (purchase.state !== 'purchased' || purchase.consumed) {
        return googleError(res, 400, 'The product purchase is not owned by the user.', 'productNotOwnedByUser');
      }
      purchase.consumed = true;
      purchase.acknowledged = true;
      return void res.writeHead(204).end();
    }
    const voided = VOIDED_PATH.exec(url.pathname);
    if (voided && method === 'GET') {
      if (decodeURIComponent(voided[1]!) !== packageName) return googleError(res, 403, 'The caller does not have permission', 'permissionDenied');
      const startTime = Number(url.searchParams.get('startTime') ?? Date.now() - 30 * 86_400_000);
      const endTime = Number(url.searchParams.get('endTime') ?? Number.MAX_SAFE_INTEGER);
      const maxResults = Number(url.searchParams.get('maxResults') ?? 1000);
      const offset = url.searchParams.get('token') ? Number(Buffer.from(url.searchParams.get('token')!, 'base64url').toString()) : 0;
      if (![startTime, endTime, maxResults, offset].every(Number.isSafeInteger) || maxResults < 1 || maxResults > 1000 || offset < 0) {
        return googleError(res, 400, 'Invalid Value', 'invalid');
      }
      const all = [...purchases.values()]
        .filter((p) => p.voided && p.voided.timeMillis >= startTime && p.voided.timeMillis <= endTime)
        .sort((a, b) => a.voided!.timeMillis - b.voided!.timeMillis || a.token.localeCompare(b.token));
      const page = all.slice(offset, offset + maxResults);
      const next = offset + maxResults < all.length ? Buffer.from(String(offset + maxResults)).toString('base64url') : undefined;
      return json(res, 200, {
        pageInfo: { totalResults: page.length, resultPerPage: maxResults, startIndex: offset },
        ...(next ? { tokenPagination: { nextPageToken: next } } : {}),
        // Google leaves out an empty list.
        ...(page.length ? { voidedPurchases: page.map(voidedPurchase) } : {}),
      });
    }
    return googleError(res, 404, 'Not Found', 'notFound');
  }

  function control(name: string, body: string, res: ServerResponse): void {
    const args = (body ? JSON.parse(body) : {}) as Record<string, unknown>;
    try {
      if (name === 'purchases') controls.addPurchase(args as unknown as FakePurchaseInput);
      else if (name === 'voids') controls.voidPurchase(String(args.token), Number(args.when), args as { reason?: number; source?: number });
      else if (name === 'fail') controls.failNext(Number(args.n), Number(args.status), args as { endpoint?: Endpoint });
      else if (name === 'calls') return json(res, 200, { calls });
      else return json(res, 404, { error: 'unknown control' });
    } catch (err) {
      return json(res, 400, { error: (err as Error).message });
    }
    json(res, 200, {});
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  tokenUrl = `${url}/token`;

  return {
    url,
    tokenUrl,
    packageName,
    serviceAccount,
    controls,
    async close() {
      for (const res of stalled) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function productPurchase(p: StoredPurchase) {
  return {
    kind: 'androidpublisher#productPurchase',
    purchaseTimeMillis: String(p.purchaseTimeMillis),
    purchaseState: STATE_CODES[p.state],
    consumptionState: p.consumed ? 1 : 0,
    developerPayload: '',
    orderId: p.orderId,
    acknowledgementState: p.acknowledged ? 1 : 0,
    ...(p.purchaseType !== undefined ? { purchaseType: p.purchaseType } : {}),
    ...(p.accountId !== undefined ? { obfuscatedExternalAccountId: p.accountId } : {}),
    ...(p.profileId !== undefined ? { obfuscatedExternalProfileId: p.profileId } : {}),
    regionCode: p.regionCode ?? 'US',
    // Google leaves out a quantity of 1.
    ...(p.quantity !== 1 ? { quantity: p.quantity } : {}),
  };
}

function voidedPurchase(p: StoredPurchase) {
  return {
    kind: 'androidpublisher#voidedPurchase',
    purchaseToken: p.token,
    orderId: p.orderId,
    purchaseTimeMillis: String(p.purchaseTimeMillis),
    voidedTimeMillis: String(p.voided!.timeMillis),
    voidedSource: p.voided!.source,
    voidedReason: p.voided!.reason,
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => resolve(raw));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body));
}

/** Google's error body. */
function googleError(res: ServerResponse, code: number, message: string, reason: string): void {
  const status = GRPC_STATUS[code] ?? (code >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION');
  json(res, code, { error: { code, message, errors: [{ message, domain: 'global', reason }], status } });
}
