import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { DailyRewardClaim, DailyRewardPolicy, DailyRewardState } from '../../domain/daily-reward/cycle';

/** The messages of the daily-reward flow: shared by the workflow, the API and the tests. */
export interface DailyRewardInput {
  userId: string;
  timeZone: string;
  policy: DailyRewardPolicy;
  /** Present when the flow continues as new. */
  state?: DailyRewardState;
}

export interface ClaimResult extends DailyRewardClaim {
  ledgerEntryId: string;
  coinBalance: number;
}

export interface DailyRewardSnapshot {
  state: DailyRewardState;
  policy: DailyRewardPolicy;
}

export const claimDailyRewardUpdate = defineUpdate<ClaimResult>('claim');
export const dailyRewardStatusQuery = defineQuery<DailyRewardSnapshot>('status');

export function dailyRewardWorkflowId(userId: string): string {
  return `daily-reward:${userId}`;
}
