import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { RechargeRefusal } from '../../domain/economy/recharge';

/** The messages of the recharge flow: shared by the workflow, the API and the tests. */
export interface RechargeInput {
  /** The store_purchases row: the token stays in PostgreSQL (encrypted), never in the history. */
  purchaseId: string;
  userId: string;
  productId: string;
}

export type RechargeOutcome =
  | { status: 'credited'; orderId: string; coins: number; bonusCoins: number; coinBalance: number; ledgerEntryId: string }
  | { status: 'refused'; code: RechargeRefusal; message: string };

export interface RechargeStatus {
  phase: 'verifying' | 'waiting-for-store' | 'crediting' | 'consuming' | 'done';
  outcome: RechargeOutcome | null;
  /** Rounds of attempts that failed, verify and consume together (each round is an activity's 4 attempts). */
  failedRounds: number;
  /** When the flow asks the store again, while it waits. */
  nextAttemptAt: string | null;
  consumed: boolean;
}

/** Resolves once the purchase is credited or refused (the consume may still be going on). */
export const rechargeOutcomeUpdate = defineUpdate<RechargeOutcome & { status: 'credited' }>('outcome');
export const rechargeStatusQuery = defineQuery<RechargeStatus>('status');

export { rechargeWorkflowId } from '../../domain/economy/recharge';
