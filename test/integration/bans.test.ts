import { execFile } from 'node:child_process';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { createApiApp } from '../../api/app';
import { Sessions } from '../../services/auth/sessions';
import { AccountBans } from '../../db/repositories/account-bans';
import { SessionStore } from '../../db/repositories/sessions';
import { SessionRevocations } from '../../db/repositories/session-revocations';
import { AccessCache } from '../../platform/auth/access-cache';
import { BanList } from '../../platform/auth/ban-list';
import { RevokedSessions, announcingRevocations } from '../../platform/auth/revoked-sessions';
import { RedisUserEventPublisher } from '../../platform/events/publisher';
import { createRedis } from '../../platform/redis';
import { BanService, createAccessChecks } from '../../services/bans';
import { startApi, startEdge, testLogger } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { TestSocket, UpgradeRejected } from '../support/ws-client';

/**
 * Account, IP and device bans, recorded in PostgreSQL and enforced by the API and the realtime
 * edge from each process's in-memory copy; and that no ban or sign-out is missed by a process
 * other than the one that made it.
 */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let otherApi: Awaited<ReturnType<typeof startApi>>;
let edge: Awaited<ReturnType<typeof startEdge>>;
let service: BanService;
let sessions: Sessions;
let records: AccountBans;

beforeAll(async () => {
  stack = await connectRealStack('bans');
  [api, otherApi, edge] = await Promise.all([startApi(stack), startApi(stack), startEdge(stack)]);
  // The tool's side (scripts/ban.ts): no in-memory copy of its own, every check asks.
  const access = createAccessChecks({ config: stack.config, dataSource: stack.dataSource, redis: stack.redis, logger: testLogger });
  sessions = new Sessions(
    new SessionStore(stack.dataSource),
    stack.tokens,
    stack.redis,
    announcingRevocations(new RedisUserEventPublisher(stack.redis), access.revokedSessions),
    { accessTtlSeconds: 900, refreshTtlDays: 30, reuseGraceSeconds: 30 },
    access.bans,
  );
  records = new AccountBans(stack.dataSource);
  service = new BanService({ records, bans: access.bans, sessions, logger: testLogger });
});

afterAll(async () => {
  await Promise.all([api?.close(), otherApi?.close(), edge?.close()]);
  await stack?.close();
});

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
const me = (url: string, token: string, headers: Record<string, string> = {}) => fetch(`${url}/v1/me`, { headers: { authorization: `Bearer ${token}`, ...headers } });

/** Polls until `check` holds, failing once `deadlineMs` (from the call) has passed. */
async function within(deadlineMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > deadlineMs) throw new Error(`not within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

it('bans an account: recorded, its sockets close, its tokens stop working, and it cannot sign in or connect again; a lift lets it back', async () => {
  const user = await stack.newUser();
  const session = await sessions.issue(user.id, { deviceId: 'device-ban-1' });
  const socket = await TestSocket.connect(edge.url, { token: session.accessToken });

  const ban = await service.ban({ kind: 'user', subject: user.id.toUpperCase(), reason: 'abuse', by: 'test-operator' });

  expect(ban).toMatchObject({ kind: 'user', subject: user.id, reason: 'abuse', createdBy: 'test-operator', expiresAt: null, liftedAt: null });
  expect((await socket.closed).code).toBe(4003);
  await within(1_000, async () => (await me(api.url, session.accessToken)).status === 401);
  await expect(sessions.issue(user.id, {})).rejects.toMatchObject({ code: 'ACCOUNT_BANNED' });
  await expect(sessions.refresh(session.refreshToken)).rejects.toMatchObject({ code: 'REFRESH_TOKEN_INVALID' });
  // Even a token minted before the ban, for a session never revoked, is refused.
  const stray = await stack.tokens.sign({ userId: user.id });
  await within(1_000, async () => (await me(api.url, stray)).status === 403);
  expect(await errorOf(await me(api.url, stray))).toBe('ACCOUNT_BANNED');
  await expect(TestSocket.connect(edge.url, { token: stray })).rejects.toEqual(new UpgradeRejected(403));
  const [row] = await stack.dataSource.query(`SELECT status FROM users WHERE id = $1`, [user.id]);
  expect(row).toEqual({ status: 'banned' });

  expect(await service.lift({ kind: 'user', subject: user.id, by: 'test-operator' })).toBe(true);
  expect(await service.lift({ kind: 'user', subject: user.id, by: 'test-operator' })).toBe(false);
  const back = await sessions.issue(user.id, {});
  await within(1_000, async () => (await me(api.url, back.accessToken)).status === 200);
  const kept: { lifted_by: string }[] = await stack.dataSource.query(`SELECT lifted_by FROM account_bans WHERE subject = $1`, [user.id]);
  expect(kept).toEqual([{ lifted_by: 'test-operator' }]);
  const [after] = await stack.dataSource.query(`SELECT status FROM users WHERE id = $1`, [user.id]);
  expect(after).toEqual({ status: 'active' });
});

it('refuses a banned device on the API and the edge, and a banned IP on both, until lifted', async () => {
  const user = await stack.newUser();
  const token = await stack.tokens.sign({ userId: user.id });
  await service.ban({ kind: 'device', subject: 'device-banned-0001', reason: 'fraud', by: 'test-operator' });
  try {
    // The tool has no copy of its own: the API's copy hears of the ban within a second.
    await within(1_000, async () => (await me(api.url, token, { 'x-device-id': 'device-banned-0001' })).status === 403);
    const res = await me(api.url, token, { 'x-device-id': 'device-banned-0001' });
    expect(await errorOf(res)).toBe('ACCOUNT_BANNED');
    expect((await me(api.url, token, { 'x-device-id': 'device-fine-0001' })).status).toBe(200);
  } finally {
    await service.lift({ kind: 'device', subject: 'device-banned-0001', by: 'test-operator' });
  }

  await service.ban({ kind: 'ip', subject: '::ffff:127.0.0.1', reason: 'abuse', by: 'test-operator', expiresAt: new Date(Date.now() + 60_000) });
  try {
    await within(1_000, async () => (await fetch(`${api.url}/v1/rewards/daily`, { headers: { authorization: `Bearer ${token}` } })).status === 403);
    await within(1_000, () =>
      TestSocket.connect(edge.url, { token }).then(
        async (socket) => {
          await socket.close();
          return false;
        },
        (err: unknown) => err instanceof UpgradeRejected && err.status === 403,
      ),
    );
    // Probes serve no one's data and must answer: they are not refused.
    expect((await fetch(`${api.url}/v1/healthz`)).status).toBe(200);
  } finally {
    await service.lift({ kind: 'ip', subject: '127.0.0.1', by: 'test-operator' });
  }
  await within(1_000, async () => (await me(api.url, token)).status === 200);
});

it('refuses bad ban input with 400 and records nothing', async () => {
  const before: { n: string }[] = await stack.dataSource.query(`SELECT count(*)::text AS n FROM account_bans`);
  await expect(service.ban({ kind: 'user', subject: 'not-a-user', reason: 'x', by: 'op' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  await expect(service.ban({ kind: 'ip', subject: '999.1.1.1', reason: 'x', by: 'op' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  await expect(service.ban({ kind: 'device', subject: 'bad\u0000id', reason: 'x', by: 'op' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  await expect(service.ban({ kind: 'device', subject: 'device-ok-0001', reason: 'a\u202Eb', by: 'op' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  await expect(service.ban({ kind: 'device', subject: 'device-ok-0001', reason: 'late', by: 'op', expiresAt: new Date(Date.now() - 1000) })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  expect(await stack.dataSource.query(`SELECT count(*)::text AS n FROM account_bans`)).toEqual(before);
  // The record keeps every ban: PostgreSQL refuses to delete one or rewrite its facts.
  const ban = await service.ban({ kind: 'device', subject: 'device-kept-0001', reason: 'kept', by: 'op' });
  await expect(stack.dataSource.query(`DELETE FROM account_bans WHERE id = $1`, [ban.id])).rejects.toThrow(/kept/);
  await expect(stack.dataSource.query(`UPDATE account_bans SET reason = 'other' WHERE id = $1`, [ban.id])).rejects.toThrow(/kept/);
  await service.lift({ kind: 'device', subject: 'device-kept-0001', by: 'op' });
});

describe('no check dropped: every process refuses within a second', () => {
  it('a sign-out through one API is refused by the other API within 1 s, and by the first at once', async () => {
    const user = await stack.newUser();
    const session = await sessions.issue(user.id, {});
    expect((await me(otherApi.url, session.accessToken)).status).toBe(200);
    expect((await fetch(`${api.url}/v1/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${session.accessToken}` } })).status).toBe(204);
    expect((await me(api.url, session.accessToken)).status).toBe(401);
    await within(1_000, async () => (await me(otherApi.url, session.accessToken)).status === 401);
    expect(await errorOf(await me(otherApi.url, session.accessToken))).toBe('SESSION_REVOKED');
  });

  it('a new ban is refused by both APIs and the edge within 1 s', async () => {
    const user = await stack.newUser();
    const token = await stack.tokens.sign({ userId: user.id });
    expect((await me(api.url, token)).status).toBe(200);
    expect((await me(otherApi.url, token)).status).toBe(200);
    await records.record({ kind: 'user', subject: user.id, reason: 'spam', createdBy: 'op', expiresAt: null }).then((ban) =>
      new BanList(stack.redis).ban('user', user.id, 'spam', undefined, { id: ban.id, expiresAt: null }),
    );
    await within(1_000, async () => (await me(api.url, token)).status === 403 && (await me(otherApi.url, token)).status === 403);
    await within(1_000, () => TestSocket.connect(edge.url, { token }).then((s) => s.close().then(() => false), (err: unknown) => err instanceof UpgradeRejected && err.status === 403));
  });

  it('a change whose announcement was lost is still seen within the resync (PostgreSQL is the record)', async () => {
    const user = await stack.newUser();
    const token = await stack.tokens.sign({ userId: user.id });
    const session = await sessions.issue(user.id, {});
    expect((await me(api.url, token)).status).toBe(200);
    // Recorded, never announced nor copied to Redis.
    await records.record({ kind: 'user', subject: user.id, reason: 'silent', createdBy: 'op', expiresAt: null });
    await stack.dataSource.query(`UPDATE sessions SET revoked_at = now(), revoke_reason = 'test' WHERE id = $1`, [session.sessionId]);
    await within(2_000, async () => (await me(api.url, token)).status === 403 && (await me(otherApi.url, session.accessToken)).status === 401);
  });
});

it('scripts/ban.ts records a ban through the service, and every process refuses it within a second; lift lets it back', async () => {
  const tool = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', resolve(__dirname, '../../scripts/ban.ts'), ...args], { cwd: resolve(__dirname, '../..'), env: process.env });
  const token = await stack.tokens.sign({ userId: (await stack.newUser()).id });
  const device = { 'x-device-id': 'device-tool-0001' };
  const banned = await tool('device', 'device-tool-0001', 'from the tool', '600', '--by', 'tester');
  expect(banned.stdout).toMatch(/^banned device device-tool-0001 \(ban \d+, until /);
  const [row] = await stack.dataSource.query(`SELECT reason, created_by, expires_at IS NOT NULL AS timed FROM account_bans WHERE subject = 'device-tool-0001' AND lifted_at IS NULL`);
  expect(row).toEqual({ reason: 'from the tool', created_by: 'tester', timed: true });
  await within(1_000, async () => (await me(api.url, token, device)).status === 403 && (await me(otherApi.url, token, device)).status === 403);
  expect((await tool('lift', 'device', 'device-tool-0001', '--by', 'tester')).stdout).toMatch(/lifted the ban/);
  await within(1_000, async () => (await me(api.url, token, device)).status === 200 && (await me(otherApi.url, token, device)).status === 200);
  await expect(tool('device', 'bad id with spaces', 'x')).rejects.toMatchObject({ stderr: expect.stringMatching(/device id/) });
});

it('answers the ban and session checks of authenticated requests from memory: no Redis round trip for them', async () => {
  const user = await stack.newUser();
  const token = await stack.tokens.sign({ userId: user.id });
  // The ban list is read with HMGET and the revocation markers with MGET (EXISTS is the rate limiter's).
  const lookups = async () => {
    const stats = await stack.redis.info('commandstats');
    return ['hmget', 'mget'].map((cmd) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0));
  };
  const before = await lookups();
  for (let i = 0; i < 20; i++) expect((await me(api.url, token, { 'x-device-id': 'device-fine-0002' })).status).toBe(200);
  expect(await lookups()).toEqual(before);
});

describe('fails safe', () => {
  it('while the in-memory copy is stale and Redis is unreachable, a check fails instead of answering "not banned"', async () => {
    const dead = createRedis('redis://127.0.0.1:1/0', { name: 'dead' });
    dead.on('error', () => undefined);
    let now = Date.now();
    const cache = new AccessCache(stack.redis, records, new SessionRevocations(stack.dataSource), testLogger, { resyncMs: 60_000 }, () => now);
    await cache.start();
    try {
      const bans = new BanList(dead, { records, cache });
      expect(cache.fresh()).toBe(true);
      // Announcements reach the copy without waiting for a resync (this one's is a minute away).
      await new BanList(stack.redis).ban('device', 'device-announced-0001', 'test', 60);
      await within(1_000, async () => cache.isBanned('device', 'device-announced-0001'));
      await new BanList(stack.redis).lift('device', 'device-announced-0001');
      await within(1_000, async () => !cache.isBanned('device', 'device-announced-0001'));
      expect(await bans.firstBanned([['device', 'device-nobody-0001']])).toBeNull();
      now += 10_000; // no resync for longer than staleMs
      expect(cache.fresh()).toBe(false);
      await expect(bans.firstBanned([['device', 'device-nobody-0001']])).rejects.toThrow();
      const revoked = new RevokedSessions(dead, { cache });
      await expect(revoked.isRevoked('00000000-0000-4000-8000-00000000abcd')).rejects.toThrow();
    } finally {
      await cache.stop();
      dead.disconnect();
    }
  });

  it('an API answers 503 for a signed-in route while it cannot check (and the probes still answer)', async () => {
    const dead = createRedis('redis://127.0.0.1:1/0', { name: 'dead' });
    dead.on('error', () => undefined);
    const app = createApiApp({ ...stack, redis: dead, logger: testLogger });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const token = await stack.tokens.sign({ userId: (await stack.newUser()).id });
      const res = await me(url, token);
      expect(res.status).toBe(503);
      expect(await errorOf(res)).toBe('DEPENDENCY_UNAVAILABLE');
      expect((await fetch(`${url}/v1/healthz`)).status).toBe(200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      dead.disconnect();
    }
  });
});
