import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createVipActivities, type VipActivities } from '../../activities/vip';
import type { RoomLiveState } from '../../db/live/room-live-state';
import { VipRecords } from '../../db/repositories/vip';
import { AppError } from '../../domain/errors';
import { SearchAttribute } from '../../domain/flows';
import { DEFAULT_VIP_POLICY, type VipPolicy } from '../../domain/vip/flow';
import { convertRemaining, VIP_PERIOD_MS } from '../../domain/vip/membership';
import { RedisUserEventPublisher } from '../../platform/events/publisher';
import { GiftService } from '../../services/gifts/gift-service';
import { ReplayableRequests } from '../../services/idempotency/replayable-requests';
import { createRoomService } from '../../services/rooms';
import type { RoomService } from '../../services/rooms/room-service';
import { VipFlows, type VipTimer } from '../../services/vip/flow-client';
import { VipService, type VipPurchaseView } from '../../services/vip/vip-service';
import { vipWorkflowId } from '../../workflows/vip/definitions';
import { HISTORIES_DIR, historyToFile } from '../replay/histories';
import { testLogger } from '../support/app-harness';
import { createTestGift, fundCoins, ledgerDisagreements, uncachedCatalog } from '../support/economy';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { RoomJanitor } from '../support/room-api';
import { createTimeSkippingEnv, workflowBundle } from '../support/time-skipping';

/**
 * The `vip:<userId>` flow on the time-skipping test server with its real activities over the
 * real PostgreSQL (the membership row, the notification list), and purchases through the real
 * VipService (ledger, idempotency, signal-with-start). A month of VIP runs in seconds; the
 * service's clock is the test server's, so purchases and timers agree on "now".
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let env: TestWorkflowEnvironment;
let stack: RealStack;
let records: VipRecords;
let rooms: RoomService;
let live: RoomLiveState;
let janitor: RoomJanitor;
let gifts: GiftService;

beforeAll(async () => {
  [env, stack] = await Promise.all([createTimeSkippingEnv(), connectRealStack('vip-wf')]);
  records = new VipRecords(stack.dataSource);
  ({ rooms, live } = createRoomService({ config: stack.config, dataSource: stack.dataSource, redis: stack.redis, logger: testLogger }));
  janitor = new RoomJanitor(rooms, live);
  gifts = new GiftService({
    dataSource: stack.dataSource,
    live,
    catalog: uncachedCatalog(stack.dataSource),
    requests: new ReplayableRequests(stack.dataSource),
    settings: { holdMs: 72 * HOUR, maxReceivers: 3, senderDailyCapCoins: 10_000_000, pairDailyCapCoins: 10_000_000 },
  });
});

afterEach(async () => janitor.sweep());

afterAll(async () => {
  await env?.teardown();
  await stack?.close();
});

async function recordHistory(name: string, workflowId: string): Promise<void> {
  if (process.env.AURA_RECORD_HISTORIES !== '1') return;
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), historyToFile(history));
}

/** Polls `check` until it holds (activities run in real time while the server's clock is skipped). */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`never: ${what} (last: ${JSON.stringify(value)})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Calls {
  reminders: number;
  expiries: number;
}

interface Scenario {
  userId: string;
  calls: Calls;
  /** Buys through the service at the test server's "now"; `signal: false` loses the flow's signal. */
  buy(tier: number, options?: { periods?: number; key?: string; signal?: boolean }): Promise<VipPurchaseView>;
  now(): Promise<number>;
  /** Skips the server's clock to `at` (ms). */
  sleepUntil(at: number): Promise<void>;
  membership(): Promise<{ tier: number; expiresAt: number | null }>;
  flowState(): Promise<{ tier: number; expiresAt: number | null; remindersSent: string[]; lastExpiredAt: number | null }>;
  notifications(kind: string): Promise<{ data: Record<string, unknown>; idempotency_key: string }[]>;
  restartWorker(): Promise<void>;
}

async function withScenario(
  options: { record?: string; policy?: Partial<VipPolicy>; coins?: number; wrap?: (real: VipActivities, s: Scenario) => VipActivities },
  body: (s: Scenario) => Promise<void>,
): Promise<void> {
  const taskQueue = `vip-ts-${randomUUID()}`;
  const user = await stack.newUser();
  await fundCoins(stack, user.id, options.coins ?? 1_000_000);
  const policy = { ...DEFAULT_VIP_POLICY, ...options.policy };
  const calls: Calls = { reminders: 0, expiries: 0 };
  let simNow = 0;
  const flows = new VipFlows(env.client, taskQueue, policy);
  const lost: VipTimer = { purchased: async () => false };
  const requests = new ReplayableRequests(stack.dataSource);
  const service = (timer: VipTimer) => new VipService({ dataSource: stack.dataSource, requests, timer, policy, clock: () => simNow });
  const connected = service(flows);
  const disconnected = service(lost);

  const scenario: Scenario = {
    userId: user.id,
    calls,
    async buy(tier, o = {}) {
      simNow = await env.currentTimeMs();
      const reply = await (o.signal === false ? disconnected : connected).purchase({ userId: user.id, tier, periods: o.periods ?? 1, idempotencyKey: o.key ?? randomUUID() });
      return reply.body as VipPurchaseView;
    },
    now: () => env.currentTimeMs(),
    async sleepUntil(at) {
      const now = await env.currentTimeMs();
      if (at > now) await env.sleep(at - now);
    },
    async membership() {
      return (await records.membership(user.id))!;
    },
    async flowState() {
      return (await flows.status(user.id))!.state;
    },
    async notifications(kind) {
      return stack.dataSource.query(`SELECT data, idempotency_key FROM notifications WHERE user_id = $1 AND kind = $2 ORDER BY created_at, id`, [user.id, kind]);
    },
    async restartWorker() {
      await stopWorker();
      startWorker();
    },
  };

  const real = createVipActivities({ dataSource: stack.dataSource, events: new RedisUserEventPublisher(stack.redis) });
  const counted: VipActivities = {
    ...real,
    sendVipReminder: async (input) => {
      calls.reminders += 1;
      return real.sendVipReminder(input);
    },
    expireVip: async (input) => {
      calls.expiries += 1;
      return real.expireVip(input);
    },
  };
  const activities = options.wrap ? options.wrap(counted, scenario) : counted;

  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  const bundle = await workflowBundle();
  const startWorker = () => {
    // No workflow cache, so no sticky queue: the Java test server never hands a stopped worker's
    // sticky tasks back to the shared queue. Every task replays the history, which is what a
    // restarted worker does anyway.
    running = Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities, maxCachedWorkflows: 0 }).then((w) => {
      worker = w;
      return w.run();
    });
  };
  const stopWorker = async () => {
    while (!worker) await new Promise((r) => setImmediate(r));
    worker.shutdown();
    await running;
    worker = undefined;
  };

  startWorker();
  try {
    await body(scenario);
    if (options.record) await recordHistory(options.record, vipWorkflowId(user.id));
  } finally {
    // A flow left running would hold the test server's clock for the next test: end it.
    await env.client.workflow.getHandle(vipWorkflowId(user.id)).terminate('test finished').catch(() => undefined);
    await stopWorker();
  }
  expect(await ledgerDisagreements(stack.dataSource, [user.id])).toEqual([]);
}

const vipDebits = (userId: string) =>
  stack.dataSource.query(`SELECT amount::int, reason FROM ledger_entries WHERE user_id = $1 AND reason = 'vip_purchase' ORDER BY id`, [userId]) as Promise<
    { amount: number; reason: string }[]
  >;

describe('vip flow (time-skipping, real PostgreSQL)', () => {
  it('a renewal before the expiry adds a period to it; the timer moves and VipExpiresAt follows', async () => {
    await withScenario({ record: 'vip.renewed' }, async (s) => {
      const first = await s.buy(1);
      const e1 = Date.parse(first.vip.expiresAt);
      expect(first.purchase).toMatchObject({ kind: 'new', tier: 1, priceCoins: 3_000, seq: 1 });
      await eventually(() => s.flowState(), (st) => st.expiresAt === e1, 'the flow holds the first expiry');

      await s.sleepUntil(e1 - 5 * DAY);
      const renewal = await s.buy(1);
      expect(renewal.purchase).toMatchObject({ kind: 'renewal', seq: 2 });
      const e2 = Date.parse(renewal.vip.expiresAt);
      expect(e2).toBe(e1 + VIP_PERIOD_MS);
      expect(await s.membership()).toEqual({ tier: 1, expiresAt: e2 });
      await eventually(() => s.flowState(), (st) => st.expiresAt === e2, 'the flow holds the renewed expiry');

      const described = await env.client.workflow.getHandle(vipWorkflowId(s.userId)).describe();
      expect(described.typedSearchAttributes.get(SearchAttribute.VipExpiresAt)?.getTime()).toBe(e2);
      expect(described.typedSearchAttributes.get(SearchAttribute.FlowKind)).toBe('vip');
      expect(described.typedSearchAttributes.get(SearchAttribute.UserId)).toBe(s.userId);

      // Past the first expiry: still VIP, nothing expired, no reminder for the old expiry.
      await s.sleepUntil(e1 + HOUR);
      expect(await s.membership()).toEqual({ tier: 1, expiresAt: e2 });
      expect(s.calls.expiries).toBe(0);
      expect(await s.notifications('vip_reminder')).toEqual([]);
      expect(await vipDebits(s.userId)).toEqual([{ amount: -3_000, reason: 'vip_purchase' }, { amount: -3_000, reason: 'vip_purchase' }]);
    });
  });

  it('an upgrade mid-term converts the rest of the old tier into days of the new one', async () => {
    await withScenario({ record: 'vip.upgraded' }, async (s) => {
      const bronze = await s.buy(1); // Bronze, 3,000 a period
      await s.sleepUntil((await s.now()) + 10 * DAY);
      const upgrade = await s.buy(3); // Gold, 30,000 a period: about 20 days left are worth 2 days of Gold
      const now = Date.parse(upgrade.purchase.createdAt);
      const converted = convertRemaining(Date.parse(bronze.vip.expiresAt) - now, 3_000, 30_000);
      expect(converted).toBeGreaterThan(2 * DAY - 5_000);
      expect(converted).toBeLessThanOrEqual(2 * DAY);
      expect(upgrade.purchase).toMatchObject({ kind: 'upgrade', tier: 3, priceCoins: 30_000, convertedMs: converted });
      const expiresAt = now + converted + VIP_PERIOD_MS;
      expect(Date.parse(upgrade.vip.expiresAt)).toBe(expiresAt);
      expect(await s.membership()).toEqual({ tier: 3, expiresAt });
      await eventually(() => s.flowState(), (st) => st.tier === 3 && st.expiresAt === expiresAt, 'the flow holds the upgrade');
      expect(await vipDebits(s.userId)).toEqual([{ amount: -3_000, reason: 'vip_purchase' }, { amount: -30_000, reason: 'vip_purchase' }]);

      // A lower tier while Gold runs is refused and changes nothing.
      await expect(s.buy(1)).rejects.toMatchObject({ code: 'VIP_DOWNGRADE_WHILE_ACTIVE' });
      expect(await vipDebits(s.userId)).toHaveLength(2);
    });
  });

  it('sends each reminder once, expires at the exact moment (tier 0 in the record), and a VIP gift is then refused', async () => {
    await withScenario({ record: 'vip.expired' }, async (s) => {
      const host = await stack.newUser();
      const room = janitor.room(await rooms.create(host.id, { type: 'voice', name: 'VIP room', seatCount: 4, seatMode: 'free' }));
      await janitor.enter(room, host.id);
      await janitor.enter(room, s.userId);
      const dragon = await createTestGift(stack.dataSource, { priceCoins: 100, minVipTier: 3 });
      const sendDragon = () => gifts.send({ senderId: s.userId, roomId: room.id, giftId: dragon, quantity: 1, to: { users: [host.id] }, idempotencyKey: randomUUID() });

      const bought = await s.buy(3);
      const e = Date.parse(bought.vip.expiresAt);
      expect((await sendDragon()).status).toBe(201);

      await s.sleepUntil(e - 72 * HOUR + 1_000);
      const first = await eventually(() => s.notifications('vip_reminder'), (n) => n.length === 1, 'the 3-day reminder');
      expect(first[0]!.data).toMatchObject({ leadHours: 72, tier: 3, expiresAt: bought.vip.expiresAt });

      await s.sleepUntil(e - 24 * HOUR + 1_000);
      const both = await eventually(() => s.notifications('vip_reminder'), (n) => n.length === 2, 'the 1-day reminder');
      expect(both.map((n) => n.data.leadHours)).toEqual([72, 24]);

      // One second before the end: still VIP. One second after: the record says tier 0.
      await s.sleepUntil(e - 1_000);
      expect(await s.membership()).toEqual({ tier: 3, expiresAt: e });
      await s.sleepUntil(e + 1_000);
      await eventually(() => s.membership(), (m) => m.tier === 0 && m.expiresAt === null, 'the expiry');
      const ended = await eventually(() => s.notifications('vip_expired'), (n) => n.length === 1, 'the vip_expired notification');
      expect(ended[0]!.data).toMatchObject({ tier: 3, expiredAt: bought.vip.expiresAt });
      const state = await eventually(() => s.flowState(), (st) => st.expiresAt === null, 'the flow saw the expiry');
      expect(state).toMatchObject({ tier: 0, lastExpiredAt: e });
      const described = await env.client.workflow.getHandle(vipWorkflowId(s.userId)).describe();
      expect(described.typedSearchAttributes.get(SearchAttribute.VipExpiresAt)).toBeUndefined();
      expect(described.memo?.summary).toBe(`not VIP (ended ${bought.vip.expiresAt}); 1 purchase (last #1)`);

      // Perks end everywhere users.vip_tier is read: the gift check refuses the VIP gift now.
      await expect(sendDragon()).rejects.toMatchObject({ code: 'GIFT_VIP_REQUIRED' });
      expect(await records.dailyRewardPercent(s.userId)).toBe(100);
      expect(s.calls).toEqual({ reminders: 2, expiries: 1 });

      // A week later nothing more was sent.
      await s.sleepUntil(e + 7 * DAY);
      expect(await s.notifications('vip_reminder')).toHaveLength(2);
      expect(await s.notifications('vip_expired')).toHaveLength(1);
    });
  });

  it('does not send a reminder twice across a worker restart and a continue-as-new', async () => {
    await withScenario({ record: 'vip.continued-as-new', policy: { maxSignalsPerRun: 2 } }, async (s) => {
      const key = randomUUID();
      const bought = await s.buy(2, { key });
      const e = Date.parse(bought.vip.expiresAt);
      const handle = env.client.workflow.getHandle(vipWorkflowId(s.userId));
      const firstRun = (await handle.describe()).runId;

      await s.sleepUntil(e - 72 * HOUR + 1_000);
      await eventually(() => s.notifications('vip_reminder'), (n) => n.length === 1, 'the 3-day reminder');
      await s.restartWorker();
      // The client retries its purchase: a replay (nothing bought again) that signals once more,
      // the second signal of the run: the flow continues as new with its state.
      const replay = await s.buy(2, { key });
      expect(replay.purchase.id).toBe(bought.purchase.id);
      await eventually(async () => (await handle.describe()).runId, (run) => run !== firstRun, 'the flow continued as new');
      expect((await s.flowState()).remindersSent).toHaveLength(1);

      await s.sleepUntil(e - 24 * HOUR + 1_000);
      await eventually(() => s.notifications('vip_reminder'), (n) => n.length === 2, 'the 1-day reminder');
      await s.sleepUntil(e + 1_000);
      await eventually(() => s.membership(), (m) => m.tier === 0, 'the expiry');
      expect(s.calls).toEqual({ reminders: 2, expiries: 1 });
      expect((await s.notifications('vip_reminder')).map((n) => n.data.leadHours)).toEqual([72, 24]);
      expect(await vipDebits(s.userId)).toHaveLength(1);
    });
  });

  it('a purchase committed as the timer fires wins, even when its signal is lost', async () => {
    let raced: VipPurchaseView | undefined;
    await withScenario(
      {
        record: 'vip.purchase-wins-race',
        wrap: (real, s) => ({
          ...real,
          // The renewal commits between the timer firing and the expiry's UPDATE; its signal never arrives.
          expireVip: async (input) => {
            raced ??= await s.buy(1, { signal: false });
            return real.expireVip(input);
          },
        }),
      },
      async (s) => {
        const bought = await s.buy(1);
        const e = Date.parse(bought.vip.expiresAt);
        await s.sleepUntil(e + 1_000);
        const renewed = await eventually(() => s.flowState(), (st) => raced !== undefined && st.expiresAt === Date.parse(raced.vip.expiresAt), 'the flow adopted the record');
        const e2 = Date.parse(raced!.vip.expiresAt);
        expect(renewed.tier).toBe(1);
        // Bought at the moment of the expiry: no grace, so a new term from then.
        expect(raced!.purchase).toMatchObject({ kind: 'new', seq: 2 });
        expect(e2).toBeGreaterThanOrEqual(e + VIP_PERIOD_MS);
        expect(await s.membership()).toEqual({ tier: 1, expiresAt: e2 });
        expect(await s.notifications('vip_expired')).toEqual([]);

        // The next expiry is the new term's.
        await s.sleepUntil(e2 + 1_000);
        await eventually(() => s.membership(), (m) => m.tier === 0, 'the renewed term expires');
      },
    );
  });

  it('the expiry waits for a purchase holding the row and then leaves it alone', async () => {
    const user = await stack.newUser();
    const e1 = new Date(Date.now() + DAY);
    await stack.dataSource.query(`UPDATE users SET vip_tier = 2, vip_expires_at = $2 WHERE id = $1`, [user.id, e1]);
    const runner = stack.dataSource.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      await runner.query(`SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, [user.id]);
      const expiry = records.expire(user.id, e1);
      // The expiry is blocked on the row: wait until PostgreSQL shows it waiting for a lock.
      await eventually(
        () => stack.dataSource.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'WITH reset AS (UPDATE users SET vip_tier = 0%'`) as Promise<{ n: number }[]>,
        (rows) => rows[0]!.n > 0,
        'the expiry waiting on the row lock',
      );
      const e2 = new Date(e1.getTime() + VIP_PERIOD_MS);
      await runner.query(`UPDATE users SET vip_expires_at = $2 WHERE id = $1`, [user.id, e2]);
      await runner.commitTransaction();
      expect(await expiry).toEqual({ expired: false, tier: 2, expiresAt: e2, seq: 0 });
      expect(await records.membership(user.id)).toEqual({ tier: 2, expiresAt: e2.getTime() });
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }
  });

  it('retries a failing expiry and a failing reminder until they succeed, each effect once', async () => {
    let expiryFailures = 0;
    let reminderFailures = 0;
    await withScenario(
      {
        record: 'vip.activity-retried',
        wrap: (real) => ({
          ...real,
          sendVipReminder: async (input) => {
            if (reminderFailures < 1) {
              reminderFailures += 1;
              throw new Error('the notification store hiccuped');
            }
            return real.sendVipReminder(input);
          },
          expireVip: async (input) => {
            if (expiryFailures < 2) {
              expiryFailures += 1;
              throw new Error('PostgreSQL is restarting');
            }
            return real.expireVip(input);
          },
        }),
      },
      async (s) => {
        const bought = await s.buy(1);
        const e = Date.parse(bought.vip.expiresAt);
        await s.sleepUntil(e - 72 * HOUR + 1_000);
        await eventually(() => s.notifications('vip_reminder'), (n) => n.length === 1, 'the retried reminder');
        await s.sleepUntil(e + 1_000);
        // Two failures back off 1 s then 2 s (server time), then the third attempt expires it.
        await s.sleepUntil(e + 10_000);
        await eventually(() => s.membership(), (m) => m.tier === 0, 'the retried expiry');
        expect(expiryFailures).toBe(2);
        expect(reminderFailures).toBe(1);
        expect(s.calls.expiries).toBe(1); // the counting wrapper sits behind the failures
        expect(await s.notifications('vip_expired')).toHaveLength(1);
      },
    );
  });

  it('refuses a purchase without the coins or with coins owed, changing nothing', async () => {
    await withScenario({ coins: 2_999 }, async (s) => {
      await expect(s.buy(1)).rejects.toMatchObject({ code: 'INSUFFICIENT_FUNDS', details: { needed: 3_000, balance: 2_999 } });
      await expect(s.buy(9)).rejects.toMatchObject({ code: 'VIP_TIER_NOT_FOUND' });
      await stack.ledger.post({ userId: s.userId, currency: 'coins_owed', amount: 10, reason: 'clawback', idempotencyKey: `test-owed:${randomUUID()}` });
      const err = await s.buy(1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code: 'COINS_OWED' });
      expect(await s.membership()).toEqual({ tier: 0, expiresAt: null });
      expect(await vipDebits(s.userId)).toEqual([]);
      expect(await env.client.workflow.getHandle(vipWorkflowId(s.userId)).describe().catch(() => null)).toBeNull();
    });
  });
});
