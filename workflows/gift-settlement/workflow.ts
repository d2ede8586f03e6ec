import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { GiftSettlementActivities } from '../../activities/gift-settlement';
import {
  count,
  initialSettlementState,
  settlementRetryDelayMs,
  summarizeSettlement,
  type GiftSettlementState,
} from '../../domain/economy/settlement';
import { STANDARD_ACTIVITY_OPTIONS } from '../activity-options';
import {
  giftSettlementStatusQuery,
  releaseGiftSettlementSignal,
  type GiftSettlementDispatchInput,
  type GiftSettlementDispatchResult,
  type GiftSettlementInput,
} from './definitions';

const { describeReceiverDay, settleReceiverDay } = proxyActivities<GiftSettlementActivities>(STANDARD_ACTIVITY_OPTIONS);
/** Starting a batch of flows is a few hundred calls to Temporal: more time per attempt. */
const { dispatchGiftSettlements } = proxyActivities<GiftSettlementActivities>({ ...STANDARD_ACTIVITY_OPTIONS, startToCloseTimeout: '2 minutes' });

/** Never re-settle sooner than this after a pass that left receipts pending. */
const MIN_REWAIT_MS = 60_000;

/**
 * One flow per receiver and UTC day of receipt (`settlement:<receiverId>:<day>`), started by the
 * scheduled dispatcher below, never by a send. Why this grain: a gift storm in a room is
 * thousands of sends a minute to a few hosts; a flow per gift would turn each into a workflow
 * start and a timer, while a flow per receiver-day costs one start and one ledger entry per
 * receiver per day however many gifts arrive (see domain/economy/settlement.ts).
 *
 * It sleeps until the day's end plus the hold (workflow time), then settles every pending receipt
 * of the day whose hold has ended as of its own clock (`asOf`), so time-skipping tests and a
 * PostgreSQL whose `now()` does not skip agree. Receipts still pending after that (the hold was
 * lengthened after the flow started) are waited for until the latest `hold_until`. Held receipts
 * (anti-fraud) are not settled here: review settles or reverses them. Reversals (clawbacks) need
 * no message: a reversed receipt is simply no longer pending when the flow settles.
 */
export async function giftSettlementWorkflow(input: GiftSettlementInput): Promise<GiftSettlementState> {
  let state: GiftSettlementState = input.state ?? initialSettlementState(input.receiverId, input.day, input.holdHours);
  let releaseRequested = false;
  // The line support reads: current details while it runs, and the memo (kept after it ends).
  let published = '';
  const publish = () => {
    const line = summarizeSettlement(state);
    if (line === published) return;
    published = line;
    setCurrentDetails(line);
    upsertMemo({ summary: line });
  };

  setHandler(giftSettlementStatusQuery, () => state);
  setHandler(releaseGiftSettlementSignal, () => {
    releaseRequested = true;
  });

  if (!input.state) {
    try {
      state = { ...state, totals: await describeReceiverDay({ receiverId: state.receiverId, day: state.day }) };
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Only the summary needs it; the settlement reads the record again.
    }
  }
  publish();

  for (;;) {
    const wait = state.settlesAt - Date.now();
    if (wait > 0 && !releaseRequested) await condition(() => releaseRequested, wait);
    const ignoreHold = releaseRequested;
    releaseRequested = false;
    try {
      const result = await settleReceiverDay({
        receiverId: state.receiverId,
        day: state.day,
        asOf: new Date(Date.now()).toISOString(),
        ignoreHold,
      });
      const pending = result.totals.pending;
      state = { ...state, totals: result.totals, lastSettledAt: Date.now(), failures: 0, lastErrorType: null };
      if (pending.receipts === 0) {
        state = { ...state, phase: 'done' };
        publish();
        return state;
      }
      const latest = pending.latestHoldUntil ? Date.parse(pending.latestHoldUntil) : 0;
      state = { ...state, phase: 'waiting', settlesAt: Math.max(latest, Date.now() + MIN_REWAIT_MS) };
    } catch (err) {
      if (isCancellation(err)) throw err;
      // The activity spent its own retries. Money must still move: back off and try again, and
      // say so on the summary line support reads.
      const failures = state.failures + 1;
      state = { ...state, phase: 'retrying', failures, lastErrorType: failureType(err), settlesAt: Date.now() + settlementRetryDelayMs(failures) };
    }
    publish();
    if (workflowInfo().continueAsNewSuggested) {
      return continueAsNew<typeof giftSettlementWorkflow>({ ...input, state });
    }
  }
}

/**
 * The scheduled run (Temporal Schedule `gift-settlement-dispatch`, workers/schedules.ts): starts
 * the settlement flows of receiver-days that have pending receipts and no flow yet, a bounded
 * batch per call, and restarts flows of receipts long overdue. Re-runs are harmless: a start
 * finds a running flow and leaves it alone.
 */
export async function giftSettlementDispatchWorkflow(input: GiftSettlementDispatchInput): Promise<GiftSettlementDispatchResult> {
  const total: GiftSettlementDispatchResult = { started: 0, restartedOverdue: 0, more: false };
  for (let i = 0; i < Math.max(1, input.maxBatches); i++) {
    const result = await dispatchGiftSettlements({ holdHours: input.holdHours, batch: input.batch, sweepOverdue: i === 0 });
    total.started += result.started;
    total.restartedOverdue += result.restartedOverdue;
    total.more = result.more;
    setCurrentDetails(`started ${count(total.started)} settlement flows, restarted ${count(total.restartedOverdue)} overdue`);
    if (!result.more) break;
  }
  return total;
}

function failureType(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && cause.type ? cause.type : 'error';
}
