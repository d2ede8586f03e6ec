import { Writable } from 'node:stream';
import { createLogger } from '../../platform/logging';
import { DevSmsInbox } from '../../platform/sms/dev-inbox';
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
    expect(await me.json()).toMatchObject({
      id: tokens.user.id,
      signInMethods: [{ provider: 'phone', display: `+44•••••••${phone.slice(-3)}` }],
    });
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

  it('limits every sign-in route per IP, before doing any work', async () => {
    await stack.redis.del('aura:ratelimit:auth-ip:127.0.0.1');
    const strict = await startApi(stack, { RATE_LIMIT_AUTH_IP_PER_10_MINUTES: 2 });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await post('/auth/refresh', { refreshToken: 'x'.repeat(43) }, {}, strict.url)).status);
      expect(statuses).toEqual([401, 401, 429]);
      const refused = await post('/auth/otp/request', { phone: newPhone() }, {}, strict.url);
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { error: { details: { limit: string } } }).error.details.limit).toBe('auth-ip');
    } finally {
      await stack.redis.del('aura:ratelimit:auth-ip:127.0.0.1');
      await strict.close();
    }
  });

  it('keeps codes and raw numbers out of the logs and out of the OTP workflow history', async () => {
    const phone = newPhone();
    const tokens = await signIn(phone);
    const code = (await inbox.latest(phone))!.body.slice(0, 6);
    const history = JSON.stringify(
      await stack.temporal.workflow.getHandle(otpWorkflowId(stack.secrets.phoneKey(phone))).fetchHistory(),
      (key, v: unknown) => (key === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v),
    );
    expect(history).toContain(`+44•••••••${phone.slice(-3)}`); // payloads were decoded for the search
    const logs = logLines.join('');
    expect(logs).toContain('/v1/auth/otp/verify'); // the requests were logged
    for (const text of [history, logs]) {
      expect(text).not.toContain(phone.slice(1));
      expect(text).not.toContain(code);
      expect(text).not.toContain(tokens.refreshToken);
    }
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
      avatarUrl: 'https://cdn.aura.test/a/mira.png',
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
    expect((await patch({ avatarUrl: 'http://plain.example/a.png' })).status).toBe(400);
    expect((await patch({ birthday: new Date().toISOString().slice(0, 10) })).status).toBe(400);
    expect((await patch({ region: 'india' })).status).toBe(400);
    expect((await patch({ coins: 5 })).status).toBe(400);
    expect((await patch({})).status).toBe(400);
  });
});

describe('IP lockout', () => {
  afterAll(async () => {
    await stack.redis.del('aura:lockout:ip:127.0.0.1');
  });

  it('locks an IP after 10 failed verifications across numbers, for every number', async () => {
    await stack.redis.del('aura:lockout:ip:127.0.0.1');
    const outcomes: string[] = [];
    for (let i = 0; i < 11; i++) {
      const phone = newPhone();
      expect((await post('/auth/otp/request', { phone })).status).toBe(202);
      const right = await codeSentTo(phone);
      const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
      const res = await post('/auth/otp/verify', { phone, code: i < 10 ? wrong : right });
      outcomes.push(((await res.json()) as { error: { code: string; details?: { lock?: string } } }).error.details?.lock ?? 'wrong');
    }
    expect(outcomes).toEqual([...Array(10).fill('wrong'), 'ip']);
  });
});
