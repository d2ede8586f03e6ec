import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SearchAttribute } from '../../domain/flows';
import { DEFAULT_VIP_POLICY } from '../../domain/vip/flow';
import { VIP_PERIOD_MS } from '../../domain/vip/membership';
import { ReplayableRequests } from '../../services/idempotency/replayable-requests';
import { createProgressEvents, type ProgressEvent } from '../../services/progress';
import { VipService } from '../../services/vip/vip-service';
import { vipStatusQuery, vipWorkflowId } from '../../workflows/vip/definitions';
import { ensureSchedules, vipExpirySweep } from '../../workers/schedules';
import { HISTORIES_DIR, historyToFile } from '../replay/histories';
import { startApi, startWorker } from '../support/app-harness';
import { fundCoins, ledgerDisagreements } from '../support/economy';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * VIP over HTTP on real PostgreSQL, Redis and the Temporal dev server with a worker: the tiers,
 * buying with an Idempotency-Key (replays, refusals), the membership, the `vip:<userId>` flow
 * with its VipExpiresAt search attribute (searchable, as support staff do in the Web UI), and
 * the daily reward multiplier.
 */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let worker: Awaited<ReturnType<typeof startWorker>>;

beforeAll(async () => {
  stack = await connectRealStack('vip-api');
  [api, worker] = await Promise.all([startApi(stack), startWorker(stack)]);
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await stack?.close();
});

async function signedInUser(coins = 0) {
  const user = await stack.newUser();
  if (coins > 0) await fundCoins(stack, user.id, coins);
  const token = await stack.tokens.sign({ userId: user.id });
  const call = (method: 'GET' | 'POST', path: string, options: { body?: unknown; key?: string; headers?: Record<string, string> } = {}) =>
    fetch(`${api.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(options.key === undefined ? {} : { 'idempotency-key': options.key }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
  return { user, call };
}

/** Medals a purchase earns (a VIP tier's medal) pay coins too; the VIP checks leave them out. */
const medalCoins = async (userId: string) =>
  Number(((await stack.dataSource.query(`SELECT coalesce(sum(amount), 0) AS c FROM ledger_entries WHERE user_id = $1 AND reason = 'medal_reward'`, [userId])) as { c: string }[])[0]!.c);
const coinsOf = async (userId: string) => (await stack.ledger.balances(userId))!.coins - (await medalCoins(userId));
const vipDebits = (userId: string) =>
  stack.dataSource.query(`SELECT amount::int FROM ledger_entries WHERE user_id = $1 AND reason = 'vip_purchase'`, [userId]) as Promise<{ amount: number }[]>;
const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read().catch(() => undefined as T);
    if (value !== undefined && check(value)) return value;
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('GET /v1/vip/tiers', () => {
  it('lists the seeded tiers with their perks as flags, with an ETag and 304', async () => {
    const { call } = await signedInUser();
    const res = await call('GET', '/v1/vip/tiers');
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as { items: { level: number; name: string; priceCoins: number; perks: Record<string, unknown> }[] };
    expect(items.map((t) => [t.level, t.name, t.priceCoins])).toEqual([
      [1, 'Bronze', 3_000],
      [2, 'Silver', 9_000],
      [3, 'Gold', 30_000],
      [4, 'Platinum', 90_000],
      [5, 'Diamond', 300_000],
    ]);
    expect(items[2]).toMatchObject({ periodDays: 30, perks: { badge: true, roomEntryEffect: true, exclusiveGifts: true, profileFrame: true, dailyRewardMultiplier: 1.5 } });
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect((await call('GET', '/v1/vip/tiers', { headers: { 'if-none-match': `W/${etag}` } })).status).toBe(304);
    expect((await call('GET', '/v1/vip/tiers?x=1')).status).toBe(400);
  });
});

describe('POST /v1/me/vip/purchases', () => {
  it('buys a tier from the wallet, records it, starts the flow with VipExpiresAt, and GET /v1/me/vip shows it', async () => {
    const { user, call } = await signedInUser(10_000);
    const before = Date.now();
    const res = await call('POST', '/v1/me/vip/purchases', { body: { tier: 2 }, key: randomUUID() });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { purchase: { kind: string; tier: number; periods: number; priceCoins: number; seq: number }; vip: { tier: number; expiresAt: string }; coinBalance: number };
    expect(body).toMatchObject({ purchase: { kind: 'new', tier: 2, periods: 1, priceCoins: 9_000, seq: 1 }, vip: { tier: 2 }, coinBalance: 1_000 });
    const expiresAt = Date.parse(body.vip.expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(before + VIP_PERIOD_MS);
    expect(await coinsOf(user.id)).toBe(1_000);
    expect(await vipDebits(user.id)).toEqual([{ amount: -9_000 }]);
    expect(await stack.dataSource.query(`SELECT vip_tier, vip_expires_at FROM users WHERE id = $1`, [user.id])).toEqual([{ vip_tier: 2, vip_expires_at: new Date(expiresAt) }]);

    const me = (await (await call('GET', '/v1/me/vip')).json()) as Record<string, unknown>;
    expect(me).toEqual({
      active: true,
      tier: expect.objectContaining({ level: 2, name: 'Silver' }),
      expiresAt: body.vip.expiresAt,
      pendingReminders: DEFAULT_VIP_POLICY.reminderLeadHours.map((h) => ({ leadHours: h, at: new Date(expiresAt - h * 3_600_000).toISOString() })),
    });

    // The flow holds the timer; support finds it by VipExpiresAt on the dev server's visibility.
    const handle = stack.temporal.workflow.getHandle(vipWorkflowId(user.id));
    await eventually(() => handle.query(vipStatusQuery), (s) => s.state.expiresAt === expiresAt, 'the flow took the purchase');
    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(SearchAttribute.VipExpiresAt)?.getTime()).toBe(expiresAt);
    const query = `VipExpiresAt <= "${new Date(expiresAt + 1_000).toISOString()}" AND VipExpiresAt >= "${new Date(expiresAt - 1_000).toISOString()}" AND UserId = "${user.id}"`;
    await eventually(
      async () => {
        const found: string[] = [];
        for await (const wf of stack.temporal.workflow.list({ query })) found.push(wf.workflowId);
        return found;
      },
      (found) => found.includes(vipWorkflowId(user.id)),
      'the flow found by VipExpiresAt',
    );
    expect(await ledgerDisagreements(stack.dataSource, [user.id])).toEqual([]);
  });

  it('answers a replay with the same key with the first answer and buys once; another body under the key is refused', async () => {
    const { user, call } = await signedInUser(20_000);
    const key = randomUUID();
    const first = await call('POST', '/v1/me/vip/purchases', { body: { tier: 1, periods: 2 }, key });
    expect(first.status).toBe(201);
    const firstBody = await first.json();
    const again = await call('POST', '/v1/me/vip/purchases', { body: { periods: 2, tier: 1 }, key });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(firstBody);
    const other = await call('POST', '/v1/me/vip/purchases', { body: { tier: 1 }, key });
    expect(other.status).toBe(422);
    expect(await errorCode(other)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await vipDebits(user.id)).toEqual([{ amount: -6_000 }]);
    expect(await coinsOf(user.id)).toBe(14_000);
  });

  it('renews from the current expiry, and refuses a downgrade while active', async () => {
    const { user, call } = await signedInUser(40_000);
    const first = (await (await call('POST', '/v1/me/vip/purchases', { body: { tier: 2 }, key: randomUUID() })).json()) as { vip: { expiresAt: string } };
    const renewal = await call('POST', '/v1/me/vip/purchases', { body: { tier: 2 }, key: randomUUID() });
    expect(renewal.status).toBe(201);
    const renewed = (await renewal.json()) as { purchase: { kind: string; seq: number }; vip: { expiresAt: string } };
    expect(renewed.purchase).toMatchObject({ kind: 'renewal', seq: 2 });
    expect(Date.parse(renewed.vip.expiresAt)).toBe(Date.parse(first.vip.expiresAt) + VIP_PERIOD_MS);
    const down = await call('POST', '/v1/me/vip/purchases', { body: { tier: 1 }, key: randomUUID() });
    expect(down.status).toBe(409);
    expect(await errorCode(down)).toBe('VIP_DOWNGRADE_WHILE_ACTIVE');
    expect(await vipDebits(user.id)).toHaveLength(2);
    const handle = stack.temporal.workflow.getHandle(vipWorkflowId(user.id));
    await eventually(() => handle.query(vipStatusQuery), (s) => s.state.seq === 2 && s.state.expiresAt === Date.parse(renewed.vip.expiresAt), 'the flow moved its timer');
  });

  it('refuses without enough coins, without a key, an unknown tier and coins owed, changing nothing', async () => {
    const { user, call } = await signedInUser(2_999);
    const poor = await call('POST', '/v1/me/vip/purchases', { body: { tier: 1 }, key: randomUUID() });
    expect(poor.status).toBe(409);
    expect(((await poor.json()) as { error: { code: string; details: unknown } }).error).toMatchObject({ code: 'INSUFFICIENT_FUNDS', details: { needed: 3_000, balance: 2_999 } });
    const noKey = await call('POST', '/v1/me/vip/purchases', { body: { tier: 1 } });
    expect(noKey.status).toBe(400);
    expect(await errorCode(noKey)).toBe('IDEMPOTENCY_KEY_REQUIRED');
    const unknown = await call('POST', '/v1/me/vip/purchases', { body: { tier: 9 }, key: randomUUID() });
    expect(unknown.status).toBe(404);
    expect(await errorCode(unknown)).toBe('VIP_TIER_NOT_FOUND');
    expect((await call('POST', '/v1/me/vip/purchases', { body: { tier: 1, periods: 13 }, key: randomUUID() })).status).toBe(400);
    await stack.ledger.post({ userId: user.id, currency: 'coins_owed', amount: 5, reason: 'clawback', idempotencyKey: `test-owed:${randomUUID()}` });
    await fundCoins(stack, user.id, 10_000); // pays the 5 owed first
    await stack.ledger.post({ userId: user.id, currency: 'coins_owed', amount: 5, reason: 'clawback', idempotencyKey: `test-owed:${randomUUID()}` });
    const owed = await call('POST', '/v1/me/vip/purchases', { body: { tier: 1 }, key: randomUUID() });
    expect(owed.status).toBe(409);
    expect(await errorCode(owed)).toBe('COINS_OWED');
    expect(await vipDebits(user.id)).toEqual([]);
    expect(await (await call('GET', '/v1/me/vip')).json()).toEqual({ active: false, tier: null, expiresAt: null, pendingReminders: [] });
    await expect(stack.temporal.workflow.getHandle(vipWorkflowId(user.id)).describe()).rejects.toThrow();
  });
});

describe('the larger daily reward', () => {
  it('multiplies the claim by the tier in force at claim time', async () => {
    const { call, user } = await signedInUser(30_000);
    expect((await call('POST', '/v1/me/vip/purchases', { body: { tier: 3 }, key: randomUUID() })).status).toBe(201);
    const status = (await (await call('GET', '/v1/rewards/daily')).json()) as { table: { coins: number }[] };
    expect(status.table.map((d) => d.coins)).toEqual([15, 30, 45, 60, 75, 90, 225]);
    const claim = await call('POST', '/v1/rewards/daily/claim');
    expect(claim.status).toBe(200);
    const claimed = ((await claim.json()) as { claim: { coins: number; coinBalance: number } }).claim;
    expect({ coins: claimed.coins, coinBalance: claimed.coinBalance - (await medalCoins(user.id)) }).toEqual({ coins: 15, coinBalance: 15 });
  });
});

describe('progress', () => {
  it('emits vip-bought once per committed purchase, after the commit, never for a replay or a refusal', async () => {
    const seen: ProgressEvent[] = [];
    const progress = createProgressEvents({ listeners: [{ onProgress: async (e) => void seen.push(e) }] });
    const vip = new VipService({
      dataSource: stack.dataSource,
      requests: new ReplayableRequests(stack.dataSource),
      timer: { purchased: async () => true },
      policy: DEFAULT_VIP_POLICY,
      progress,
    });
    const user = await stack.newUser();
    await fundCoins(stack, user.id, 3_500);
    const key = randomUUID();
    const reply = await vip.purchase({ userId: user.id, tier: 1, periods: 1, idempotencyKey: key });
    await vip.purchase({ userId: user.id, tier: 1, periods: 1, idempotencyKey: key });
    await expect(vip.purchase({ userId: user.id, tier: 1, periods: 1, idempotencyKey: randomUUID() })).rejects.toMatchObject({ code: 'INSUFFICIENT_FUNDS' });
    await progress.drain();
    const body = reply.body as { vip: { expiresAt: string } };
    expect(seen).toEqual([{ kind: 'vip-bought', userId: user.id, at: expect.any(Date), tier: 1, expiresAt: new Date(body.vip.expiresAt) }]);
  });
});

describe('the expiry sweep (the repair for a lost purchase signal)', () => {
  it('hands a membership past its expiry, whose flow never heard of it, back to its flow, which expires it', async () => {
    const { user, call } = await signedInUser();
    // As a purchase leaves it when Temporal never took its signal: a record, and no flow.
    const expiredAt = new Date(Date.now() - 5 * 60_000);
    await stack.dataSource.query(`UPDATE users SET vip_tier = 1, vip_expires_at = $2 WHERE id = $1`, [user.id, expiredAt]);
    expect(await (await call('GET', '/v1/me/vip')).json()).toMatchObject({ active: false, tier: null });

    const prefix = `test-${randomUUID().slice(0, 8)}-`;
    const [ensured] = await ensureSchedules(stack.temporal, { ...stack.config, VIP_EXPIRY_SWEEP_SECONDS: 3600 }, { idPrefix: prefix, schedules: [vipExpirySweep] });
    const schedule = stack.temporal.schedule.getHandle(ensured!.id);
    try {
      await schedule.trigger();
      const action = await eventually(async () => (await schedule.describe()).info.recentActions.at(-1), (a) => a !== undefined, 'the sweep ran');
      const run = stack.temporal.workflow.getHandle(action!.action.workflow.workflowId, action!.action.workflow.firstExecutionRunId);
      const result = await run.result();
      expect(result.signalled).toBeGreaterThanOrEqual(1);
      await eventually(
        () => stack.dataSource.query(`SELECT vip_tier FROM users WHERE id = $1`, [user.id]) as Promise<{ vip_tier: number }[]>,
        (rows) => rows[0]!.vip_tier === 0,
        'the flow expired the membership',
      );
      // The notification follows the expiry's commit.
      const notices = await eventually(
        () => stack.dataSource.query(`SELECT data FROM notifications WHERE user_id = $1 AND kind = 'vip_expired'`, [user.id]) as Promise<{ data: unknown }[]>,
        (rows) => rows.length > 0,
        'the vip_expired notification',
      );
      expect(notices).toEqual([{ data: { tier: 1, expiredAt: expiredAt.toISOString() } }]);
      if (process.env.AURA_RECORD_HISTORIES === '1') {
        writeFileSync(join(HISTORIES_DIR, 'vip-expiry-sweep.resumed.json'), historyToFile(await run.fetchHistory()));
      }
    } finally {
      await schedule.delete();
    }
  });
});
