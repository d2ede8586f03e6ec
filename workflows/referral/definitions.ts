import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ReferralFlowState, ReferralMilestone, ReferralPolicy } from '../../domain/referrals/milestones';

/** The messages of the referral flow: shared by the workflow, the API, the worker and the tests. */
export interface ReferralInput {
  refereeId: string;
  referrerId: string;
  /** Epoch ms; the records' window is PostgreSQL's (referrals.window_ends_at), the same instant. */
  windowEndsAt: number;
  policy: ReferralPolicy;
  /** Present when the flow continues as new. */
  state?: ReferralFlowState;
}

export interface ReferralStatus {
  paid: ReferralMilestone[];
  windowEndsAt: string;
  checks: number;
  nudges: number;
  failedRounds: number;
  ended: 'completed' | 'expired' | null;
}

/** Something happened that may complete a milestone (a sign-in, a claim, a recharge): look now. */
export const referralNudgeSignal = defineSignal<[{ kind: string }]>('nudge');
export const referralStatusQuery = defineQuery<ReferralStatus>('status');

export { referralWorkflowId } from '../../domain/referrals/milestones';
