import { createHash, randomUUID } from 'node:crypto';
import { StorePurchaseRecords } from '../../db/repositories/store-purchases';
import { rechargeWorkflowId } from '../../domain/economy/recharge';
import { GooglePlayClient } from '../../platform/stores/google-play';
import { voidedPurchasesSchedule } from '../../workflows/recharge/schedule';
import type { voidedPurchasesWorkflow } from '../../workflows/recharge/voided';
import type { rechargeWorkflow } from '../../workflows/recharge/workflow';
import { startApi, startWorker } from '../support/app-harness';
import { ledgerDisagreements } from '../support/economy';
import { startFakeGooglePlay, type FakeGooglePlay, type FakePurchaseInput } from '../support/fake-google-play';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * Store recharges end to end: HTTP → the recharge flow on the Temporal dev server → the real
 * Google Play client against a local server speaking Google's wire format → PostgreSQL. Then
 * refunds: the voided-purchases flow claws coins back without any balance going negative.
 */
let stack: RealStack;
let fake: FakeGooglePlay;
let api: Awaited<ReturnType<typeof startApi>>;
let worker: Awaited<ReturnType<typeof startWorker>>;
let records: StorePurchaseRecords;

/** The API waits this long for the flow before answering 202. */
const WAIT_MS = 1_500;

beforeAll(async () => {
  stack = await connectRealStack('recharge-api');
  fake = await startFakeGooglePlay();
  records = new StorePurchaseRecords(stack.dataSource);
  // Each attempt is cut at 2 s, past the API's wait: a stalled call is answered 202.
  const store = new GooglePlayClient({ apiBaseUrl: fake.url, tokenUrl: fake.tokenUrl, packageName: fake.packageName, serviceAccount: fake.serviceAccount, timeoutMs: 2_000 });
  [api, worker] = await Promise.all([startApi(stack, { RECHARGE_WAIT_MS: WAIT_MS }), startWorker(stack, { store })]);
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await fake?.close();
  await stack?.close();
});

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function signedInUser() {
  const user = await stack.newUser();
  const token = await stack.tokens.sign({ userId: user.id });
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, location: res.headers.get('location'), body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
  };
  /** A purchase at the fake Google Play, made for this user unless told otherwise. */
  const buy = (input: Partial<FakePurchaseInput> = {}) => {
    const purchaseToken = `api-${randomUUID()}.AO-J1Oz_${Date.now()}`;
    const orderId = `GPA.3301-${randomUUID().slice(0, 13)}`;
    fake.controls.addPurchase({ token: purchaseToken, productId: 'coins_500', orderId, accountId: user.id, ...input });
    return { purchaseToken, orderId };
  };
  const recharge = (purchaseToken: string, productId = 'coins_500') => call('POST', '/v1/wallet/recharges/google-play', { productId, purchaseToken });
  return { user, call, buy, recharge };
}

/** The purchase's flow has finished (credited and consumed, or refused). */
const flowFinished = (purchaseToken: string) => stack.temporal.workflow.getHandle<typeof rechargeWorkflow>(rechargeWorkflowId(sha256(purchaseToken))).result();

async function wallet(userId: string) {
  const [row] = (await stack.dataSource.query(`SELECT coins::int, coins_owed::int AS owed FROM wallets WHERE user_id = $1`, [userId])) as { coins: number; owed: number }[];
  return row!;
}

describe('GET /v1/wallet/packages', () => {
  it('lists the enabled packages in order with the price shown in the region, or the default one', async () => {
    const { call } = await signedInUser();
    const india = await call('GET', '/v1/wallet/packages?region=IN');
    expect(india.status).toBe(200);
    const items = india.body.items as { productId: string; coins: number; bonusCoins: number; price: { region: string; currencyCode: string; priceMicros: number } }[];
    expect(items.map((p) => p.productId)).toEqual(['coins_100', 'coins_500', 'coins_1200', 'coins_3000', 'coins_6500', 'coins_14000']);
    expect(items[1]).toEqual({ productId: 'coins_500', coins: 500, bonusCoins: 25, price: { region: 'IN', priceMicros: 449_000_000, currencyCode: 'INR' } });
    const elsewhere = await call('GET', '/v1/wallet/packages?region=FR');
    expect((elsewhere.body.items as { price: unknown }[])[0]!.price).toEqual({ region: 'default', priceMicros: 990_000, currencyCode: 'USD' });
    expect((await call('GET', '/v1/wallet/packages?region=FRA')).status).toBe(400);
    expect((await call('GET', '/v1/wallet/packages')).status).toBe(200);
  });
});

describe('POST /v1/wallet/recharges/google-play', () => {
  it('credits a purchase once, answers a replay with the same body, and consumes the purchase', async () => {
    const { user, buy, recharge, call } = await signedInUser();
    const { purchaseToken, orderId } = buy();
    const first = await recharge(purchaseToken);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ status: 'credited', rechargeId: expect.any(String), productId: 'coins_500', orderId, coins: 500, bonusCoins: 25, coinBalance: 525 });
    await flowFinished(purchaseToken);
    expect(fake.controls.purchase(purchaseToken)).toMatchObject({ consumed: true });

    const replay = await recharge(purchaseToken);
    expect(replay).toEqual(first);
    expect(await call('GET', `/v1/wallet/recharges/${first.body.rechargeId as string}`)).toMatchObject({ status: 200, body: first.body });
    const entries = await stack.dataSource.query(`SELECT amount::int, reason, metadata->>'orderId' AS "orderId" FROM ledger_entries WHERE user_id = $1`, [user.id]);
    expect(entries).toEqual([{ amount: 525, reason: 'recharge', orderId }]);
    expect(await records.byId(first.body.rechargeId as string)).toMatchObject({ state: 'consumed' });
  });

  it('answers 202 with where to look while Google does not answer, and the recharge completes after', async () => {
    const { buy, recharge, call } = await signedInUser();
    const { purchaseToken, orderId } = buy();
    fake.controls.stallNext(1);
    const pending = await recharge(purchaseToken);
    expect(pending.status).toBe(202);
    expect(pending.body).toEqual({ status: 'pending', rechargeId: expect.any(String), productId: 'coins_500' });
    expect(pending.location).toBe(`/v1/wallet/recharges/${pending.body.rechargeId as string}`);
    expect(await call('GET', pending.location!)).toMatchObject({ status: 200, body: { status: 'pending' } });

    await flowFinished(purchaseToken);
    const done = await call('GET', pending.location!);
    expect(done).toMatchObject({ status: 200, body: { status: 'credited', orderId, coins: 500, bonusCoins: 25, coinBalance: 525 } });
    expect(await recharge(purchaseToken)).toMatchObject({ status: 200, body: done.body });
  });

  it.each([
    ['an already consumed purchase', { consumed: true }, 409, 'PURCHASE_ALREADY_CONSUMED'],
    ['a canceled purchase', { state: 'canceled' }, 422, 'PURCHASE_NOT_COMPLETED'],
    ['a pending payment', { state: 'pending' }, 422, 'PURCHASE_NOT_COMPLETED'],
    ['a purchase made for another account', { accountId: randomUUID() }, 403, 'PURCHASE_OTHER_ACCOUNT'],
    ['a purchase of another app', { packageName: 'com.other.app' }, 422, 'PURCHASE_INVALID'],
    ['a token of another product', { productId: 'coins_100' }, 422, 'PURCHASE_INVALID'],
  ] as [string, Partial<FakePurchaseInput>, number, string][])('refuses %s with its code, the same on a replay', async (_name, input, status, code) => {
    const { user, buy, recharge } = await signedInUser();
    const { purchaseToken } = buy(input);
    const refused = await recharge(purchaseToken);
    expect(refused).toMatchObject({ status, body: { error: { code } } });
    expect(await recharge(purchaseToken)).toMatchObject({ status, body: { error: { code } } });
    expect(await wallet(user.id)).toEqual({ coins: 0, owed: 0 });
  });

  it('refuses a product we do not sell before asking Google, and malformed input', async () => {
    const { buy, recharge } = await signedInUser();
    const { purchaseToken } = buy();
    fake.controls.clearCalls();
    expect(await recharge(purchaseToken, 'coins_999')).toMatchObject({ status: 422, body: { error: { code: 'PRODUCT_UNKNOWN' } } });
    expect(fake.controls.calls).toEqual([]);
    for (const bad of ['short', 'has space in it!!', 'x'.repeat(1001), 'tøken-with-unicode', 'a/b/c/d/e/f/g/h']) {
      expect(await recharge(bad)).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    }
    expect(await recharge(purchaseToken, 'Coins_500')).toMatchObject({ status: 400 });
  });

  it('refuses a token another user sent first, and hides a recharge from anyone but its buyer', async () => {
    const buyer = await signedInUser();
    const other = await signedInUser();
    const { purchaseToken } = buyer.buy();
    const credited = await buyer.recharge(purchaseToken);
    expect(credited.status).toBe(200);
    expect(await other.recharge(purchaseToken)).toMatchObject({ status: 403, body: { error: { code: 'PURCHASE_OTHER_ACCOUNT' } } });
    expect(await other.call('GET', `/v1/wallet/recharges/${credited.body.rechargeId as string}`)).toMatchObject({ status: 404 });
    expect(await other.call('GET', `/v1/wallet/recharges/${randomUUID()}`)).toMatchObject({ status: 404 });
    expect(await wallet(other.user.id)).toEqual({ coins: 0, owed: 0 });
    await flowFinished(purchaseToken);
  });
});

describe('voided purchases', () => {
  const runVoidedFlow = (input: Parameters<typeof voidedPurchasesWorkflow>[0] = {}) =>
    stack.temporal.workflow.execute<typeof voidedPurchasesWorkflow>('voidedPurchasesWorkflow', {
      workflowId: `voided-test-${randomUUID()}`,
      taskQueue: stack.taskQueue,
      args: [input],
    });

  it('claws back a refunded purchase: what was spent becomes coins owed, recovered from the next credit; nothing negative', async () => {
    const buyer = await signedInUser();
    const first = buyer.buy();
    expect(await buyer.recharge(first.purchaseToken)).toMatchObject({ status: 200, body: { coinBalance: 525 } });
    await flowFinished(first.purchaseToken);
    // 400 of the 525 coins are spent (a gift, say).
    await stack.ledger.post({ userId: buyer.user.id, currency: 'coins', amount: -400, reason: 'gift_sent', idempotencyKey: `test-spend:${randomUUID()}` });

    fake.controls.voidPurchase(first.purchaseToken, Date.now(), { reason: 7, source: 2 });
    const run = await runVoidedFlow();
    expect(run.clawedBack).toBeGreaterThanOrEqual(1);
    expect(await wallet(buyer.user.id)).toEqual({ coins: 0, owed: 400 });
    expect(await records.byTokenHash('google-play', sha256(first.purchaseToken))).toMatchObject({ state: 'voided' });
    const voidEntries = await stack.dataSource.query(
      `SELECT currency, amount::int, reason FROM ledger_entries WHERE idempotency_key LIKE $1 ORDER BY id`,
      [`void:google-play:${first.orderId}%`],
    );
    expect(voidEntries).toEqual([
      { currency: 'coins', amount: -125, reason: 'clawback' },
      { currency: 'coins_owed', amount: 400, reason: 'clawback' },
    ]);
    // Seen again (the next scheduled run re-reads an overlap): nothing changes.
    await runVoidedFlow();
    expect(await wallet(buyer.user.id)).toEqual({ coins: 0, owed: 400 });

    // The next recharge pays the debt first.
    const second = buyer.buy();
    expect(await buyer.recharge(second.purchaseToken)).toMatchObject({ status: 200, body: { coins: 500, bonusCoins: 25, coinBalance: 125 } });
    await flowFinished(second.purchaseToken);
    expect(await wallet(buyer.user.id)).toEqual({ coins: 125, owed: 0 });
    expect(await buyer.recharge(second.purchaseToken)).toMatchObject({ status: 200, body: { coinBalance: 125 } });
    expect(await ledgerDisagreements(stack.dataSource, [buyer.user.id])).toEqual([]);
    const negatives = await stack.dataSource.query(`SELECT 1 FROM ledger_entries WHERE user_id = $1 AND balance_after < 0`, [buyer.user.id]);
    expect(negatives).toEqual([]);
  });

  it('pages through the voided list across runs, clawing each purchase back once', async () => {
    const buyer = await signedInUser();
    const bought = [buyer.buy(), buyer.buy(), buyer.buy()];
    for (const { purchaseToken } of bought) {
      expect(await buyer.recharge(purchaseToken)).toMatchObject({ status: 200 });
      await flowFinished(purchaseToken);
    }
    const now = Date.now();
    bought.forEach(({ purchaseToken }, i) => fake.controls.voidPurchase(purchaseToken, now + i));
    // One void a page, one page per activity run: the flow carries the page token between runs.
    const run = await runVoidedFlow({ pageSize: 1, pagesPerRun: 1 });
    expect(run.runs).toBeGreaterThanOrEqual(3);
    expect(await wallet(buyer.user.id)).toEqual({ coins: 0, owed: 0 });
    for (const { purchaseToken } of bought) {
      expect(await records.byTokenHash('google-play', sha256(purchaseToken))).toMatchObject({ state: 'voided' });
    }
    expect(await ledgerDisagreements(stack.dataSource, [buyer.user.id])).toEqual([]);
  });

  it('runs from its Schedule', async () => {
    const buyer = await signedInUser();
    const { purchaseToken } = buyer.buy();
    await buyer.recharge(purchaseToken);
    await flowFinished(purchaseToken);
    fake.controls.voidPurchase(purchaseToken, Date.now());

    const spec = voidedPurchasesSchedule(300);
    const scheduleId = `test-${randomUUID()}-${spec.scheduleId}`;
    const schedule = await stack.temporal.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: `${spec.intervalSeconds} seconds` }] },
      action: { type: 'startWorkflow', workflowType: spec.workflowType, workflowId: `${scheduleId}-run`, taskQueue: stack.taskQueue, args: spec.args },
    });
    try {
      await schedule.trigger();
      let started: string | undefined;
      const deadline = Date.now() + 10_000;
      // The triggered run shows in the schedule's recent actions once started.
      while (!started) {
        if (Date.now() > deadline) throw new Error('the schedule never started its workflow');
        started = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
        if (!started) await new Promise((r) => setTimeout(r, 50));
      }
      await stack.temporal.workflow.getHandle(started).result();
      expect(await wallet(buyer.user.id)).toEqual({ coins: 0, owed: 0 });
      expect(await records.byTokenHash('google-play', sha256(purchaseToken))).toMatchObject({ state: 'voided' });
    } finally {
      await schedule.delete();
    }
  });
});
