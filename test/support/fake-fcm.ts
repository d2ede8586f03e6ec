import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';

/**
 * A local stand-in for Firebase Cloud Messaging's HTTP v1 API and Google's OAuth 2.0 token
 * endpoint, speaking their wire format: the JWT-bearer grant (the assertion's RS256 signature
 * checked against the test service account's public key, scope firebase.messaging), and
 * `POST /v1/projects/{project}/messages:send` validating the message as FCM does (one target,
 * string-only data under 4 KB, known fields only, Android priority and TTL) and answering errors
 * in FCM's shape (`{error:{code,message,status,details:[{'@type':…FcmError, errorCode}]}}`).
 * Tests steer it through `controls`; another process through POST /__fake__/<control>.
 */

export type FcmErrorCode = 'UNREGISTERED' | 'INVALID_ARGUMENT' | 'SENDER_ID_MISMATCH' | 'QUOTA_EXCEEDED' | 'UNAVAILABLE' | 'INTERNAL' | 'THIRD_PARTY_AUTH_ERROR';

export interface FakeFcmCall {
  endpoint: 'token' | 'api';
  method: string;
  path: string;
  /** An Authorization header was sent (its value is never kept). */
  authorized: boolean;
  /** The registration token the message was for. */
  token?: string;
}

/** A message FCM accepted. */
export interface FakeFcmDelivery {
  name: string;
  token: string;
  message: {
    token: string;
    notification?: { title?: string; body?: string };
    data?: Record<string, string>;
    android?: { priority?: string; collapse_key?: string; collapseKey?: string; ttl?: string; notification?: Record<string, unknown> };
  };
}

type Endpoint = FakeFcmCall['endpoint'];
type Scripted = { kind: 'stall' } | { kind: 'fail'; status: number; errorCode?: FcmErrorCode; retryAfterSeconds?: number };

export interface FakeFcmControls {
  /** The next `n` requests to `endpoint` (default the API) fail: with `errorCode`'s status, or `status`. */
  failNext(n: number, failure: { status?: number; errorCode?: FcmErrorCode; retryAfterSeconds?: number }, options?: { endpoint?: Endpoint }): void;
  /** The next `n` requests to `endpoint` (default the API) are never answered (until close). */
  stallNext(n: number, options?: { endpoint?: Endpoint }): void;
  /** The app was uninstalled: FCM answers 404 UNREGISTERED for this token from now on. */
  unregister(token: string): void;
  /** A token of another Firebase project: 403 SENDER_ID_MISMATCH. */
  belongToOtherSender(token: string): void;
  /** With `acceptAnyToken: false`, only registered tokens are accepted (others: 400 INVALID_ARGUMENT). */
  register(token: string): void;
  /** Every access token issued so far stops working (the API answers 401). */
  revokeAccessTokens(): void;
  /** Messages accepted so far, oldest first. */
  readonly deliveries: readonly FakeFcmDelivery[];
  /** Resolves with the next accepted message (optionally for `token`) after this call. */
  nextDelivery(token?: string): Promise<FakeFcmDelivery>;
  /** Resolves with the next request to `endpoint` (default the API) that arrives after this call. */
  nextCall(endpoint?: Endpoint): Promise<FakeFcmCall>;
  /** Requests received so far, oldest first (control requests excluded). */
  readonly calls: readonly FakeFcmCall[];
  clear(): void;
}

export interface FakeFcm {
  /** The API base URL (FCM_API_URL). */
  url: string;
  /** The token endpoint (FCM_TOKEN_URL), also the assertion's audience. */
  tokenUrl: string;
  projectId: string;
  serviceAccount: { clientEmail: string; privateKeyPem: string };
  controls: FakeFcmControls;
  close(): Promise<void>;
}

const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const SEND_PATH = /^\/v1\/projects\/([^/]+)\/messages:send$/;
/** What FCM registration tokens are made of. */
const TOKEN_SHAPE = /^[A-Za-z0-9_:.-]{16,4096}$/;
const ERROR_STATUS: Record<FcmErrorCode, number> = {
  UNREGISTERED: 404,
  INVALID_ARGUMENT: 400,
  SENDER_ID_MISMATCH: 403,
  QUOTA_EXCEEDED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
  THIRD_PARTY_AUTH_ERROR: 401,
};
const GRPC_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};
const MESSAGE_FIELDS = new Set(['name', 'data', 'notification', 'android', 'webpush', 'apns', 'fcm_options', 'fcmOptions', 'token', 'topic', 'condition']);
const ANDROID_FIELDS = new Set(['collapse_key', 'collapseKey', 'priority', 'ttl', 'restricted_package_name', 'restrictedPackageName', 'data', 'notification', 'fcm_options', 'fcmOptions', 'direct_boot_ok', 'directBootOk']);
const RESERVED_DATA_KEYS = /^(from|notification|message_type|google.*|gcm.*)$/i;
const MAX_DATA_BYTES = 4096;

class Refusal {
  constructor(
    readonly status: number,
    readonly message: string,
    readonly errorCode?: FcmErrorCode,
    readonly field?: string,
  ) {}
}

export async function startFakeFcm(
  options: {
    port?: number;
    projectId?: string;
    tokenLifetimeSeconds?: number;
    /** The service account's key (PKCS#8 PEM): a restarted fake keeps the key a running worker holds. */
    privateKeyPem?: string;
    /** True (default): any well-formed token is an installed app until unregistered; false: only registered ones. */
    acceptAnyToken?: boolean;
  } = {},
): Promise<FakeFcm> {
  const projectId = options.projectId ?? 'aura-test';
  const tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3599;
  const acceptAnyToken = options.acceptAnyToken ?? true;
  const keys = options.privateKeyPem
    ? { privateKey: createPrivateKey(options.privateKeyPem), publicKey: createPublicKey(options.privateKeyPem) }
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const serviceAccount = {
    clientEmail: `firebase-adminsdk-fake@${projectId}.iam.gserviceaccount.com`,
    privateKeyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };

  const accessTokens = new Map<string, number>(); // token → expiry (ms)
  const registered = new Set<string>();
  const unregistered = new Set<string>();
  const foreign = new Set<string>();
  const calls: FakeFcmCall[] = [];
  const deliveries: FakeFcmDelivery[] = [];
  const scripted: Record<Endpoint, Scripted[]> = { api: [], token: [] };
  const stalled = new Set<ServerResponse>();
  const callWaiters: Array<{ endpoint: Endpoint; resolve: (call: FakeFcmCall) => void }> = [];
  const deliveryWaiters: Array<{ token?: string; resolve: (d: FakeFcmDelivery) => void }> = [];
  let tokenUrl = '';
  let sent = 0;

  const controls: FakeFcmControls = {
    failNext(n, failure, scriptOptions = {}) {
      const status = failure.status ?? (failure.errorCode ? ERROR_STATUS[failure.errorCode] : 503);
      for (let i = 0; i < n; i++) scripted[scriptOptions.endpoint ?? 'api'].push({ kind: 'fail', status, errorCode: failure.errorCode, retryAfterSeconds: failure.retryAfterSeconds });
    },
    stallNext(n, scriptOptions = {}) {
      for (let i = 0; i < n; i++) scripted[scriptOptions.endpoint ?? 'api'].push({ kind: 'stall' });
    },
    unregister(token) {
      unregistered.add(token);
    },
    belongToOtherSender(token) {
      foreign.add(token);
    },
    register(token) {
      registered.add(token);
      unregistered.delete(token);
    },
    revokeAccessTokens() {
      accessTokens.clear();
    },
    deliveries,
    nextDelivery: (token) => new Promise((resolve) => deliveryWaiters.push({ token, resolve })),
    nextCall: (endpoint = 'api') => new Promise((resolve) => callWaiters.push({ endpoint, resolve })),
    calls,
    clear() {
      calls.length = 0;
      deliveries.length = 0;
    },
  };

  const server = createServer((req, res) => {
    void readBody(req)
      .then(async (body) => {
        const url = new URL(req.url ?? '/', 'http://fake');
        if (url.pathname.startsWith('/__fake__/')) return control(req.method ?? '', url.pathname.slice('/__fake__/'.length), body, res);
        const endpoint: Endpoint = url.pathname === '/token' ? 'token' : 'api';
        const call: FakeFcmCall = { endpoint, method: req.method ?? '', path: url.pathname, authorized: Boolean(req.headers.authorization) };
        if (endpoint === 'api') {
          const token = (parseJson(body) as { message?: { token?: unknown } } | undefined)?.message?.token;
          if (typeof token === 'string') call.token = token;
        }
        calls.push(call);
        for (const waiter of callWaiters.filter((w) => w.endpoint === endpoint)) {
          callWaiters.splice(callWaiters.indexOf(waiter), 1);
          waiter.resolve(call);
        }
        const script = scripted[endpoint].shift();
        if (script?.kind === 'stall') return void stalled.add(res);
        if (script) {
          if (endpoint === 'token') return json(res, script.status, { error: 'internal_failure', error_description: 'scripted failure' });
          return fcmError(res, new Refusal(script.status, 'scripted failure', script.errorCode), script.retryAfterSeconds);
        }
        if (endpoint === 'token') return json(res, ...(await mintToken(req, body)));
        const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const expires = bearer ? accessTokens.get(bearer) : undefined;
        if (!expires || expires <= Date.now()) {
          return fcmError(res, new Refusal(401, 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.'));
        }
        const result = send(req, url, body);
        if (result instanceof Refusal) return fcmError(res, result);
        deliveries.push(result);
        for (const waiter of deliveryWaiters.filter((w) => !w.token || w.token === result.token)) {
          deliveryWaiters.splice(deliveryWaiters.indexOf(waiter), 1);
          waiter.resolve(result);
        }
        return json(res, 200, { name: result.name });
      })
      .catch((err: unknown) => {
        if (!res.headersSent) json(res, 500, { error: { code: 500, message: `fake failed: ${(err as Error).message}`, status: 'INTERNAL' } });
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
      if (payload.scope !== SCOPE) return [400, { error: 'invalid_scope', error_description: 'Invalid OAuth scope or ID token audience provided.' }];
      if (payload.exp! - payload.iat! > 3600) return [400, { error: 'invalid_grant', error_description: 'Invalid JWT: Token must be a short-lived token (60 minutes).' }];
    } catch {
      return [400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }];
    }
    const accessToken = `ya29.fake-fcm-${randomBytes(24).toString('base64url')}`;
    accessTokens.set(accessToken, Date.now() + tokenLifetimeSeconds * 1000);
    return [200, { access_token: accessToken, expires_in: tokenLifetimeSeconds, token_type: 'Bearer' }];
  }

  function send(req: IncomingMessage, url: URL, body: string): FakeFcmDelivery | Refusal {
    const path = SEND_PATH.exec(url.pathname);
    if (!path) return new Refusal(404, 'Not Found');
    if (req.method !== 'POST') return new Refusal(405, 'Method not allowed.');
    if (decodeURIComponent(path[1]!) !== projectId) {
      return new Refusal(403, `Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/${path[1]}'.`);
    }
    if (!/^application\/json/.test(req.headers['content-type'] ?? '')) return new Refusal(400, 'Invalid JSON payload received.');
    const parsed = parseJson(body);
    if (!isObject(parsed)) return new Refusal(400, 'Invalid JSON payload received.', 'INVALID_ARGUMENT');
    for (const key of Object.keys(parsed)) {
      if (key !== 'message' && key !== 'validate_only' && key !== 'validateOnly') return unknownName(key);
    }
    const message = parsed.message;
    if (!isObject(message)) return new Refusal(400, 'Request contains an invalid argument.', 'INVALID_ARGUMENT', 'message');
    for (const key of Object.keys(message)) if (!MESSAGE_FIELDS.has(key)) return unknownName(`message.${key}`);
    const targets = ['token', 'topic', 'condition'].filter((t) => message[t] !== undefined);
    if (targets.length !== 1 || typeof message.token !== 'string') {
      return new Refusal(400, 'Exactly one of token, topic or condition must be set; this fake speaks token only.', 'INVALID_ARGUMENT', 'message');
    }
    const token = message.token;
    const badToken = () => new Refusal(400, 'The registration token is not a valid FCM registration token', 'INVALID_ARGUMENT', 'message.token');
    if (!TOKEN_SHAPE.test(token)) return badToken();
    if (message.notification !== undefined) {
      const n = message.notification;
      if (!isObject(n) || Object.entries(n).some(([k, v]) => !['title', 'body', 'image'].includes(k) || typeof v !== 'string')) {
        return new Refusal(400, 'Invalid value at \'message.notification\'', 'INVALID_ARGUMENT', 'message.notification');
      }
    }
    const dataProblem = checkData(message.data, 'message.data');
    if (dataProblem) return dataProblem;
    if (message.android !== undefined) {
      const a = message.android;
      if (!isObject(a)) return new Refusal(400, 'Invalid value at \'message.android\'', 'INVALID_ARGUMENT', 'message.android');
      for (const key of Object.keys(a)) if (!ANDROID_FIELDS.has(key)) return unknownName(`message.android.${key}`);
      if (a.priority !== undefined && !['normal', 'high', 'NORMAL', 'HIGH'].includes(a.priority as string)) {
        return new Refusal(400, `Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), "${String(a.priority)}"`, 'INVALID_ARGUMENT', 'message.android.priority');
      }
      const collapse = a.collapse_key ?? a.collapseKey;
      if (collapse !== undefined && typeof collapse !== 'string') return new Refusal(400, 'Invalid value at \'message.android.collapse_key\'', 'INVALID_ARGUMENT', 'message.android.collapse_key');
      if (a.ttl !== undefined && (typeof a.ttl !== 'string' || !/^\d{1,9}(\.\d{1,9})?s$/.test(a.ttl) || parseFloat(a.ttl) > 28 * 86_400)) {
        return new Refusal(400, 'Invalid value at \'message.android.ttl\' (type.googleapis.com/google.protobuf.Duration)', 'INVALID_ARGUMENT', 'message.android.ttl');
      }
      if (a.notification !== undefined && !isObject(a.notification)) return new Refusal(400, 'Invalid value at \'message.android.notification\'', 'INVALID_ARGUMENT', 'message.android.notification');
      const androidData = checkData(a.data, 'message.android.data');
      if (androidData) return androidData;
    }
    if (foreign.has(token)) return new Refusal(403, 'SenderId mismatch', 'SENDER_ID_MISMATCH');
    if (unregistered.has(token)) return new Refusal(404, 'Requested entity was not found.', 'UNREGISTERED');
    if (!acceptAnyToken && !registered.has(token)) return badToken();
    sent += 1;
    const name = `projects/${projectId}/messages/0:${Date.now()}${String(sent).padStart(6, '0')}%${randomBytes(8).toString('hex')}`;
    return { name, token, message: message as FakeFcmDelivery['message'] };
  }

  function checkData(data: unknown, field: string): Refusal | undefined {
    if (data === undefined) return undefined;
    if (!isObject(data)) return new Refusal(400, `Invalid value at '${field}'`, 'INVALID_ARGUMENT', field);
    let bytes = 0;
    for (const [key, value] of Object.entries(data)) {
      if (typeof value !== 'string') return new Refusal(400, `Invalid value at '${field}[${key}].value' (TYPE_STRING), ${JSON.stringify(value)}`, 'INVALID_ARGUMENT', `${field}[${key}].value`);
      if (RESERVED_DATA_KEYS.test(key)) return new Refusal(400, `Invalid data payload key: ${key}`, 'INVALID_ARGUMENT', field);
      bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
    }
    if (bytes > MAX_DATA_BYTES) return new Refusal(400, 'Message is too big', 'INVALID_ARGUMENT', field);
    return undefined;
  }

  function control(method: string, name: string, body: string, res: ServerResponse): void {
    const args = (parseJson(body) ?? {}) as Record<string, unknown>;
    if (method === 'GET' && name === 'deliveries') return json(res, 200, { deliveries });
    if (method === 'GET' && name === 'calls') return json(res, 200, { calls });
    if (method !== 'POST') return json(res, 404, { error: 'unknown control' });
    const endpoint = args.endpoint === 'token' ? 'token' : 'api';
    if (name === 'fail') controls.failNext(Number(args.n ?? 1), { status: args.status as number | undefined, errorCode: args.errorCode as FcmErrorCode | undefined, retryAfterSeconds: args.retryAfterSeconds as number | undefined }, { endpoint });
    else if (name === 'stall') controls.stallNext(Number(args.n ?? 1), { endpoint });
    else if (name === 'unregister' && typeof args.token === 'string') controls.unregister(args.token);
    else if (name === 'register' && typeof args.token === 'string') controls.register(args.token);
    else if (name === 'clear') controls.clear();
    else return json(res, 404, { error: 'unknown control' });
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
    projectId,
    serviceAccount,
    controls,
    async close() {
      for (const res of stalled) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function unknownName(field: string): Refusal {
  return new Refusal(400, `Invalid JSON payload received. Unknown name "${field.split('.').pop()}" at '${field.split('.').slice(0, -1).join('.') || 'request'}': Cannot find field.`, 'INVALID_ARGUMENT', field);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => resolve(raw));
    req.on('error', reject);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers }).end(JSON.stringify(body));
}

/** FCM's error body: the gRPC status, the FcmError detail with its errorCode, a BadRequest naming the field. */
function fcmError(res: ServerResponse, refusal: Refusal, retryAfterSeconds?: number): void {
  const details: unknown[] = [];
  if (refusal.errorCode) details.push({ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: refusal.errorCode });
  if (refusal.field) details.push({ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: refusal.field, description: refusal.message }] });
  const status = GRPC_STATUS[refusal.status] ?? (refusal.status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION');
  json(res, refusal.status, { error: { code: refusal.status, message: refusal.message, status, ...(details.length ? { details } : {}) } }, retryAfterSeconds !== undefined ? { 'retry-after': String(retryAfterSeconds) } : {});
}
