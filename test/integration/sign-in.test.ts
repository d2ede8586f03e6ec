import { randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { maskPhone } from '../../domain/otp/rules';
import { BanList } from '../../platform/auth/ban-list';
import { createLogger } from '../../platform/logging';
import { DevSmsInbox } from '../../platform/sms/dev-inbox';
import { smsSenderFromConfig } from '../../platform/sms/from-config';
import { otpWorkflowId } from '../../workflows/otp/definitions';
import { startApi, startEdge, startWorker } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { TestSocket } from '../support/ws-client';

/**
 * Phone sign-in on the real stack: request a code, read it from the dev SMS inbox, verify,
 * get tokens, call /v1/me; then refresh rotation, reuse detection, revocation, limits.
 */
// Every test here signs in from 127.0.0.1; the per-IP sign-in limit gets a test of its own.
const roomyAuthLimit = { RATE_LIMIT_AUTH_IP_PER_10_MINUTES: 10_000 };
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let edge: Awaited<ReturnType<typeof startEdge>>;
let worker: Awaited<ReturnType<typeof startWorker>>;
let inbox: DevSmsInbox;
const logLines: string[] = [];

beforeAll(async () => {
  stack = await connectRealStack('sign-in');
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  [api, edge, worker] = await Promise.all([
    startApi(stack, roomyAuthLimit, createLogger({ name: 'api', level: 'debug', destination: sink })),
    startEdge(stack),
    startWorker(stack),
  ]);
  inbox = new DevSmsInbox(stack.redis);
});

afterAll(async () => {
  await Promise.all([api?.close(), edge?.close()]);
  await worker?.stop();
  await stack?.close();
});

let counter = 0;
/** A fresh valid UK mobile number per call (+44 7400 xxxxxx is a range libphonenumber accepts). */
const newPhone = () => `+447400${String((Date.now() * 10 + counter++) % 1_000_000).padStart(6, '0')}`;

async function post(path: string, body: unknown, headers: Record<string, string> = {}, base = api.url) {
  return fetch(`${base}/v1${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

async function codeSentTo(phone: string): Promise<string> {
  const text = await inbox.latest(phone);
  const code = /\b(\d{6})\b/.exec(text?.body ?? '')?.[1];
  if (!code) throw new Error(`no code in the dev inbox for ${phone}`);
  return code;
}

interface Tokens {
  accessToken: string;
  refreshToken: string;
  sessionId: string;
  user: { id: string; isNew: boolean };
}

async function signIn(phone: string, device?: { id: string; name: string }): Promise<Tokens> {
  expect((await post('/auth/otp/request', { phone })).status).toBe(202);
  const res = await post('/auth/otp/verify', { phone, code: await codeSentTo(phone), ...(device ? { device } : {}) });
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('phone OTP sign-in', () => {
  it('signs a new user in end to end, then finds the same user on the next sign-in', async () => {
    const phone = newPhone();
    const requested = await post('/auth/otp/request', { phone: phone.replace('+44', '+44 ') });
    expect(requested.status).toBe(202);
    expect(await requested.json()).toMatchObject({ attemptsLeft: 5 });
    const code = await codeSentTo(phone);

    const verified = await post('/auth/otp/verify', { phone, code, device: { id: 'device-0001', name: 'Pixel 8' } });
    expect(verified.status).toBe(200);
    const tokens = (await verified.json()) as Tokens & { tokenType: string; expiresIn: number };
    expect(tokens).toMatchObject({ tokenType: 'Bearer', expiresIn: 900, user: { isNew: true } });

    const me = await fetch(`${api.url}/v1/me`, { headers: bearer(tokens.accessToken) });
    expect(me.status).toBe(200);
    const profile = (await me.json()) as { displayName: string };
    expect(profile).toMatchObject({
      id: tokens.user.id,
      signInMethods: [{ provider: 'phone', display: `+44•••••••${phone.slice(-3)}` }],
    });
    // The name others see in rooms says nothing about the number: no digit at all.
    expect(profile.displayName).toMatch(/^Aura user [A-Z]{4}$/);
    expect(await stack.ledger.balances(tokens.user.id)).toEqual({ coins: 0, diamonds: 0 });

    const again = await signIn(phone);
    expect(again.user).toEqual({ id: tokens.user.id, isNew: false });

    // A used code is dead.
    const replay = await post('/auth/otp/verify', { phone, code: await codeSentTo(phone) });
    expect(replay.status).toBe(400);
  });

  it('refuses a malformed number, a number from a country not allowed, and a malformed code', async () => {
    const bad = await post('/auth/otp/request', { phone: '+44 12' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('PHONE_INVALID');

    const ukOnly = await startApi(stack, { ...roomyAuthLimit, OTP_ALLOWED_CALLING_CODES: ['44'] });
    try {
      const india = await post('/auth/otp/request', { phone: '+919812345678' }, {}, ukOnly.url);
      expect(india.status).toBe(403);
      expect(((await india.json()) as { error: { code: string } }).error.code).toBe('PHONE_COUNTRY_NOT_ALLOWED');
    } finally {
      await ukOnly.close();
    }
    const letters = await post('/auth/otp/verify', { phone: newPhone(), code: 'abcdef' });
    expect(letters.status).toBe(400);
  });

  it('answers 429 OTP_RESEND_COOLDOWN to a resend within 60 s, with Retry-After details', async () => {
    const phone = newPhone();
    expect((await post('/auth/otp/request', { phone })).status).toBe(202);
    const early = await post('/auth/otp/request', { phone });
    expect(early.status).toBe(429);
    const error = ((await early.json()) as { error: { code: string; details: { retryAfterSeconds: number } } }).error;
    expect(error.code).toBe('OTP_RESEND_COOLDOWN');
    expect(error.details.retryAfterSeconds).toBeGreaterThan(50);
    expect(early.headers.get('retry-after')).toBe(String(error.details.retryAfterSeconds));
  });

  it('locks the number after 5 failed verifications and counts failures for alerting', async () => {
    const phone = newPhone();
    await post('/auth/otp/request', { phone });
    const right = await codeSentTo(phone);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await post('/auth/otp/verify', { phone, code: i < 5 ? wrong : right });
      codes.push(((await res.json()) as { error: { code: string } }).error.code);
      // Every 429 says when to come back.
      if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect(codes).toEqual(['OTP_INVALID_CODE', 'OTP_INVALID_CODE', 'OTP_INVALID_CODE', 'OTP_INVALID_CODE', 'OTP_ATTEMPTS_EXHAUSTED', 'SIGN_IN_LOCKED']);
    const metrics = await (await fetch(`${api.url}/v1/metrics`)).text();
    expect(metrics).toMatch(/aura_sign_in_failures_total\{reason="OTP_INVALID_CODE"\} [4-9]/);
  });

  it('limits code requests per device', async () => {
    const limited = await startApi(stack, { ...roomyAuthLimit, RATE_LIMIT_OTP_DEVICE_PER_HOUR: 2 });
    try {
      const device = { 'x-device-id': `device-${Date.now()}` };
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await post('/auth/otp/request', { phone: newPhone() }, device, limited.url)).status);
      expect(statuses).toEqual([202, 202, 429]);
    } finally {
      await limited.close();
    }
  });

  it('limits OTP routes per IP in their own bucket; token refresh has another, so spent sign-ins never block refreshes', async () => {
    // An address of its own (through one trusted proxy): other API apps in this process share
    // 127.0.0.1's buckets and add their locally counted requests to Redis in the background.
    const address = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
    const from = { 'x-forwarded-for': address };
    const buckets = [`aura:ratelimit:auth-ip:${address}`, `aura:ratelimit:refresh-ip:${address}`];
    await stack.redis.del(...buckets);
    const strict = await startApi(stack, { RATE_LIMIT_AUTH_IP_PER_10_MINUTES: 2, RATE_LIMIT_REFRESH_IP_PER_MINUTE: 3, API_TRUSTED_PROXIES: 1 });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await post('/auth/otp/request', { phone: newPhone() }, from, strict.url)).status);
      expect(statuses).toEqual([202, 202, 429]);
      const refused = await post('/auth/otp/verify', { phone: newPhone(), code: '123456' }, from, strict.url);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await refused.json()) as { error: { details: { limit: string } } }).error.details.limit).toBe('auth-ip');

      // The OTP bucket is spent; refreshing tokens from the same address is not affected.
      const refreshes = [];
      for (let i = 0; i < 4; i++) refreshes.push(await post('/auth/refresh', { refreshToken: 'x'.repeat(43) }, from, strict.url));
      expect(refreshes.map((r) => r.status)).toEqual([401, 401, 401, 429]);
      expect(Number(refreshes[3]!.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await refreshes[3]!.json()) as { error: { details: { limit: string } } }).error.details.limit).toBe('refresh-ip');
    } finally {
      await stack.redis.del(...buckets);
      await strict.close();
    }
  });

  it('refuses bad device fields with 400 before the code is consumed', async () => {
    const phone = newPhone();
    expect((await post('/auth/otp/request', { phone })).status).toBe(202);
    const code = await codeSentTo(phone);
    const badDevices = [
      { id: 'device-0001', name: 'Pixel\u202Egnp.exe' }, // a direction override
      { id: 'device-0001', name: 'Pixel\u0000 8' }, // NUL, which PostgreSQL refuses
      { id: 'device-0001', name: '   ' },
      { id: 'not a device id', name: 'Pixel 8' },
      { id: 'short', name: 'Pixel 8' },
      { id: 'device-0001', name: 'P'.repeat(129) },
    ];
    for (const device of badDevices) {
      const res = await post('/auth/otp/verify', { phone, code, device });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('VALIDATION_FAILED');
    }
    // The code is untouched: every attempt is still there, and it signs in.
    const tokens = await (async () => {
      const res = await post('/auth/otp/verify', { phone, code, device: { id: 'device-0001', name: ' Pixel 8 ' } });
      expect(res.status).toBe(200);
      return (await res.json()) as Tokens;
    })();
    const sessions = (await (await fetch(`${api.url}/v1/auth/sessions`, { headers: bearer(tokens.accessToken) })).json()) as {
      items: { deviceId: string; deviceName: string }[];
    };
    expect(sessions.items).toEqual([expect.objectContaining({ deviceId: 'device-0001', deviceName: 'Pixel 8' })]);
  });

  it('keeps the code usable when the sign-in step refuses (a banned device), and signs in once it is lifted', async () => {
    const phone = newPhone();
    const deviceId = `device-${randomUUID()}`;
    const bans = new BanList(stack.redis);
    expect((await post('/auth/otp/request', { phone })).status).toBe(202);
    const code = await codeSentTo(phone);
    await bans.ban('device', deviceId, 'test');
    try {
      const refused = await post('/auth/otp/verify', { phone, code, device: { id: deviceId, name: 'Pixel 8' } });
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('ACCOUNT_BANNED');
    } finally {
      await bans.lift('device', deviceId);
    }
    const handle = stack.temporal.workflow.getHandle(otpWorkflowId(stack.secrets.phoneKey(phone)));
    expect((await handle.describe()).status.name).toBe('RUNNING');
    const signedIn = await post('/auth/otp/verify', { phone, code, device: { id: deviceId, name: 'Pixel 8' } });
    expect(signedIn.status).toBe(200);
    const { user } = (await signedIn.json()) as Tokens;
    expect(user.isNew).toBe(true);
    await expect(handle.result()).resolves.toMatchObject({ userId: user.id });
  });

  it('keeps codes and raw numbers out of the logs and out of the OTP workflow history', async () => {
    const phone = newPhone();
    const tokens = await signIn(phone);
    const code = (await inbox.latest(phone))!.body.slice(0, 6);
    const history = JSON.stringify(
      await stack.temporal.workflow.getHandle(otpWorkflowId(stack.secrets.phoneKey(phone))).fetchHistory(),
      (key, v: unknown) => (key === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v),
    );
    expect(history).toContain('phoneCiphertext'); // payloads were decoded for the search
    const logs = logLines.join('');
    expect(logs).toContain('/v1/auth/otp/verify'); // the requests were logged
    for (const text of [history, logs]) {
      expect(text).not.toContain(phone.slice(1));
      expect(text).not.toContain(code);
      expect(text).not.toContain(tokens.refreshToken);
    }
    // Not even masked: no trailing digits of the number in the history (the workflow tests search every run of digits).
    expect(history).not.toContain(maskPhone(phone));
    expect(history).not.toContain(`•${phone.slice(-3)}`);
  });
});

describe('sessions', () => {
  it('rotates the refresh token, and a retried refresh inside the grace window still works', async () => {
    const first = await signIn(newPhone());
    const rotated = await post('/auth/refresh', { refreshToken: first.refreshToken });
    expect(rotated.status).toBe(200);
    const second = (await rotated.json()) as Tokens;
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.sessionId).toBe(first.sessionId);
    const retried = await post('/auth/refresh', { refreshToken: first.refreshToken });
    expect(retried.status).toBe(200);
    expect((await fetch(`${api.url}/v1/me`, { headers: bearer(second.accessToken) })).status).toBe(200);
  });

  it('revokes the whole family when a rotated token is presented after the grace window', async () => {
    const strict = await startApi(stack, { ...roomyAuthLimit, REFRESH_TOKEN_REUSE_GRACE_SECONDS: 0 });
    try {
      const first = await signIn(newPhone());
      const second = (await (await post('/auth/refresh', { refreshToken: first.refreshToken }, {}, strict.url)).json()) as Tokens;
      const reuse = await post('/auth/refresh', { refreshToken: first.refreshToken }, {}, strict.url);
      expect(reuse.status).toBe(401);
      expect(((await reuse.json()) as { error: { code: string } }).error.code).toBe('REFRESH_TOKEN_REUSED');
      // The thief's and the owner's tokens are both dead now.
      expect((await post('/auth/refresh', { refreshToken: second.refreshToken }, {}, strict.url)).status).toBe(401);
      const me = await fetch(`${strict.url}/v1/me`, { headers: bearer(second.accessToken) });
      expect(me.status).toBe(401);
      expect(((await me.json()) as { error: { code: string } }).error.code).toBe('SESSION_REVOKED');
    } finally {
      await strict.close();
    }
  });

  it('logs out this device: its access token stops working and its socket closes', async () => {
    const tokens = await signIn(newPhone());
    const socket = await TestSocket.connect(edge.url, { token: tokens.accessToken });
    const logout = await fetch(`${api.url}/v1/auth/logout`, { method: 'POST', headers: bearer(tokens.accessToken) });
    expect(logout.status).toBe(204);
    expect(await socket.closed).toEqual({ code: 4003, reason: 'session signed out' });
    expect((await fetch(`${api.url}/v1/me`, { headers: bearer(tokens.accessToken) })).status).toBe(401);
  });

  it('lists sessions, revokes one, and logs out everywhere', async () => {
    const phone = newPhone();
    const phoneSession = await signIn(phone, { id: 'device-phone', name: 'Phone' });
    await post('/auth/otp/request', { phone }).catch(() => undefined); // cooldown: reuse the inbox code path below
    const tablet = await post('/auth/refresh', { refreshToken: phoneSession.refreshToken });
    expect(tablet.status).toBe(200);

    const list = (await (await fetch(`${api.url}/v1/auth/sessions`, { headers: bearer(phoneSession.accessToken) })).json()) as {
      items: { id: string; deviceName: string; current: boolean }[];
    };
    expect(list.items).toEqual([expect.objectContaining({ id: phoneSession.sessionId, deviceName: 'Phone', current: true })]);

    const unknown = await fetch(`${api.url}/v1/auth/sessions/00000000-0000-4000-8000-00000000dead`, { method: 'DELETE', headers: bearer(phoneSession.accessToken) });
    expect(unknown.status).toBe(404);

    const all = await fetch(`${api.url}/v1/auth/logout-all`, { method: 'POST', headers: bearer(phoneSession.accessToken) });
    expect(await all.json()).toEqual({ revoked: 1 });
    expect((await fetch(`${api.url}/v1/me`, { headers: bearer(phoneSession.accessToken) })).status).toBe(401);
  });
});

describe('profile', () => {
  it('updates the profile fields, refusing unknown fields and bad values', async () => {
    const tokens = await signIn(newPhone());
    const profile = {
      displayName: 'Mira',
      timeZone: 'Asia/Kolkata',
      language: 'hi-IN',
      region: 'IN',
      birthday: '1998-04-12',
    };
    const patch = (body: unknown) =>
      fetch(`${api.url}/v1/me`, { method: 'PATCH', headers: { ...bearer(tokens.accessToken), 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const ok = await patch(profile);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject(profile);
    expect((await patch({ timeZone: 'Mars/Olympus' })).status).toBe(400);
    // An avatar is an uploaded file's key (test/media/assets.test.ts), never a URL.
    expect((await patch({ avatarUrl: 'https://cdn.aura.test/a/mira.png' })).status).toBe(400);
    expect((await patch({ avatarKey: 'https://cdn.aura.test/a/mira.png' })).status).toBe(400);
    expect((await patch({ birthday: new Date().toISOString().slice(0, 10) })).status).toBe(400);
    expect((await patch({ region: 'india' })).status).toBe(400);
    expect((await patch({ coins: 5 })).status).toBe(400);
    expect((await patch({})).status).toBe(400);
  });
});

describe('lockouts after failed verifications', () => {
  const ipLock = 'aura:lockout:ip:127.0.0.1';
  beforeEach(async () => {
    await stack.redis.del(ipLock);
  });
  afterAll(async () => {
    await stack.redis.del(ipLock);
  });

  /** One wrong guess at a fresh number's code; the refusal's code, or the lock that refused it. */
  async function wrongGuess(headers: Record<string, string> = {}): Promise<string> {
    const phone = newPhone();
    expect((await post('/auth/otp/request', { phone })).status).toBe(202);
    const right = await codeSentTo(phone);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    const res = await post('/auth/otp/verify', { phone, code: wrong }, headers);
    const error = ((await res.json()) as { error: { code: string; details?: { lock?: string } } }).error;
    if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    return error.details?.lock ?? error.code;
  }

  it('does not lock a shared address after a few people mistype: the per-IP lock is a backstop at 100 failures', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 12; i++) outcomes.push(await wrongGuess());
    expect(outcomes).toEqual(Array(12).fill('OTP_INVALID_CODE'));
    // At the backstop (as if 88 more failures came from this address), every number is refused.
    await stack.redis.set(ipLock, '99', 'EX', 600);
    expect(await wrongGuess()).toBe('OTP_INVALID_CODE');
    expect(await wrongGuess()).toBe('ip');
  });

  it('locks one device after 10 failures across numbers, without locking the address', async () => {
    const device = { 'x-device-id': `device-${randomUUID()}` };
    const outcomes: string[] = [];
    for (let i = 0; i < 11; i++) outcomes.push(await wrongGuess(device));
    expect(outcomes).toEqual([...Array(10).fill('OTP_INVALID_CODE'), 'device']);
    expect(await wrongGuess({ 'x-device-id': `device-${randomUUID()}` })).toBe('OTP_INVALID_CODE');
  });
});

/**
 * The real worker with SMS_PROVIDER=twilio, pointed at a local server that speaks Twilio's
 * Messaging API, on a task queue of its own (with an API that starts flows there).
 */
describe('SMS through Twilio (a local server speaking its wire format)', () => {
  interface TwilioRequest {
    to: string;
    body: string;
    idempotencyToken: string | undefined;
  }
  type Behaviour = 'accept' | 'reject' | 'hang';

  let twilio: Server;
  let twilioApi: Awaited<ReturnType<typeof startApi>>;
  let stopWorker: () => Promise<void>;
  const requests: TwilioRequest[] = [];
  /** Arrivals and closes of requests to the fake, in order, to show attempts never overlap. */
  const timeline: string[] = [];
  const behaviourByNumber = new Map<string, Behaviour>();
  const hanging = new Set<ServerResponse>();

  beforeAll(async () => {
    twilio = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(raw);
        const n = requests.push({
          to: form.get('To') ?? '',
          body: form.get('Body') ?? '',
          idempotencyToken: req.headers['i-twilio-idempotency-token'] as string | undefined,
        });
        timeline.push(`arrive ${n}`);
        res.on('close', () => timeline.push(`close ${n}`));
        const behaviour = behaviourByNumber.get(form.get('To') ?? '') ?? 'accept';
        if (behaviour === 'hang') {
          hanging.add(res);
          return;
        }
        const [status, body] =
          behaviour === 'reject'
            ? [400, { code: 21211, message: "The 'To' number is not a valid phone number.", more_info: 'https://www.twilio.com/docs/errors/21211', status: 400 }]
            : [201, { sid: `SM${randomUUID().replace(/-/g, '')}`, status: 'queued' }];
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => twilio.listen(0, '127.0.0.1', resolve));
    const taskQueue = `${stack.taskQueue}-twilio`;
    const config = {
      ...stack.config,
      TEMPORAL_TASK_QUEUE: taskQueue,
      SMS_PROVIDER: 'twilio' as const,
      TWILIO_BASE_URL: `http://127.0.0.1:${(twilio.address() as AddressInfo).port}`,
      TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
      TWILIO_AUTH_TOKEN: 'twilio-test-token',
      TWILIO_FROM: '+15005550006',
    };
    stopWorker = (await startWorker(stack, { taskQueue, sms: smsSenderFromConfig(config, stack.redis) })).stop;
    twilioApi = await startApi(stack, { ...roomyAuthLimit, TEMPORAL_TASK_QUEUE: taskQueue });
  });

  afterAll(async () => {
    await twilioApi?.close();
    await stopWorker?.();
    for (const res of hanging) res.destroy();
    await new Promise((resolve) => twilio?.close(resolve));
  });

  const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

  it('answers 422 OTP_SMS_REJECTED to a number Twilio refuses, spending nothing: the next request sends at once', async () => {
    const phone = newPhone();
    behaviourByNumber.set(phone, 'reject');
    const refused = await post('/auth/otp/request', { phone }, {}, twilioApi.url);
    expect(refused.status).toBe(422);
    expect(await errorOf(refused)).toBe('OTP_SMS_REJECTED');
    const tried = requests.filter((r) => r.to === phone);
    expect(tried).toHaveLength(1); // a refusal is not retried
    const key = new RegExp(`^otp:${stack.secrets.phoneKey(phone)}:[0-9a-f-]{36}:1$`);
    expect(tried[0]!.idempotencyToken).toMatch(key);

    // The number is fixed on the provider's side (say the user texted START): no cooldown was spent.
    behaviourByNumber.set(phone, 'accept');
    const sent = await post('/auth/otp/request', { phone }, {}, twilioApi.url);
    expect(sent.status).toBe(202);
    const texts = requests.filter((r) => r.to === phone);
    expect(texts).toHaveLength(2);
    expect(texts[1]!.idempotencyToken).toBe(texts[0]!.idempotencyToken); // still send #1
    const code = /\b(\d{6})\b/.exec(texts[1]!.body)![1]!;
    expect((await post('/auth/otp/verify', { phone, code }, {}, twilioApi.url)).status).toBe(200);
  });

  it(
    'answers a provider that hangs with a retryable 503 DEPENDENCY_UNAVAILABLE and Retry-After, after 3 attempts that never overlap',
    async () => {
      const phone = newPhone();
      behaviourByNumber.set(phone, 'hang');
      const res = await post('/auth/otp/request', { phone }, {}, twilioApi.url);
      expect(res.status).toBe(503);
      expect(await errorOf(res)).toBe('DEPENDENCY_UNAVAILABLE');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);

      const attempts = requests.map((r, i) => ({ ...r, n: i + 1 })).filter((r) => r.to === phone);
      expect(attempts).toHaveLength(3);
      expect(new Set(attempts.map((a) => a.idempotencyToken)).size).toBe(1);
      // Each attempt's connection was closed by the client before the next attempt arrived.
      const mine = timeline.filter((e) => attempts.some((a) => e.endsWith(` ${a.n}`)));
      expect(mine).toEqual(attempts.flatMap((a) => [`arrive ${a.n}`, `close ${a.n}`]));

      // Nothing was spent: once the provider answers, the same number gets a code at once.
      behaviourByNumber.set(phone, 'accept');
      expect((await post('/auth/otp/request', { phone }, {}, twilioApi.url)).status).toBe(202);
    },
    // The send's budget is 16 s (see domain/otp/rules.ts) and the API waits at most 20 s.
    45_000,
  );
});
