import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { Config } from '../config';
import { FlowKind, SearchAttribute } from '../domain/flows';
import type { GiftSettlementDispatchInput } from '../workflows/gift-settlement/definitions';
import { giftFraudScanSchedule } from '../workflows/gift-fraud/schedule';
import { VOIDED_PURCHASES_SCHEDULE_ID, voidedPurchasesSchedule } from '../workflows/recharge/schedule';
import { statusRecheckSchedule } from '../workflows/status-recheck/schedule';
import type { StatusRecheckInput } from '../workflows/status-recheck/workflow';
import { DEFAULT_VIP_POLICY } from '../domain/vip/flow';
import type { VipExpirySweepInput } from '../workflows/vip/sweep';

/**
 * Temporal Schedules the project runs, created or brought up to date at every worker start (so
 * a changed interval or setting reaches the server with the next deploy). Kept apart from the
 * workflows: the time-skipping test server has no Schedules, and nothing in a workflow needs them.
 *
 * To add one, append a definition to SCHEDULES: a stable id and what it runs, from the config.
 */
export interface ScheduleDefinition {
  /** Stable: the Web UI lists schedules by it, and an update finds its schedule by it. */
  id: string;
  build(config: Config): Pick<ScheduleOptions, 'spec' | 'action' | 'policies'>;
}

/** Every scheduled run starts on the worker's task queue; a stuck run ends before it blocks many others. */
const RUN_TIMEOUT = '10 minutes';

export const giftSettlementDispatchSchedule: ScheduleDefinition = {
  id: 'gift-settlement-dispatch',
  build(config) {
    const input: GiftSettlementDispatchInput = {
      holdHours: config.GIFT_SETTLEMENT_HOLD_HOURS,
      batch: config.GIFT_SETTLEMENT_DISPATCH_BATCH,
      maxBatches: 5,
    };
    return {
      spec: { intervals: [{ every: `${config.GIFT_SETTLEMENT_DISPATCH_SECONDS} seconds` }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'giftSettlementDispatchWorkflow',
        workflowId: 'gift-settlement-dispatch',
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        args: [input],
        workflowExecutionTimeout: RUN_TIMEOUT,
        typedSearchAttributes: new TypedSearchAttributes([{ key: SearchAttribute.FlowKind, value: FlowKind.GiftSettlementDispatch }]),
      },
      // A run still going when the next is due: skip the next (the following run catches up).
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
    };
  },
};

/** The anti-fraud scan (workflows/gift-fraud/schedule.ts says what it runs and how often). */
export const giftFraudScan: ScheduleDefinition = {
  id: giftFraudScanSchedule.scheduleId,
  build(config) {
    return {
      spec: { intervals: [{ every: `${giftFraudScanSchedule.intervalSeconds} seconds` }] },
      action: {
        type: 'startWorkflow',
        workflowType: giftFraudScanSchedule.workflowType,
        workflowId: giftFraudScanSchedule.workflowIdPrefix,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        args: [...giftFraudScanSchedule.args],
        workflowExecutionTimeout: RUN_TIMEOUT,
        typedSearchAttributes: new TypedSearchAttributes([{ key: SearchAttribute.FlowKind, value: giftFraudScanSchedule.flowKind }]),
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
    };
  },
};

/** Google Play's voided purchases (refunds): each credited order is clawed back. */
export const googlePlayVoidedPurchases: ScheduleDefinition = {
  id: VOIDED_PURCHASES_SCHEDULE_ID,
  build(config) {
    const spec = voidedPurchasesSchedule(config.GOOGLE_PLAY_VOIDED_INTERVAL_SECONDS);
    return {
      spec: { intervals: [{ every: `${spec.intervalSeconds} seconds` }] },
      action: {
        type: 'startWorkflow',
        workflowType: spec.workflowType,
        workflowId: spec.workflowId,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        args: [...spec.args],
        workflowExecutionTimeout: RUN_TIMEOUT,
        typedSearchAttributes: new TypedSearchAttributes([{ key: SearchAttribute.FlowKind, value: FlowKind.StoreVoidedPurchases }]),
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '5 minutes' },
    };
  },
};

/** Levels and medals: level-ups and awards a lost progress event left behind (docs/status/levels.md). */
export const statusRecheck: ScheduleDefinition = {
  id: statusRecheckSchedule.scheduleId,
  build(config) {
    const input: StatusRecheckInput = { lookbackMinutes: config.STATUS_RECHECK_LOOKBACK_MINUTES, maxUsers: config.STATUS_RECHECK_MAX_USERS };
    return {
      spec: { intervals: [{ every: `${config.STATUS_RECHECK_INTERVAL_SECONDS} seconds` }] },
      action: {
        type: 'startWorkflow',
        workflowType: statusRecheckSchedule.workflowType,
        workflowId: statusRecheckSchedule.workflowIdPrefix,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        args: [input],
        workflowExecutionTimeout: RUN_TIMEOUT,
        typedSearchAttributes: new TypedSearchAttributes([{ key: SearchAttribute.FlowKind, value: statusRecheckSchedule.flowKind }]),
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10 minutes' },
    };
  },
};

/** The VIP repair: memberships past their expiry whose flow missed it (a lost purchase signal). */
export const vipExpirySweep: ScheduleDefinition = {
  id: 'vip-expiry-sweep',
  build(config) {
    const input: VipExpirySweepInput = {
      policy: { ...DEFAULT_VIP_POLICY, reminderLeadHours: config.VIP_REMINDER_LEAD_HOURS },
      graceSeconds: 60,
      limit: 500,
    };
    return {
      spec: { intervals: [{ every: `${config.VIP_EXPIRY_SWEEP_SECONDS} seconds` }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'vipExpirySweepWorkflow',
        workflowId: 'vip-expiry-sweep',
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        args: [input],
        workflowExecutionTimeout: RUN_TIMEOUT,
        typedSearchAttributes: new TypedSearchAttributes([{ key: SearchAttribute.FlowKind, value: FlowKind.VipExpirySweep }]),
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '5 minutes' },
    };
  },
};

export const SCHEDULES: readonly ScheduleDefinition[] = [giftSettlementDispatchSchedule, giftFraudScan, googlePlayVoidedPurchases, statusRecheck, vipExpirySweep];

export interface EnsuredSchedule {
  id: string;
  outcome: 'created' | 'updated';
}

/**
 * Creates each schedule, or updates it in place when it exists: idempotent, and safe when
 * several workers start at once. An operator's pause survives (the state is kept on update).
 * `idPrefix` keeps test runs apart on a shared server.
 */
export async function ensureSchedules(
  client: Client,
  config: Config,
  options: { idPrefix?: string; schedules?: readonly ScheduleDefinition[] } = {},
): Promise<EnsuredSchedule[]> {
  const results: EnsuredSchedule[] = [];
  for (const definition of options.schedules ?? SCHEDULES) {
    const scheduleId = `${options.idPrefix ?? ''}${definition.id}`;
    const built = definition.build(config);
    const action = { ...built.action, workflowId: `${options.idPrefix ?? ''}${built.action.workflowId ?? definition.id}` };
    try {
      await client.schedule.create({ scheduleId, ...built, action });
      results.push({ id: scheduleId, outcome: 'created' });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(scheduleId).update((previous) => ({
        ...built,
        action,
        state: { paused: previous.state.paused, note: previous.state.note, remainingActions: previous.state.remainingActions },
      }));
      results.push({ id: scheduleId, outcome: 'updated' });
    }
  }
  return results;
}
