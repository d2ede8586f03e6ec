import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { DataSource } from 'typeorm';
import { GiftReceipts, SETTLEMENT_BATCH_LIMIT } from '../../db/repositories/gift-receipts';
import { SettlementFlowRecords, type ReceiverDay } from '../../db/repositories/settlement-flows';
import type { ReceiverDayTotals, UtcDay } from '../../domain/economy/settlement';
import { startGiftSettlementFlow } from '../../services/economy/settlement-flows';
import { asActivity } from '../failures';

export interface SettleReceiverDayInput {
  receiverId: string;
  day: UtcDay;
  /** The workflow's clock (ISO): receipts whose hold ended by then settle. */
  asOf: string;
  /** Support release: settle every pending receipt of the day now. */
  ignoreHold?: boolean;
}

export interface SettleReceiverDayResult {
  /** What this call moved (nothing on a retry after a commit). */
  settledNow: { receipts: number; diamonds: number; entryId: string | null };
  /** The day as PostgreSQL has it after the call. */
  totals: ReceiverDayTotals;
}

export interface DispatchInput {
  holdHours: number;
  batch: number;
  /** Also restart flows of receipts long past their hold (once per run is plenty). */
  sweepOverdue: boolean;
}

export interface GiftSettlementActivityDeps {
  dataSource: DataSource;
  /** Starts settlement flows; without it, the worker's own client (the activity context's). */
  temporal?: Client;
}

export type GiftSettlementActivities = ReturnType<typeof createGiftSettlementActivities>;

/** Flows started at once by the dispatcher: bounded so a backlog never floods the server. */
const START_CONCURRENCY = 8;

export function createGiftSettlementActivities({ dataSource, temporal }: GiftSettlementActivityDeps) {
  const receipts = new GiftReceipts(dataSource);
  const flows = new SettlementFlowRecords(dataSource);

  return {
    /** Read only: the day's counts for the flow's summary line. */
    async describeReceiverDay(input: { receiverId: string; day: UtcDay }): Promise<ReceiverDayTotals> {
      return asActivity(() => receipts.dayTotals(dataSource.manager, input.receiverId, input.day));
    },

    /**
     * One transaction (per 5,000 receipts): lock the day's matured pending receipts, one ledger
     * entry for their diamonds, mark them settled. A retry after a commit (the worker died before reporting)
     * settles nothing more and reports the day as it stands.
     */
    async settleReceiverDay(input: SettleReceiverDayInput): Promise<SettleReceiverDayResult> {
      return asActivity(async () => {
        const asOf = new Date(input.asOf);
        if (Number.isNaN(asOf.getTime())) throw new Error(`asOf is not an instant: ${input.asOf}`);
        const settledNow: SettleReceiverDayResult['settledNow'] = { receipts: 0, diamonds: 0, entryId: null };
        // A bounded transaction per batch (one entry each); almost always a single one.
        for (;;) {
          const { settled, totals } = await dataSource.transaction((tx) =>
            receipts.settleReceiverDay(tx, { receiverId: input.receiverId, day: input.day, asOf, ignoreHold: input.ignoreHold }),
          );
          settledNow.receipts += settled.receiptIds.length;
          settledNow.diamonds += settled.diamonds;
          settledNow.entryId = settled.entryId ?? settledNow.entryId;
          if (settled.receiptIds.length < SETTLEMENT_BATCH_LIMIT) return { settledNow, totals };
          Context.current().heartbeat();
        }
      });
    },

    /**
     * Starts the flows of receiver-days with pending receipts and none recorded, then records
     * them (start first: a crash in between leaves a flow the next run finds running, never a
     * record without a flow). The cursor advances only when the batch was not full.
     */
    async dispatchGiftSettlements(input: DispatchInput): Promise<{ started: number; restartedOverdue: number; more: boolean }> {
      return asActivity(async () => {
        const context = Context.current();
        const client = temporal ?? context.client;
        const taskQueue = context.info.taskQueue;
        const start = async (pair: ReceiverDay) => {
          const workflowId = await startGiftSettlementFlow(client, taskQueue, { ...pair, holdHours: input.holdHours });
          await flows.record(pair, workflowId);
          context.heartbeat();
        };

        let restartedOverdue = 0;
        if (input.sweepOverdue) {
          const overdue = await flows.overdueDays(input.batch);
          await inBatches(overdue, START_CONCURRENCY, start);
          restartedOverdue = overdue.length;
        }
        const { pairs, scanStartedAt } = await flows.unstartedDays(input.batch);
        await inBatches(pairs, START_CONCURRENCY, start);
        const more = pairs.length >= input.batch;
        if (!more) await flows.advanceCursor(scanStartedAt);
        return { started: pairs.length, restartedOverdue, more };
      });
    },
  };
}

async function inBatches<T>(items: readonly T[], size: number, run: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map(run));
  }
}
