import { localDate } from '../../domain/calendar';
import { dailyRewardStatusQuery, dailyRewardWorkflowId } from '../../workflows/daily-reward/definitions';
import { startApi, startEdge, startWorker } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { TestSocket } from '../support/ws-client';

/**
 * The daily reward end to end on real PostgreSQL, Redis and the Temporal dev server:
 * HTTP claim → Update-with-Start → workflow → credit activity → ledger → Redis → WebSocket.
 */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let edge: Awaited<ReturnType<typeof startEdge>>;
let worker: Awaited<ReturnType<typeof startWorker>>;

beforeAll(async () => {
  stack = await connectRealStack('daily-reward-api');
  [api, edge, worker] = await Promise.all([startApi(stack), startEdge(stack), startWorker(stack)]);
});

afterAll(async () => {
  await Promise.all([api?.close(), edge?.close()]);
  await worker?.stop();
  await stack?.close();
});

async function signedInUser(timeZone = 'UTC') {
  const user = await stack.newUser({ timeZone });
  const token = await stack.tokens.sign({ userId: user.id });
  const call = (method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown) =>
    fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  return { user, token, call };
}

/** The zone the running flow itself holds (queried, so it shows what reached the workflow). */
async function flowZoneBecomes(userId: string, zone: string): Promise<void> {
  const handle = stack.temporal.workflow.getHandle(dailyRewardWorkflowId(userId));
  const deadline = Date.now() + 10_000;
  // A query can be answered before the workflow task carrying the signal has run: ask until it has.
  while ((await handle.query(dailyRewardStatusQuery)).state.timeZone !== zone) {
    if (Date.now() > deadline) throw new Error(`the flow never took ${zone}`);
    await new Promise((r) => setImmediate(r));
  }
}

async function ledgerRows(userId: string) {
  return stack.dataSource.query(
    `SELECT idempotency_key, amount::int, balance_after::int, reason FROM ledger_entries WHERE user_id = $1 ORDER BY id`,
    [userId],
  ) as Promise<{ idempotency_key: string; amount: number; balance_after: number; reason: string }[]>;
}

describe('POST /v1/rewards/daily/claim', () => {
  it('credits the ledger, updates the balance and pushes reward.claimed to the user socket', async () => {
    const { user, token, call } = await signedInUser();
    const socket = await TestSocket.connect(edge.url, { token });
    try {
      const res = await call('POST', '/v1/rewards/daily/claim');
      expect(res.status).toBe(200);
      const { claim } = (await res.json()) as { claim: { day: number; coins: number; date: string; coinBalance: number } };
      expect(claim).toMatchObject({ day: 1, coins: 10, streak: 1, coinBalance: 10 });

      expect(await ledgerRows(user.id)).toEqual([
        { idempotency_key: `daily-reward:${user.id}:${claim.date}`, amount: 10, balance_after: 10, reason: 'daily_reward' },
      ]);
      expect(await stack.ledger.balances(user.id)).toEqual({ coins: 10, diamonds: 0 });
      const claims = await stack.dataSource.query(`SELECT cycle_day, coins, streak FROM daily_reward_claims WHERE user_id = $1`, [user.id]);
      expect(claims).toEqual([{ cycle_day: 1, coins: 10, streak: 1 }]);

      const event = await socket.next('reward.claimed');
      expect(event).toMatchObject({
        id: `daily-reward:${user.id}:${claim.date}`,
        type: 'reward.claimed',
        data: { date: claim.date, day: 1, coins: 10, streak: 1, coinBalance: 10 },
      });
    } finally {
      await socket.close();
    }
  });

  it('answers 409 ALREADY_CLAIMED_TODAY to a second claim the same day and credits nothing more', async () => {
    const { user, call } = await signedInUser();
    expect((await call('POST', '/v1/rewards/daily/claim')).status).toBe(200);
    const second = await call('POST', '/v1/rewards/daily/claim');
    expect(second.status).toBe(409);
    const body = (await second.json()) as { error: { code: string; details: { nextClaimAt: string } } };
    expect(body.error.code).toBe('ALREADY_CLAIMED_TODAY');
    expect(Date.parse(body.error.details.nextClaimAt)).toBeGreaterThan(Date.now());
    expect(await ledgerRows(user.id)).toHaveLength(1);
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 10, diamonds: 0 });
  });

  it('credits exactly once under 20 concurrent duplicate claims', async () => {
    const { user, call } = await signedInUser();
    const responses = await Promise.all(Array.from({ length: 20 }, () => call('POST', '/v1/rewards/daily/claim')));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    expect(await ledgerRows(user.id)).toHaveLength(1);
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 10, diamonds: 0 });
  });
});

describe('GET /v1/rewards/daily', () => {
  it('shows the 7-day table and today as claimable before the first claim, then as claimed', async () => {
    const { call } = await signedInUser('Asia/Kolkata');
    const before = (await (await call('GET', '/v1/rewards/daily')).json()) as Record<string, unknown>;
    expect(before).toMatchObject({
      claimedToday: false,
      claimable: { day: 1, coins: 10, streakAfter: 1 },
      streak: 0,
      timeZone: 'Asia/Kolkata',
      table: [10, 20, 30, 40, 50, 60, 150].map((coins, i) => ({ day: i + 1, coins })),
    });

    await call('POST', '/v1/rewards/daily/claim');
    const after = (await (await call('GET', '/v1/rewards/daily')).json()) as Record<string, unknown>;
    expect(after).toMatchObject({ claimedToday: true, claimable: null, currentDay: 1, streak: 1, totalClaims: 1 });
    expect(Date.parse(after.nextClaimAt as string)).toBeGreaterThan(Date.now());
    expect(Date.parse(after.streakBreaksAt as string)).toBeGreaterThan(Date.parse(after.nextClaimAt as string));
  });

  it('answers 404 USER_NOT_FOUND for a valid token of a user that does not exist', async () => {
    const token = await stack.tokens.sign({ userId: '7f3e7d3a-0000-4000-8000-000000000000' });
    const res = await fetch(`${api.url}/v1/rewards/daily`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('USER_NOT_FOUND');
  });
});

describe('the zone follows the profile', () => {
  const EAST = 'Pacific/Kiritimati'; // UTC+14

  it('PATCH /me changes the zone GET /rewards/daily shows (today in it), tells the running flow, and reopens nothing', async () => {
    const { user, call } = await signedInUser('UTC');
    expect((await call('POST', '/v1/rewards/daily/claim')).status).toBe(200);

    const patched = await call('PATCH', '/v1/me', { timeZone: EAST });
    expect(patched.status).toBe(200);
    const me = (await (await call('GET', '/v1/me')).json()) as { timeZone: string };
    const before = localDate(Date.now(), EAST);
    const status = (await (await call('GET', '/v1/rewards/daily')).json()) as { timeZone: string; today: string; claimedToday: boolean };
    const after = localDate(Date.now(), EAST);
    expect(me.timeZone).toBe(EAST);
    expect(status.timeZone).toBe(me.timeZone);
    expect([before, after]).toContain(status.today);
    // The claim a moment ago was already "today" in UTC+14: moving east opens no second claim.
    expect(status.claimedToday).toBe(true);
    await flowZoneBecomes(user.id, EAST);
    expect((await call('POST', '/v1/rewards/daily/claim')).status).toBe(409);
    expect(await ledgerRows(user.id)).toHaveLength(1);
  });

  it('shows the profile zone before the first claim too', async () => {
    const { call } = await signedInUser('UTC');
    expect((await call('PATCH', '/v1/me', { timeZone: 'Asia/Kolkata' })).status).toBe(200);
    const status = (await (await call('GET', '/v1/rewards/daily')).json()) as { timeZone: string; today: string };
    expect(status.timeZone).toBe('Asia/Kolkata');
    expect([localDate(Date.now() - 5_000, 'Asia/Kolkata'), localDate(Date.now(), 'Asia/Kolkata')]).toContain(status.today);
  });

  it('a zone the flow never heard about (a lost signal) is still what the status shows, and the status read passes it on', async () => {
    const { user, call } = await signedInUser('UTC');
    expect((await call('POST', '/v1/rewards/daily/claim')).status).toBe(200);
    await stack.dataSource.query(`UPDATE users SET time_zone = $2, updated_at = now() WHERE id = $1`, [user.id, 'America/Los_Angeles']);

    const status = (await (await call('GET', '/v1/rewards/daily')).json()) as { timeZone: string; today: string };
    expect(status.timeZone).toBe('America/Los_Angeles');
    expect([localDate(Date.now() - 5_000, 'America/Los_Angeles'), localDate(Date.now(), 'America/Los_Angeles')]).toContain(status.today);
    await flowZoneBecomes(user.id, 'America/Los_Angeles');
  });
});
