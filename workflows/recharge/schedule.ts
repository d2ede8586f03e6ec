import type { VoidedPurchasesInput } from './voided';

/**
 * The Schedule that reads Google Play's voided purchases (refunds, chargebacks) every few
 * minutes. Plain data: `workers/schedules.ts` turns it into a Temporal Schedule at worker start.
 */
export interface RechargeScheduleSpec {
  scheduleId: string;
  workflowType: 'voidedPurchasesWorkflow';
  /** Also the id of each run's workflow (one at a time: overlapping runs are skipped). */
  workflowId: string;
  intervalSeconds: number;
  args: [VoidedPurchasesInput];
}

export const VOIDED_PURCHASES_SCHEDULE_ID = 'google-play-voided-purchases';

export function voidedPurchasesSchedule(intervalSeconds = 300): RechargeScheduleSpec {
  return {
    scheduleId: VOIDED_PURCHASES_SCHEDULE_ID,
    workflowType: 'voidedPurchasesWorkflow',
    workflowId: VOIDED_PURCHASES_SCHEDULE_ID,
    intervalSeconds,
    args: [{}],
  };
}
