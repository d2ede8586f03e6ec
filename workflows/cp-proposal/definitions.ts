import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { CpProposalState } from '../../domain/cp/rules';

/** The messages of the cp-proposal flow: shared by the workflow, the API, the worker's sweep and the tests. */
export interface CpProposalInput {
  proposalId: string;
  proposerId: string;
  addresseeId: string;
  ringGiftId: string;
  coins: number;
  /** ISO instant: the flow refunds the escrow at this moment if nobody answered. */
  expiresAt: string;
}

/** Who answers: the addressee accepts or declines, the proposer withdraws. */
export interface CpAnswerRequest {
  userId: string;
}

/** Why the system closes a proposal: a party was paired elsewhere (or blocked the other) meanwhile. */
export interface CpCancelRequest {
  reason: string;
}

export type CpProposalOutcome =
  | { state: 'accepted'; pairId: string; sendId: string; formedAt: string }
  | { state: 'declined' | 'expired' | 'withdrawn' | 'cancelled'; reason: string | null; refundEntryId: string };

export interface CpProposalStatus {
  state: CpProposalState | 'accepting' | 'refunding';
  expiresAt: string;
  outcome: CpProposalOutcome | null;
  /** Rounds of an activity's attempts that failed (PostgreSQL down), waited out. */
  failedRounds: number;
}

export const cpAcceptUpdate = defineUpdate<CpProposalOutcome & { state: 'accepted' }, [CpAnswerRequest]>('accept');
export const cpDeclineUpdate = defineUpdate<CpProposalOutcome, [CpAnswerRequest]>('decline');
export const cpWithdrawUpdate = defineUpdate<CpProposalOutcome, [CpAnswerRequest]>('withdraw');
export const cpCancelSignal = defineSignal<[CpCancelRequest]>('cancel');
export const cpProposalStatusQuery = defineQuery<CpProposalStatus>('status');

export { cpProposalWorkflowId } from '../../domain/cp/rules';
