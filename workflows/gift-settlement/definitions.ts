import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { GiftSettlementState, UtcDay } from '../../domain/economy/settlement';

export { settlementWorkflowId } from '../../domain/economy/settlement';

/** The messages of the gift-settlement flows: shared by the workflows, the dispatcher, support tooling and tests. */
export interface GiftSettlementInput {
  receiverId: string;
  /** The UTC day of receipt whose gifts this flow settles. */
  day: UtcDay;
  /** The hold in force when the flow was started; receipts carry their own `hold_until`. */
  holdHours: number;
  /** Present when the flow continues as new. */
  state?: GiftSettlementState;
}

export interface GiftSettlementDispatchInput {
  holdHours: number;
  /** Receiver-days started per activity call. */
  batch: number;
  /** Activity calls per run while each one fills its batch. */
  maxBatches: number;
}

export interface GiftSettlementDispatchResult {
  started: number;
  restartedOverdue: number;
  /** True when the last batch was full: the next run carries on. */
  more: boolean;
}

export const giftSettlementStatusQuery = defineQuery<GiftSettlementState>('status');
/** Support: settle what is pending now, whatever its hold (held receipts stay held). */
export const releaseGiftSettlementSignal = defineSignal('release');
