import { createHash, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createRechargeActivities, type RechargeActivities } from '../../activities/recharge';
import { StorePurchaseRecords } from '../../db/repositories/store-purchases';
import { rechargeWorkflowId } from '../../domain/economy/recharge';
import { GooglePlayClient, type GooglePlaySettings } from '../../platform/stores/google-play';
import { TransientStoreError, type StorePurchases } from '../../platform/stores/store-purchases';
import { rechargeStatusQuery, type RechargeInput, type RechargeOutcome } from '../../workflows/recharge/definitions';
import type { voidedPurchasesWorkflow } from '../../workflows/recharge/voided';
import type { rechargeWorkflow } from '../../workflows/recharge/workflow';
import { HISTORIES_DIR, historyToFile } from '../replay/histories';
import { ledgerDisagreements } from '../support/economy';
import { startFakeGooglePlay, type FakeGooglePlay, type FakePurchaseInput } from '../support/fake-google-play';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createTimeSkippingEnv, workflowBundle } from '../support/time-skipping';

/**
 * The recharge flow on the time-skipping test server, with its real activities: PostgreSQL for
 * the purchase rows and the ledger, and the real Google Play client against a local server
 * speaking Google's wire format. Retries at 1/2/4 s and waits of minutes or days take no time.
 */
let env: TestWorkflowEnvironment;
let stack: RealStack;
let fake: FakeGooglePlay;
let records: StorePurchaseRecords;

beforeAll(async () => {
  [env, stack, fake] = await Promise.all([createTimeSkippingEnv(), connectRealStack('recharge-wf'), startFakeGooglePlay()]);
  records = new StorePurchaseRecords(stack.dataSource);
});

afterAll(async () => {
  await env?.teardown();
  await fake?.close();
  await stack?.close();
});

beforeEach(() => fake.controls.clearCalls());

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface Scenario {
  userId: string;
  taskQueue: string;
  /** A purchase at the fake, for this user unless told, and its row in PostgreSQL. */
  buy(input?: Partial<FakePurchaseInput>, options?: { productId?: string }): Promise<{ token: string; purchaseId: string; orderId: string }>;
  /** Starts the purchase's flow (under `workflowId`, the token's flow id unless told). */
  start(purchase: { token: string; purchaseId: string }, productId?: string, workflowId?: string): Promise<WorkflowHandle<typeof rechargeWorkflow>>;
  credits(orderId: string): Promise<{ amount: number }[]>;
}

async function recordHistory(name: string, workflowId: string): Promise<void> {
  if (process.env.AURA_RECORD_HISTORIES !== '1') return;
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), historyToFile(history));
}

let seq = 0;

async function withScenario(
  options: { client?: Partial<GooglePlaySettings>; wrap?: (activities: RechargeActivities, store: StorePurchases) => RechargeActivities; store?: (real: StorePurchases) => StorePurchases; record?: string },
  body: (s: Scenario) => Promise<void>,
): Promise<void> {
  const taskQueue = `recharge-ts-${randomUUID()}`;
  const real = new GooglePlayClient({ apiBaseUrl: fake.url, tokenUrl: fake.tokenUrl, packageName: fake.packageName, serviceAccount: fake.serviceAccount, timeoutMs: 300, ...options.client });
  const store = options.store ? options.store(real) : real;
  const base = createRechargeActivities({ dataSource: stack.dataSource, secrets: stack.secrets, store });
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: options.wrap ? options.wrap(base, store) : base,
  });
  const user = await stack.newUser();
  const started: string[] = [];
  const scenario: Scenario = {
    userId: user.id,
    taskQueue,
    async buy(input = {}, buyOptions = {}) {
      seq += 1;
      const token = `recharge-wf-${randomUUID()}.AO-J1Oz${seq}`;
      const orderId = `GPA.3390-${randomUUID().slice(0, 8)}-${seq}`;
      fake.controls.addPurchase({ token, productId: 'coins_500', orderId, accountId: user.id, ...input });
      const record = await records.register({
        store: 'google-play',
        tokenHash: sha256(token),
        tokenCiphertext: stack.secrets.encrypt(token),
        userId: user.id,
        productId: buyOptions.productId ?? input.productId ?? 'coins_500',
      });
      return { token, purchaseId: record.id, orderId };
    },
    async start(purchase, productId = 'coins_500', workflowId = rechargeWorkflowId(sha256(purchase.token))) {
      const input: RechargeInput = { purchaseId: purchase.purchaseId, userId: user.id, productId };
      started.push(workflowId);
      return env.client.workflow.start<typeof rechargeWorkflow>('rechargeWorkflow', { workflowId, taskQueue, args: [input] });
    },
    async credits(orderId) {
      const rows = (await stack.dataSource.query(`SELECT amount FROM ledger_entries WHERE idempotency_key = $1`, [`recharge:google-play:${orderId}`])) as { amount: string }[];
      return rows.map((r) => ({ amount: Number(r.amount) }));
    },
  };
  // A flow left running after its worker stops would hold the test server's clock: end it.
  const finish = async () => {
    if (options.record && started[0]) await recordHistory(options.record, started[0]);
    for (const id of started) await env.client.workflow.getHandle(id).terminate('test finished').catch(() => undefined);
  };
  await worker.runUntil(body(scenario).finally(finish));
  expect(await ledgerDisagreements(stack.dataSource, [user.id])).toEqual([]);
}

const apiGets = () => fake.controls.calls.filter((c) => c.endpoint === 'api' && c.method === 'GET');
const consumes = () => fake.controls.calls.filter((c) => c.endpoint === 'api' && c.method === 'POST');
const credited = (orderId: string, extra: Partial<RechargeOutcome> = {}) => ({
  status: 'credited',
  orderId,
  coins: 500,
  bonusCoins: 25,
  coinBalance: 525,
  ledgerEntryId: expect.stringMatching(/^\d+$/),
  ...extra,
});

describe('recharge flow (time-skipping, real PostgreSQL, local Google Play)', () => {
  it('verifies a purchase, credits it once and consumes it; no token in the history', async () => {
    await withScenario({ record: 'recharge.credited' }, async (s) => {
      const purchase = await s.buy();
      const handle = await s.start(purchase);
      expect(await handle.result()).toEqual(credited(purchase.orderId));
      expect(await s.credits(purchase.orderId)).toEqual([{ amount: 525 }]);
      expect(fake.controls.purchase(purchase.token)).toMatchObject({ consumed: true });
      expect(await records.byId(purchase.purchaseId)).toMatchObject({ state: 'consumed', orderId: purchase.orderId, coins: 500, bonusCoins: 25, quantity: 1 });
      expect(await handle.query(rechargeStatusQuery)).toMatchObject({ phase: 'done', consumed: true, failedRounds: 0 });
      const history = JSON.stringify(await handle.fetchHistory());
      expect(history).not.toContain(purchase.token);
    });
  });

  it('credits a multi-quantity purchase for each unit', async () => {
    await withScenario({}, async (s) => {
      const purchase = await s.buy({ quantity: 3 });
      expect(await (await s.start(purchase)).result()).toEqual(credited(purchase.orderId, { coins: 1500, bonusCoins: 75, coinBalance: 1575 }));
    });
  });

  it('answers a second run for the same purchase with the same result, crediting once', async () => {
    await withScenario({}, async (s) => {
      const purchase = await s.buy();
      const first = await (await s.start(purchase)).result();
      // Google now reports the purchase consumed; we credited it, so this is not a refusal.
      const again = await (await s.start(purchase, 'coins_500', `recharge-again-${randomUUID()}`)).result();
      expect(again).toEqual(first);
      expect(await s.credits(purchase.orderId)).toHaveLength(1);
    });
  });

  it.each([
    ['a consumed purchase', { consumed: true }, 'PURCHASE_ALREADY_CONSUMED'],
    ['a canceled purchase', { state: 'canceled' }, 'PURCHASE_NOT_COMPLETED'],
    ['a pending payment', { state: 'pending' }, 'PURCHASE_NOT_COMPLETED'],
    ['a purchase for another account', { accountId: randomUUID() }, 'PURCHASE_OTHER_ACCOUNT'],
    ['a purchase with no account', { accountId: undefined }, 'PURCHASE_OTHER_ACCOUNT'],
    ['a purchase of another app', { packageName: 'com.other.app' }, 'PURCHASE_INVALID'],
  ] as [string, Partial<FakePurchaseInput>, string][])('refuses %s (%s), stored, crediting nothing', async (_name, input, code) => {
    await withScenario({ record: code === 'PURCHASE_OTHER_ACCOUNT' && 'accountId' in input && input.accountId ? 'recharge.refused' : undefined }, async (s) => {
      const purchase = await s.buy(input);
      const outcome = await (await s.start(purchase)).result();
      expect(outcome).toMatchObject({ status: 'refused', code });
      expect(await s.credits(purchase.orderId)).toEqual([]);
      expect(await records.byId(purchase.purchaseId)).toMatchObject({ state: 'refused', refusalCode: code });
      expect(consumes()).toEqual([]);
    });
  });

  it('refuses a token bought for another product as invalid (Google answers 404)', async () => {
    await withScenario({}, async (s) => {
      const purchase = await s.buy({ productId: 'coins_100' }, { productId: 'coins_500' });
      expect(await (await s.start(purchase)).result()).toMatchObject({ status: 'refused', code: 'PURCHASE_INVALID' });
    });
  });

  it('refuses a package that is no longer sold', async () => {
    await withScenario({}, async (s) => {
      const purchase = await s.buy();
      await stack.dataSource.query(`UPDATE coin_packages SET enabled = false WHERE product_id = 'coins_6500'`);
      try {
        await stack.dataSource.query(`UPDATE store_purchases SET product_id = 'coins_6500' WHERE id = $1`, [purchase.purchaseId]);
        expect(await (await s.start(purchase, 'coins_6500')).result()).toMatchObject({ status: 'refused', code: 'PRODUCT_UNKNOWN' });
        expect(apiGets()).toEqual([]);
      } finally {
        await stack.dataSource.query(`UPDATE coin_packages SET enabled = true WHERE product_id = 'coins_6500'`);
      }
    });
  });

  it('retries a 5xx at 1, 2 and 4 s and credits on the fourth attempt', async () => {
    await withScenario({}, async (s) => {
      const purchase = await s.buy();
      fake.controls.failNext(3, 503);
      const handle = await s.start(purchase);
      expect(await handle.result()).toEqual(credited(purchase.orderId));
      expect(apiGets()).toHaveLength(4);
      expect(await s.credits(purchase.orderId)).toHaveLength(1);
      // Four attempts of one activity: the retry policy, not the flow's longer waits.
      const history = await handle.fetchHistory();
      const verify = history.events?.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'verifyPurchase');
      expect(verify?.activityTaskScheduledEventAttributes?.retryPolicy).toMatchObject({ maximumAttempts: 4, backoffCoefficient: 2 });
      expect((await handle.query(rechargeStatusQuery)).failedRounds).toBe(0);
    });
  });

  it('cuts a call Google does not answer and credits on the retry', async () => {
    await withScenario({}, async (s) => {
      const purchase = await s.buy();
      fake.controls.stallNext(1);
      expect(await (await s.start(purchase)).result()).toEqual(credited(purchase.orderId));
      expect(apiGets()).toHaveLength(2);
    });
  });

  it('waits out a store that stays down (1, 2, 4 min between rounds), then credits', async () => {
    await withScenario({ client: { breaker: { breakerThreshold: 1_000 } }, record: 'recharge.store-down-then-credited' }, async (s) => {
      const purchase = await s.buy();
      fake.controls.failNext(12, 503);
      const handle = await s.start(purchase);
      expect(await handle.result()).toEqual(credited(purchase.orderId));
      expect(apiGets()).toHaveLength(13);
      expect(await handle.query(rechargeStatusQuery)).toMatchObject({ failedRounds: 3, consumed: true });
    });
  });

  it('fails fast while the circuit is open, and credits once Google is back', async () => {
    await withScenario({ client: { breaker: { halfOpenAfterMs: 200 } } }, async (s) => {
      const purchase = await s.buy();
      fake.controls.failNext(5, 503);
      expect(await (await s.start(purchase)).result()).toEqual(credited(purchase.orderId));
      // The fifth failure opened the circuit: attempts meanwhile never reached Google, and the
      // trial call after it let one through.
      expect(apiGets()).toHaveLength(6);
    });
  });

  it('gives up after about 3 days of outage (Google refunds unacknowledged purchases), crediting nothing', async () => {
    await withScenario({ store: () => downStore() }, async (s) => {
      const purchase = await s.buy();
      const handle = await s.start(purchase);
      expect(await handle.result()).toMatchObject({ status: 'refused', code: 'STORE_UNAVAILABLE' });
      const { startTime, closeTime } = await handle.describe();
      const waited = closeTime!.getTime() - startTime.getTime();
      expect(waited).toBeGreaterThan(2 * 86_400_000);
      expect(waited).toBeLessThan(3 * 86_400_000);
      expect(await records.byId(purchase.purchaseId)).toMatchObject({ state: 'refused', refusalCode: 'STORE_UNAVAILABLE' });
    });
  });

  it('keeps the credit when the consume fails, and consumes later', async () => {
    let failures = 0;
    const flaky = (real: StorePurchases): StorePurchases => ({
      getProductPurchase: (...args) => real.getProductPurchase(...args),
      listVoidedPurchases: (...args) => real.listVoidedPurchases(...args),
      consumeProductPurchase: async (...args) => {
        if (failures < 6) {
          failures += 1;
          throw new TransientStoreError('Google Play answered 503');
        }
        return real.consumeProductPurchase(...args);
      },
    });
    await withScenario({ store: flaky }, async (s) => {
      const purchase = await s.buy();
      const handle = await s.start(purchase);
      expect(await handle.result()).toEqual(credited(purchase.orderId));
      expect(failures).toBe(6);
      expect(await handle.query(rechargeStatusQuery)).toMatchObject({ failedRounds: 1, consumed: true });
      expect(await s.credits(purchase.orderId)).toHaveLength(1);
      expect(fake.controls.purchase(purchase.token)).toMatchObject({ consumed: true });
    });
  });

  it('treats a consume refused because an earlier attempt consumed it as done', async () => {
    let lost = false;
    const losesAnswer = (real: StorePurchases): StorePurchases => ({
      getProductPurchase: (...args) => real.getProductPurchase(...args),
      listVoidedPurchases: (...args) => real.listVoidedPurchases(...args),
      consumeProductPurchase: async (...args) => {
        await real.consumeProductPurchase(...args);
        if (!lost) {
          lost = true;
          throw new TransientStoreError('Google Play did not answer in time'); // consumed, but we never heard
        }
      },
    });
    await withScenario({ store: losesAnswer }, async (s) => {
      const purchase = await s.buy();
      expect(await (await s.start(purchase)).result()).toEqual(credited(purchase.orderId));
      expect(consumes()).toHaveLength(2);
      expect(await records.byId(purchase.purchaseId)).toMatchObject({ state: 'consumed' });
    });
  });

  it('claws back a voided purchase from the scheduled flow, retrying a failing list call', async () => {
    await withScenario({}, async (s) => {
      const purchase = await s.buy();
      expect(await (await s.start(purchase)).result()).toMatchObject({ status: 'credited' });
      fake.controls.voidPurchase(purchase.token, Date.now(), { reason: 7, source: 2 });
      fake.controls.failNext(1, 503);
      const workflowId = `voided-${randomUUID()}`;
      const summary = await env.client.workflow.execute<typeof voidedPurchasesWorkflow>('voidedPurchasesWorkflow', { workflowId, taskQueue: s.taskQueue, args: [{ pageSize: 1 }] });
      expect(summary.clawedBack).toBeGreaterThanOrEqual(1);
      expect(await records.byId(purchase.purchaseId)).toMatchObject({ state: 'voided' });
      const [wallet] = (await stack.dataSource.query(`SELECT coins::int, coins_owed::int AS owed FROM wallets WHERE user_id = $1`, [s.userId])) as { coins: number; owed: number }[];
      expect(wallet).toEqual({ coins: 0, owed: 0 });
      await recordHistory('recharge.voided-purchases', workflowId);
    });
  });

  it('credits once when the credit activity fails right after its commit', async () => {
    let crashed = false;
    const crashing = (activities: RechargeActivities): RechargeActivities => ({
      ...activities,
      async creditRecharge(input) {
        const result = await activities.creditRecharge(input);
        if (!crashed) {
          crashed = true;
          throw new Error('worker lost after the commit');
        }
        return result;
      },
    });
    await withScenario({ wrap: crashing }, async (s) => {
      const purchase = await s.buy();
      expect(await (await s.start(purchase)).result()).toEqual(credited(purchase.orderId));
      expect(crashed).toBe(true);
      expect(await s.credits(purchase.orderId)).toEqual([{ amount: 525 }]);
    });
  });
});

function downStore(): StorePurchases {
  const down = async (): Promise<never> => {
    throw new TransientStoreError('Google Play answered 503');
  };
  return { getProductPurchase: down, consumeProductPurchase: down, listVoidedPurchases: down };
}
