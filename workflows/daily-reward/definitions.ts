import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DailyRewardClaim, DailyRewardPolicy, DailyRewardState, ProfileFacts } from '../../domain/daily-reward/cycle';

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

/**
 * What the API knows at claim time: the profile's zone (PostgreSQL is the record) and the coin
 * table it is configured with. The workflow treats it as optional: claims recorded before it existed carry none.
 */
export interface ClaimRequest extends ProfileFacts {
  policy: DailyRewardPolicy;
}

export const claimDailyRewardUpdate = defineUpdate<ClaimResult, [ClaimRequest]>('claim');
/** Sent after PATCH /v1/me commits a new zone, best effort: the next claim carries the zone too. */
export const profileChangedSignal = defineSignal<[ProfileFacts]>('profileChanged');
export const dailyRewardStatusQuery = defineQuery<DailyRewardSnapshot>('status');

export function dailyRewardWorkflowId(userId: string): string {
  return `daily-reward:${userId}`;
}
