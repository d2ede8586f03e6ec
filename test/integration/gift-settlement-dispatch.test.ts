import { randomUUID } from 'node:crypto';
import type { ScheduleHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { SettlementFlowRecords } from '../../db/repositories/settlement-flows';
import { settlementDueAt, utcDayOf, type GiftSettlementState } from '../../domain/economy/settlement';
import { FlowKind, SearchAttribute } from '../../domain/flows';
import { GiftSettlementFlows } from '../../services/economy/settlement-flows';
import { ensureSchedules } from '../../workers/schedules';
import type { GiftSettlementDispatchResult } from '../../workflows/gift-settlement/definitions';
import { giftSettlementStatusQuery, settlementWorkflowId } from '../../workflows/gift-settlement/definitions';
import { startWorker } from '../support/app-harness';
import { GiftFixtures } from '../support/gifts';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * The scheduled dispatcher on the Temporal dev server (the time-skipping server has no
 * Schedules): `ensureSchedules` creates and updates in place, and a run starts one settlement
 * flow per receiver-day with pending receipts, records it, and starts nothing twice.
 * Each test uses its own schedule ids, so runs of other suites on this server stay apart.
 */
let stack: RealStack;
let worker: Awaited<ReturnType<typeof startWorker>>;
let gifts: GiftFixtures;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  stack = await connectRealStack('settle-dispatch');
  worker = await startWorker(stack);
  gifts = new GiftFixtures(stack.dataSource);
});

afterAll(async () => {
  for (const step of cleanup) await step().catch(() => undefined);
  await worker?.stop();
  await stack?.close();
});

/** Hourly, so the test's own triggers are the runs that matter. */
function testConfig(overrides: Partial<RealStack['config']> = {}) {
  return { ...stack.config, GIFT_SETTLEMENT_DISPATCH_SECONDS: 3600, ...overrides };
}

async function withSchedule(): Promise<{ handle: ScheduleHandle; prefix: string }> {
  const prefix = `test-${randomUUID().slice(0, 8)}-`;
  const [ensured] = await ensureSchedules(stack.temporal, testConfig(), { idPrefix: prefix });
  const handle = stack.temporal.schedule.getHandle(ensured!.id);
  cleanup.push(() => handle.delete());
  return { handle, prefix };
}

/** Triggers a run and waits for its result. */
async function runOnce(handle: ScheduleHandle): Promise<GiftSettlementDispatchResult> {
  const before = (await handle.describe()).info.recentActions.length;
  await handle.trigger();
  let actions = (await handle.describe()).info.recentActions;
  for (let i = 0; actions.length <= before && i < 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    actions = (await handle.describe()).info.recentActions;
  }
  const taken = actions.at(-1);
  if (!taken || actions.length <= before) throw new Error('the schedule took no action');
  return stack.temporal.workflow.getHandle(taken.action.workflow.workflowId, taken.action.workflow.firstExecutionRunId).result();
}

it('creates the schedules once, then updates them in place and keeps an operator pause', async () => {
  const prefix = `test-${randomUUID().slice(0, 8)}-`;
  const id = `${prefix}gift-settlement-dispatch`;
  const others = [`${prefix}gift-fraud-scan`, `${prefix}google-play-voided-purchases`, `${prefix}status-recheck`, `${prefix}vip-expiry-sweep`];
  expect(await ensureSchedules(stack.temporal, testConfig(), { idPrefix: prefix })).toEqual([
    { id, outcome: 'created' },
    ...others.map((other) => ({ id: other, outcome: 'created' })),
  ]);
  const handle = stack.temporal.schedule.getHandle(id);
  cleanup.push(() => handle.delete(), ...others.map((other) => () => stack.temporal.schedule.getHandle(other).delete()));
  await handle.pause('paused by an operator');

  expect(await ensureSchedules(stack.temporal, testConfig({ GIFT_SETTLEMENT_DISPATCH_SECONDS: 1800 }), { idPrefix: prefix })).toEqual([
    { id, outcome: 'updated' },
    ...others.map((other) => ({ id: other, outcome: 'updated' })),
  ]);
  const description = await handle.describe();
  expect(description.spec.intervals?.map((i) => i.every)).toEqual([1_800_000]);
  expect(description.state.paused).toBe(true);
  expect(description.action).toMatchObject({
    type: 'startWorkflow',
    workflowType: 'giftSettlementDispatchWorkflow',
    workflowId: `${prefix}gift-settlement-dispatch`,
    taskQueue: stack.taskQueue,
    args: [{ holdHours: stack.config.GIFT_SETTLEMENT_HOLD_HOURS, batch: stack.config.GIFT_SETTLEMENT_DISPATCH_BATCH, maxBatches: 5 }],
  });
  const attributes = description.action.typedSearchAttributes;
  const flowKind = attributes instanceof TypedSearchAttributes ? attributes.get(SearchAttribute.FlowKind) : attributes?.find((a) => a.key.name === 'FlowKind')?.value;
  expect(flowKind).toBe(FlowKind.GiftSettlementDispatch);
});

it('a run starts one flow per receiver-day with pending receipts and records it; a second run starts none of them again', async () => {
  const { handle } = await withSchedule();
  const [sender, first, second, flagged] = await Promise.all([gifts.user('sender'), gifts.user('host'), gifts.user('guest'), gifts.user('flagged')]);
  const room = await gifts.room(first);
  await gifts.buyCoins(sender, 10_000);
  const now = Date.now();
  const base = { senderId: sender, roomId: room, coinsEach: 100, diamondsEach: 50, at: now };
  // A storm of sends to one host still means one flow for the day.
  for (let i = 0; i < 5; i++) await gifts.send({ ...base, receivers: [first, second] });
  await gifts.send({ ...base, receivers: [flagged], state: 'held' });
  const day = utcDayOf(now);

  const run = await runOnce(handle);
  expect(run.started).toBeGreaterThanOrEqual(2);
  const records = new SettlementFlowRecords(stack.dataSource);
  const firstRecord = await records.find(first, day);
  expect(firstRecord).toMatchObject({ workflowId: settlementWorkflowId(first, day) });
  expect(await records.find(second, day)).toMatchObject({ workflowId: settlementWorkflowId(second, day) });
  expect(await records.find(flagged, day)).toBeNull(); // held receipts wait for review, not for a flow

  const flow = stack.temporal.workflow.getHandle(settlementWorkflowId(first, day));
  cleanup.push(() => stack.temporal.workflow.getHandle(settlementWorkflowId(second, day)).terminate('test finished'));
  const described = await flow.describe();
  expect(described.status.name).toBe('RUNNING');
  expect(described.typedSearchAttributes.get(SearchAttribute.UserId)).toBe(first);
  expect(described.typedSearchAttributes.get(SearchAttribute.FlowKind)).toBe(FlowKind.GiftSettlement);
  const status: GiftSettlementState = await flow.query(giftSettlementStatusQuery);
  expect(status).toMatchObject({ receiverId: first, day, phase: 'waiting', settlesAt: settlementDueAt(day, stack.config.GIFT_SETTLEMENT_HOLD_HOURS) });

  // Support finds it by UserId in the Web UI; the same search through the API (visibility
  // catches up asynchronously on the dev server):
  const query = `UserId = "${first}" AND FlowKind = "${FlowKind.GiftSettlement}"`;
  let found: string[] = [];
  for (let i = 0; found.length === 0 && i < 50; i++) {
    if (i) await new Promise((resolve) => setTimeout(resolve, 100));
    found = [];
    for await (const w of stack.temporal.workflow.list({ query })) found.push(w.workflowId);
  }
  expect(found).toEqual([settlementWorkflowId(first, day)]);

  await runOnce(handle);
  expect(await records.find(first, day)).toEqual(firstRecord);
  expect((await flow.describe()).runId).toBe(described.runId);

  // Support releases the hold: the day settles now, with one entry for the five gifts.
  expect(await new GiftSettlementFlows(stack.temporal).release(first, day)).toBe(true);
  const settled: GiftSettlementState = await flow.result();
  expect(settled.totals).toMatchObject({ settled: { receipts: 5, diamonds: 250 }, pending: { receipts: 0 } });
  expect(await gifts.wallet(first)).toMatchObject({ diamonds: 250 });
  expect((await gifts.entries(first, 'settlement')).map((e) => e.amount)).toEqual([250]);
});
