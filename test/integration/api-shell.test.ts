import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { createApiApp } from '../../api/app';
import { createLogger } from '../../platform/logging';
import { createRedis } from '../../platform/redis';
import { startApi, startWorker } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';

/** The API shell every later route relies on: health, request ids, errors, auth, limits. */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let worker: Awaited<ReturnType<typeof startWorker>>;

beforeAll(async () => {
  stack = await connectRealStack('api-shell');
  [api, worker] = await Promise.all([startApi(stack), startWorker(stack)]);
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await stack?.close();
});

async function errorOf(res: Response): Promise<{ code: string; message: string; details?: unknown }> {
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

const secret = () => new TextEncoder().encode(stack.config.ACCESS_TOKEN_SECRET);

describe('health', () => {
  it('answers liveness and readiness with every dependency checked', async () => {
    expect(await (await fetch(`${api.url}/v1/healthz`)).json()).toEqual({ status: 'ok' });
    // The worker started with the suite: Temporal lists it as a poller once its first poll lands.
    let ready = await fetch(`${api.url}/v1/readyz`);
    for (let i = 0; ready.status !== 200 && i < 50; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await fetch(`${api.url}/v1/readyz`);
    }
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok', temporal: 'ok', worker: 'ok' } });
  });

  it('reports 503 naming the dependency that is down, and answers 503 with Retry-After instead of failing (rate limits count per process meanwhile)', async () => {
    const deadRedis = createRedis('redis://127.0.0.1:1/0', { name: 'dead' });
    deadRedis.on('error', () => undefined);
    const app = createApiApp({ ...stack, redis: deadRedis, logger: createLogger({ name: 't', level: 'silent' }) });
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/readyz`);
      expect(res.status).toBe(503);
      const error = await errorOf(res);
      expect(error.code).toBe('DEPENDENCY_UNAVAILABLE');
      expect(error.details).toMatchObject({ postgres: 'ok', temporal: 'ok' });
      expect((error.details as { redis: string }).redis).not.toBe('ok');
      // A signed-in route needs Redis (the session revocation check): 503 with Retry-After, not a 500.
      const token = await stack.tokens.sign({ userId: randomUUID() });
      const me = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(me.status).toBe(503);
      expect(me.headers.get('retry-after')).toBe('2');
      expect((await errorOf(me)).code).toBe('DEPENDENCY_UNAVAILABLE');
    } finally {
      await new Promise((resolve) => server.close(resolve));
      deadRedis.disconnect();
    }
  });
});

describe('request ids and logs', () => {
  it('echoes a sane X-Request-Id, replaces a malformed one, and makes one when absent', async () => {
    const given = await fetch(`${api.url}/v1/healthz`, { headers: { 'x-request-id': 'client-req-12345' } });
    expect(given.headers.get('x-request-id')).toBe('client-req-12345');
    const malformed = await fetch(`${api.url}/v1/healthz`, { headers: { 'x-request-id': 'bad id <script>' } });
    expect(malformed.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const absent = await fetch(`${api.url}/v1/healthz`);
    expect(absent.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('writes structured JSON logs that carry the request id and never the bearer token', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const logger = createLogger({ name: 'api', level: 'info', destination: sink });
    const app = createApiApp({ ...stack, logger });
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const user = await stack.newUser();
    const token = await stack.tokens.sign({ userId: user.id });
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/rewards/daily`, {
        headers: { authorization: `Bearer ${token}`, 'x-request-id': 'trace-me-0001' },
      });
      expect(res.status).toBe(200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const requestLines = lines.filter((l) => l.requestId === 'trace-me-0001');
    expect(requestLines.length).toBeGreaterThan(0);
    expect(requestLines.find((l) => l.msg === 'request')).toMatchObject({ status: 200, path: '/v1/rewards/daily', userId: user.id });
    expect(JSON.stringify(lines)).not.toContain(token);
  });
});

describe('errors have one JSON shape with stable codes', () => {
  it('404 for an unknown route', async () => {
    const res = await fetch(`${api.url}/v1/nope`);
    expect(res.status).toBe(404);
    expect((await errorOf(res)).code).toBe('NOT_FOUND');
  });

  it('405 for a known route with the wrong method', async () => {
    const token = await stack.tokens.sign({ userId: (await stack.newUser()).id });
    const res = await fetch(`${api.url}/v1/rewards/daily/claim`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(405);
    expect((await errorOf(res)).code).toBe('METHOD_NOT_ALLOWED');
  });

  it('400 for malformed JSON and for fields a route does not take; 413 for an oversized body; nothing credited', async () => {
    const user = await stack.newUser();
    const headers = { authorization: `Bearer ${await stack.tokens.sign({ userId: user.id })}`, 'content-type': 'application/json' };
    const claim = (body: string) => fetch(`${api.url}/v1/rewards/daily/claim`, { method: 'POST', headers, body });

    const malformed = await claim('{"oops"');
    expect(malformed.status).toBe(400);
    expect((await errorOf(malformed)).code).toBe('VALIDATION_FAILED');

    const unknownField = await claim(JSON.stringify({ coins: 1_000_000 }));
    expect(unknownField.status).toBe(400);
    const error = await errorOf(unknownField);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details).toEqual([expect.objectContaining({ message: expect.stringContaining('coins') })]);

    const huge = await claim(JSON.stringify({ pad: 'x'.repeat(100 * 1024) }));
    expect(huge.status).toBe(413);
    expect((await errorOf(huge)).code).toBe('PAYLOAD_TOO_LARGE');

    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 0, diamonds: 0 });
  });

  it('400 listing each bad query parameter', async () => {
    const token = await stack.tokens.sign({ userId: (await stack.newUser()).id });
    const res = await fetch(`${api.url}/v1/rewards/daily/claims?limit=500&before=yesterday`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect((error.details as { path: string }[]).map((d) => d.path).sort()).toEqual(['before', 'limit']);
  });
});

describe('access tokens', () => {
  const protectedRoute = () => `${api.url}/v1/rewards/daily`;
  const tryToken = async (token: string) => fetch(protectedRoute(), { headers: { authorization: `Bearer ${token}` } });
  const claims = (userId: string) => new SignJWT({ sid: 's1' }).setSubject(userId).setIssuedAt();

  it('401 without a token, with the Bearer challenge', async () => {
    const res = await fetch(protectedRoute());
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect((await errorOf(res)).code).toBe('UNAUTHENTICATED');
  });

  it.each([
    ['signed with another secret', async (id: string) =>
      claims(id).setProtectedHeader({ alg: 'HS256' }).setIssuer('aura').setAudience('aura-app').setExpirationTime('5m')
        .sign(new TextEncoder().encode('another-secret-another-secret-another!!'))],
    ['with the wrong audience', async (id: string) =>
      claims(id).setProtectedHeader({ alg: 'HS256' }).setIssuer('aura').setAudience('someone-else').setExpirationTime('5m').sign(secret())],
    ['with the wrong issuer', async (id: string) =>
      claims(id).setProtectedHeader({ alg: 'HS256' }).setIssuer('evil').setAudience('aura-app').setExpirationTime('5m').sign(secret())],
    ['expired', async (id: string) =>
      claims(id).setProtectedHeader({ alg: 'HS256' }).setIssuer('aura').setAudience('aura-app').setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(secret())],
    ['with another algorithm (HS512)', async (id: string) =>
      claims(id).setProtectedHeader({ alg: 'HS512' }).setIssuer('aura').setAudience('aura-app').setExpirationTime('5m').sign(new TextEncoder().encode(stack.config.ACCESS_TOKEN_SECRET.repeat(2)))],
    ['unsigned (alg none)', async (id: string) => {
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: id, sid: 's', iss: 'aura', aud: 'aura-app', exp: Math.floor(Date.now() / 1000) + 300 })}.`;
    }],
  ])('401 for a token %s', async (_label, mint) => {
    const user = await stack.newUser();
    const res = await tryToken(await mint(user.id));
    expect(res.status).toBe(401);
    expect((await errorOf(res)).code).toBe('UNAUTHENTICATED');
  });

  it('accepts a token from the server signing module', async () => {
    const user = await stack.newUser();
    expect((await tryToken(await stack.tokens.sign({ userId: user.id }))).status).toBe(200);
  });
});

describe('rate limits (Redis, per IP and per user)', () => {
  it('answers 429 with Retry-After once a user exceeds their limit, without affecting another user', async () => {
    const limited = await startApi(stack, { RATE_LIMIT_USER_PER_MINUTE: 3 });
    try {
      const [a, b] = [await stack.newUser(), await stack.newUser()];
      const get = async (userId: string) =>
        fetch(`${limited.url}/v1/rewards/daily`, { headers: { authorization: `Bearer ${await stack.tokens.sign({ userId })}` } });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await get(a.id)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const refused = await get(a.id);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await errorOf(refused)).toMatchObject({ code: 'RATE_LIMITED', details: { limit: 'user' } });
      expect((await get(b.id)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('counts large limits in each process against one budget shared through Redis', async () => {
    // 100 a minute: each process may admit up to 10 on its own between two syncs with Redis.
    const [first, second] = [await startApi(stack, { RATE_LIMIT_USER_PER_MINUTE: 100 }), await startApi(stack, { RATE_LIMIT_USER_PER_MINUTE: 100 })];
    try {
      const user = await stack.newUser();
      const headers = { authorization: `Bearer ${await stack.tokens.sign({ userId: user.id })}` };
      const statuses = async (url: string, n: number) => {
        const out: number[] = [];
        for (let i = 0; i < n; i++) out.push((await fetch(`${url}/v1/me`, { headers })).status);
        return out;
      };
      const fromFirst = await statuses(first.url, 60);
      expect(fromFirst.every((s) => s === 200)).toBe(true);
      const fromSecond = await statuses(second.url, 60);
      expect(fromSecond.slice(-5)).toEqual([429, 429, 429, 429, 429]);
      // The first process may still spend its local share (10) before its next sync shows the
      // shared count; then it refuses too.
      const fromFirstAgain = await statuses(first.url, 15);
      expect(fromFirstAgain.slice(-4)).toEqual([429, 429, 429, 429]);
      const admitted = [...fromFirst, ...fromSecond, ...fromFirstAgain].filter((s) => s === 200).length;
      // At most each process's local share (2 × 10) over the limit.
      expect(admitted).toBeGreaterThanOrEqual(100);
      expect(admitted).toBeLessThanOrEqual(120);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('answers 429 with Retry-After once an IP exceeds its limit, before any authentication', async () => {
    // An address of its own: the suite's other API counts 127.0.0.1 in the same shared budget.
    const ip = `203.0.113.${1 + Math.floor(Math.random() * 250)}`;
    const headers = { 'x-forwarded-for': ip };
    await stack.redis.del(`aura:ratelimit:ip:${ip}`);
    const limited = await startApi(stack, { RATE_LIMIT_IP_PER_MINUTE: 5, API_TRUSTED_PROXIES: 1 });
    try {
      const statuses = [];
      for (let i = 0; i < 6; i++) statuses.push((await fetch(`${limited.url}/v1/readyz`, { headers })).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
      const refused = await fetch(`${limited.url}/v1/rewards/daily`, { headers });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await errorOf(refused)).toMatchObject({ code: 'RATE_LIMITED', details: { limit: 'ip' } });
      // Liveness probes are never limited.
      expect((await fetch(`${limited.url}/v1/healthz`, { headers })).status).toBe(200);
    } finally {
      await stack.redis.del(`aura:ratelimit:ip:${ip}`);
      await limited.close();
    }
  });
});

describe('GET /v1/rewards/daily/claims', () => {
  it('pages through claimed days newest first with a cursor', async () => {
    const user = await stack.newUser();
    const entries = [
      ['2026-11-01', 1, 10, 1],
      ['2026-11-02', 2, 20, 2],
      ['2026-11-03', 3, 30, 3],
    ] as const;
    for (const [date, day, coins, streak] of entries) {
      const posted = await stack.ledger.post({ userId: user.id, currency: 'coins', amount: coins, reason: 'daily_reward', idempotencyKey: `daily-reward:${user.id}:${date}` });
      await stack.dataSource.query(
        `INSERT INTO daily_reward_claims (user_id, claim_date, cycle_day, coins, streak, ledger_entry_id) VALUES ($1, $2, $3, $4, $5, $6)`,
        [user.id, date, day, coins, streak, posted.entryId],
      );
    }
    const headers = { authorization: `Bearer ${await stack.tokens.sign({ userId: user.id })}` };
    const first = (await (await fetch(`${api.url}/v1/rewards/daily/claims?limit=2`, { headers })).json()) as { items: { date: string }[]; nextCursor: string };
    expect(first.items.map((i) => i.date)).toEqual(['2026-11-03', '2026-11-02']);
    const second = (await (await fetch(`${api.url}/v1/rewards/daily/claims?limit=2&before=${first.nextCursor}`, { headers })).json()) as { items: { date: string }[]; nextCursor: string | null };
    expect(second.items.map((i) => i.date)).toEqual(['2026-11-01']);
    expect(second.nextCursor).toBeNull();
  });
});
