import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createGiftSettlementActivities, type GiftSettlementActivities } from '../../activities/gift-settlement';
import { GiftReceipts } from '../../db/repositories/gift-receipts';
import { utcDayOf, type GiftSettlementState } from '../../domain/economy/settlement';
import { FlowKind, SearchAttribute } from '../../domain/flows';
import { GiftClawbacks, type ReversalListener, type ReversedReceipt } from '../../services/economy/clawback';
import { startGiftSettlementFlow } from '../../services/economy/settlement-flows';
import { giftSettlementStatusQuery, releaseGiftSettlementSignal, settlementWorkflowId } from '../../workflows/gift-settlement/definitions';
import { HISTORIES_DIR, historyToFile } from '../replay/histories';
import { GiftFixtures } from '../support/gifts';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createTimeSkippingEnv, workflowBundle } from '../support/time-skipping';

/**
 * Gift settlement on the time-skipping test server, with the real activities on the test
 * PostgreSQL: days of hold pass in seconds. Receipts are dated on the test server's clock, and
 * the flow settles "as of" its own clock, so PostgreSQL's now() (which does not skip) never
 * decides anything here. The test server may skip far ahead after a flow completed while the
 * client still awaits its result, so instants are read from the flow's state, not the server's clock.
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let env: TestWorkflowEnvironment;
let stack: RealStack;
let gifts: GiftFixtures;

beforeAll(async () => {
  [env, stack] = await Promise.all([createTimeSkippingEnv(), connectRealStack('gift-settlement')]);
  gifts = new GiftFixtures(stack.dataSource);
});

afterAll(async () => {
  await env?.teardown();
  await stack?.close();
});

/** `AURA_RECORD_HISTORIES=1 npx jest test/workflows` refreshes the histories the replay test checks. */
async function recordHistory(name: string, workflowId: string): Promise<void> {
  if (process.env.AURA_RECORD_HISTORIES !== '1') return;
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), historyToFile(history));
}

interface Scenario {
  senderId: string;
  receiverId: string;
  roomId: string;
  /** The test server's clock when the scenario began, and its UTC day. */
  startedAt: number;
  day: string;
  start(holdHours?: number): Promise<string>;
  settled(): Promise<GiftSettlementState>;
}

type ActivityWrapper = (real: GiftSettlementActivities) => GiftSettlementActivities;

async function withScenario(options: { record?: string; wrap?: ActivityWrapper; senderCoins?: number }, body: (s: Scenario) => Promise<void>): Promise<void> {
  const taskQueue = `gift-settlement-ts-${randomUUID()}`;
  const real = createGiftSettlementActivities({ dataSource: stack.dataSource });
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: options.wrap ? options.wrap(real) : real,
  });
  const [senderId, receiverId] = [await gifts.user('sender'), await gifts.user('receiver')];
  const roomId = await gifts.room(receiverId);
  if (options.senderCoins !== 0) await gifts.buyCoins(senderId, options.senderCoins ?? 10_000);
  const startedAt = await env.currentTimeMs();
  const day = utcDayOf(startedAt);
  const workflowId = settlementWorkflowId(receiverId, day);
  // A flow left running would hold the test server's clock for the next test: end it here.
  const finish = async () => {
    if (options.record) await recordHistory(options.record, workflowId);
    await env.client.workflow
      .getHandle(workflowId)
      .terminate('test finished')
      .catch(() => undefined);
  };
  await worker.runUntil(
    body({
      senderId,
      receiverId,
      roomId,
      startedAt,
      day,
      start: (holdHours = 72) => startGiftSettlementFlow(env.client, taskQueue, { receiverId, day, holdHours }),
      settled: () => env.client.workflow.getHandle(workflowId).result() as Promise<GiftSettlementState>,
    }).finally(finish),
  );
}

/** Gifts a few minutes after the scenario began, on the same UTC day unless the day is about to end. */
function sometimeToday(s: Scenario, minutes: number): number {
  const endOfDay = Date.parse(`${s.day}T00:00:00Z`) + DAY;
  return Math.min(s.startedAt + minutes * 60_000, endOfDay - 1_000);
}

describe('gift settlement workflow (time-skipping, real PostgreSQL)', () => {
  it('settles the day once the hold has passed: one ledger entry, every receipt settled, the balance the sum', async () => {
    await withScenario({ record: 'gift-settlement.hold-passes' }, async (s) => {
      const base = { senderId: s.senderId, roomId: s.roomId, receivers: [s.receiverId] };
      const ids = [
        ...(await gifts.send({ ...base, coinsEach: 100, diamondsEach: 50, at: sometimeToday(s, 1) })),
        ...(await gifts.send({ ...base, coinsEach: 80, diamondsEach: 40, at: sometimeToday(s, 2) })),
        // A gift with no diamond value settles too, without an entry of its own.
        ...(await gifts.send({ ...base, coinsEach: 10, diamondsEach: 0, at: sometimeToday(s, 3) })),
      ];
      const tomorrow = await gifts.send({ ...base, coinsEach: 100, diamondsEach: 50, at: Date.parse(`${s.day}T00:00:00Z`) + DAY + HOUR });

      const workflowId = await s.start();
      const description = await env.client.workflow.getHandle(workflowId).describe();
      expect(description.typedSearchAttributes.get(SearchAttribute.UserId)).toBe(s.receiverId);
      expect(description.typedSearchAttributes.get(SearchAttribute.FlowKind)).toBe(FlowKind.GiftSettlement);

      const state = await s.settled();
      // It waited for the end of the day plus the 72 h hold, in workflow time.
      expect(state.lastSettledAt).toBeGreaterThanOrEqual(Date.parse(`${s.day}T00:00:00Z`) + DAY + 72 * HOUR);
      expect(state).toMatchObject({
        phase: 'done',
        totals: { settled: { receipts: 3, diamonds: 90 }, pending: { receipts: 0 }, held: { receipts: 0 }, reversed: { receipts: 0 } },
      });

      const entries = await gifts.entries(s.receiverId, 'settlement');
      expect(entries).toEqual([
        { id: expect.any(String), currency: 'diamonds', amount: 90, reason: 'settlement', key: `settlement:${s.receiverId}:${s.day}:${ids[0]}` },
      ]);
      expect(await gifts.wallet(s.receiverId)).toEqual({ coins: 0, diamonds: 90, coinsOwed: 0 });
      expect(await gifts.receipts(ids)).toEqual(ids.map((id) => ({ id, state: 'settled', settledEntryId: entries[0]!.id, reversedReason: null })));
      // The next day's gift belongs to the next day's flow.
      expect((await gifts.receipts(tomorrow))[0]!.state).toBe('pending');

      // The summary support reads: counts and instants, nothing about the people.
      const memo = (await env.client.workflow.getHandle(workflowId).describe()).memo as { summary: string };
      expect(memo.summary).toMatch(new RegExp(`^day ${s.day}: 3 gifts, 90 diamonds settled at \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2} UTC$`));

      // Not this flow's business, but leave nothing pending for other suites' dispatchers.
      await stack.dataSource.transaction((tx) => new GiftReceipts(stack.dataSource).settleReceiptsNow(tx, tomorrow));
    });
  });

  it('reverses the gifts a voided purchase paid for during the hold, refunds then claws back, and settles only the rest', async () => {
    const heard: ReversedReceipt[][] = [];
    const listener: ReversalListener = { onReversed: async (receipts) => void heard.push([...receipts]) };
    await withScenario({ record: 'gift-settlement.clawback-during-hold', senderCoins: 100 }, async (s) => {
      // 100 coins from before, then a 500-coin purchase that will be voided.
      const purchasedAt = sometimeToday(s, 1);
      await gifts.buyCoins(s.senderId, 500);
      const base = { senderId: s.senderId, roomId: s.roomId, receivers: [s.receiverId] };
      const [r1] = await gifts.send({ ...base, coinsEach: 200, diamondsEach: 100, at: sometimeToday(s, 2) });
      const [r2] = await gifts.send({ ...base, coinsEach: 200, diamondsEach: 100, at: sometimeToday(s, 3) });
      const [r3] = await gifts.send({ ...base, coinsEach: 150, diamondsEach: 75, at: sometimeToday(s, 4) });
      expect(await gifts.wallet(s.senderId)).toMatchObject({ coins: 50 });

      await s.start();
      await env.sleep(DAY); // inside the hold

      const clawbacks = new GiftClawbacks(stack.dataSource, { listener });
      const void1 = { userId: s.senderId, coins: 500, purchasedAt: new Date(purchasedAt), idempotencyKey: `void:${randomUUID()}` };
      const result = await clawbacks.clawbackPurchase(void1);
      // 200 + 200 fit in the 500; the third would not, so it stays the receiver's.
      expect(result).toMatchObject({ applied: true, refundedCoins: 400, debited: 450, owed: 50 });
      expect(result.reversed.map((r) => r.id)).toEqual([r1, r2]);
      expect(result.reversed[0]).toMatchObject({ senderId: s.senderId, receiverId: s.receiverId, roomId: s.roomId, coins: 200, diamonds: 100, reason: 'clawback' });
      expect(await gifts.wallet(s.senderId)).toEqual({ coins: 0, diamonds: 0, coinsOwed: 50 });
      expect(await gifts.entries(s.senderId, 'gift_refund')).toEqual([
        expect.objectContaining({ amount: 200, key: `gift_refund:${r1}` }),
        expect.objectContaining({ amount: 200, key: `gift_refund:${r2}` }),
      ]);
      expect((await gifts.entries(s.senderId, 'clawback')).map((e) => [e.currency, e.amount, e.key])).toEqual([
        ['coins', -450, void1.idempotencyKey],
        ['coins_owed', 50, `${void1.idempotencyKey}:owed`],
      ]);

      // The same void delivered again changes nothing and tells nobody twice.
      const replay = await clawbacks.clawbackPurchase(void1);
      expect(replay).toMatchObject({ applied: false, refundedCoins: 400, debited: 450, owed: 50 });
      expect(replay.reversed.map((r) => r.id)).toEqual([r1, r2]);
      expect(await gifts.wallet(s.senderId)).toEqual({ coins: 0, diamonds: 0, coinsOwed: 50 });
      expect(heard.map((batch) => batch.map((r) => r.id))).toEqual([[r1, r2]]);

      const state = await s.settled();
      expect(state.totals).toMatchObject({ settled: { receipts: 1, diamonds: 75 }, reversed: { receipts: 2, diamonds: 200 } });
      expect(await gifts.wallet(s.receiverId)).toEqual({ coins: 0, diamonds: 75, coinsOwed: 0 });
      expect(await gifts.receipts([r1!, r2!, r3!])).toEqual([
        { id: r1, state: 'reversed', settledEntryId: null, reversedReason: 'clawback' },
        { id: r2, state: 'reversed', settledEntryId: null, reversedReason: 'clawback' },
        { id: r3, state: 'settled', settledEntryId: expect.any(String), reversedReason: null },
      ]);
    });
  });

  it('settles once when the worker is lost right after the settlement committed (the activity times out and runs again)', async () => {
    let attempts = 0;
    const wrap: ActivityWrapper = (real) => ({
      ...real,
      async settleReceiverDay(input) {
        attempts += 1;
        const result = await real.settleReceiverDay(input);
        if (attempts === 1) {
          // Committed, but Temporal never hears back: as if the process died here. The attempt
          // times out on the server (30 s of test time) and another attempt runs.
          await new Promise<never>((_, reject) => Context.current().cancellationSignal.addEventListener('abort', () => reject(new Error('lost'))));
        }
        return result;
      },
    });
    await withScenario({ record: 'gift-settlement.worker-lost-after-commit', wrap }, async (s) => {
      const base = { senderId: s.senderId, roomId: s.roomId, receivers: [s.receiverId] };
      const ids = [
        ...(await gifts.send({ ...base, coinsEach: 30, diamondsEach: 15, at: sometimeToday(s, 1) })),
        ...(await gifts.send({ ...base, coinsEach: 30, diamondsEach: 15, at: sometimeToday(s, 2) })),
      ];
      await s.start();
      const state = await s.settled();
      expect(attempts).toBe(2);
      expect(state.totals).toMatchObject({ settled: { receipts: 2, diamonds: 30 }, pending: { receipts: 0 } });
      expect((await gifts.entries(s.receiverId, 'settlement')).map((e) => e.amount)).toEqual([30]);
      expect(await gifts.wallet(s.receiverId)).toMatchObject({ diamonds: 30 });
      expect((await gifts.receipts(ids)).map((r) => r.state)).toEqual(['settled', 'settled']);
    });
  });

  it('keeps trying through database failures: the activity retries, then the flow backs off and settles', async () => {
    let calls = 0;
    const wrap: ActivityWrapper = (real) => ({
      ...real,
      async settleReceiverDay(input) {
        calls += 1;
        // The first five attempts hit a real database error: the activity's four attempts, then
        // the first attempt after the flow's own back-off.
        if (calls <= 5) await stack.dataSource.query('SELECT 1 / 0');
        return real.settleReceiverDay(input);
      },
    });
    await withScenario({ record: 'gift-settlement.database-failures', wrap }, async (s) => {
      const ids = await gifts.send({ senderId: s.senderId, roomId: s.roomId, receivers: [s.receiverId], coinsEach: 40, diamondsEach: 20, at: sometimeToday(s, 1) });
      await s.start();
      const state = await s.settled();
      expect(calls).toBe(6);
      expect(state).toMatchObject({ phase: 'done', failures: 0, lastErrorType: null, totals: { settled: { receipts: 1, diamonds: 20 } } });
      expect(await gifts.wallet(s.receiverId)).toMatchObject({ diamonds: 20 });
      expect((await gifts.receipts(ids))[0]).toMatchObject({ state: 'settled' });

      // The back-off showed on the summary line while it waited.
      const history = await env.client.workflow.getHandle(settlementWorkflowId(s.receiverId, s.day)).fetchHistory();
      const summaries = (history.events ?? [])
        .map((e) => e.workflowPropertiesModifiedEventAttributes?.upsertedMemo?.fields?.summary?.data)
        .filter((d): d is Uint8Array => d instanceof Uint8Array)
        .map((d) => JSON.parse(Buffer.from(d).toString('utf8')) as string);
      expect(summaries.some((line) => /settlement failed once \(QueryFailedError\); retrying at /.test(line))).toBe(true);
    });
  });

  it('settles even when the opening summary read fails every attempt: only the summary waits for the settlement', async () => {
    let describeCalls = 0;
    const wrap: ActivityWrapper = (real) => ({
      ...real,
      async describeReceiverDay() {
        describeCalls += 1;
        throw new Error('connect ECONNREFUSED (PostgreSQL down)');
      },
    });
    await withScenario({ wrap }, async (s) => {
      const ids = await gifts.send({ senderId: s.senderId, roomId: s.roomId, receivers: [s.receiverId], coinsEach: 40, diamondsEach: 20, at: sometimeToday(s, 1) });
      await s.start();
      const state = await s.settled();
      // The activity's own attempts were spent, then the flow went on without the totals.
      expect(describeCalls).toBe(4);
      expect(state).toMatchObject({ phase: 'done', failures: 0, totals: { settled: { receipts: 1, diamonds: 20 } } });
      expect(await gifts.wallet(s.receiverId)).toMatchObject({ diamonds: 20 });
      expect((await gifts.receipts(ids))[0]).toMatchObject({ state: 'settled' });
    });
  });

  it('never settles held receipts; review releases them later with their own entry', async () => {
    await withScenario({ record: 'gift-settlement.held-not-settled' }, async (s) => {
      const base = { senderId: s.senderId, roomId: s.roomId, receivers: [s.receiverId] };
      const pending = await gifts.send({ ...base, coinsEach: 60, diamondsEach: 30, at: sometimeToday(s, 1) });
      const [held] = await gifts.send({ ...base, coinsEach: 500, diamondsEach: 250, at: sometimeToday(s, 2), state: 'held' });
      await s.start();
      const state = await s.settled();
      expect(state.totals).toMatchObject({ settled: { receipts: 1, diamonds: 30 }, held: { receipts: 1, diamonds: 250 } });
      expect(await gifts.wallet(s.receiverId)).toMatchObject({ diamonds: 30 });
      expect((await gifts.receipts([held!]))[0]).toMatchObject({ state: 'held', settledEntryId: null });
      const memo = (await env.client.workflow.getHandle(settlementWorkflowId(s.receiverId, s.day)).describe()).memo as { summary: string };
      expect(memo.summary).toMatch(/; 1 held for review$/);

      // Review releases it: settled now, once, whatever the hold.
      const receipts = new GiftReceipts(stack.dataSource);
      const released = await stack.dataSource.transaction((tx) => receipts.settleReceiptsNow(tx, [held!, ...pending]));
      expect(released).toEqual([{ receiverId: s.receiverId, receiptIds: [held], diamonds: 250, entryId: expect.any(String) }]);
      expect(await stack.dataSource.transaction((tx) => receipts.settleReceiptsNow(tx, [held!]))).toEqual([]);
      expect(await gifts.wallet(s.receiverId)).toMatchObject({ diamonds: 280 });
      expect((await gifts.entries(s.receiverId, 'settlement')).map((e) => [e.amount, e.key])).toEqual([
        [30, `settlement:${s.receiverId}:${s.day}:${pending[0]}`],
        [250, `settlement:${s.receiverId}:now:${held}`],
      ]);
    });
  });

  it('waits for receipts whose hold outlasts the one the flow started with, then settles them in a second entry', async () => {
    await withScenario({ record: 'gift-settlement.hold-lengthened' }, async (s) => {
      const base = { senderId: s.senderId, roomId: s.roomId, receivers: [s.receiverId] };
      const [short] = await gifts.send({ ...base, coinsEach: 20, diamondsEach: 10, at: sometimeToday(s, 1), holdHours: 24 });
      const [long] = await gifts.send({ ...base, coinsEach: 20, diamondsEach: 12, at: sometimeToday(s, 2), holdHours: 96 });
      await s.start(24);
      const state = await s.settled();
      expect(state.totals).toMatchObject({ settled: { receipts: 2, diamonds: 22 } });
      expect((await gifts.entries(s.receiverId, 'settlement')).map((e) => [e.amount, e.key])).toEqual([
        [10, `settlement:${s.receiverId}:${s.day}:${short}`],
        [12, `settlement:${s.receiverId}:${s.day}:${long}`],
      ]);
      expect(state.lastSettledAt).toBeGreaterThanOrEqual(sometimeToday(s, 2) + 96 * HOUR);
    });
  });

  it('settles at once when support releases the hold', async () => {
    await withScenario({ record: 'gift-settlement.released' }, async (s) => {
      const ids = await gifts.send({ senderId: s.senderId, roomId: s.roomId, receivers: [s.receiverId], coinsEach: 50, diamondsEach: 25, at: sometimeToday(s, 1) });
      const workflowId = await s.start();
      const handle = env.client.workflow.getHandle(workflowId);
      await handle.signal(releaseGiftSettlementSignal);
      const state = await s.settled();
      expect(state.totals).toMatchObject({ settled: { receipts: 1, diamonds: 25 } });
      // Well inside the hold.
      expect(state.lastSettledAt).toBeLessThan(s.startedAt + 72 * HOUR);
      expect((await gifts.receipts(ids))[0]).toMatchObject({ state: 'settled' });
      const status = await handle.query(giftSettlementStatusQuery);
      expect(status.phase).toBe('done');
    });
  });
});
