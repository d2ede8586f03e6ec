import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { settlementWorkflowId, type GiftSettlementState, type UtcDay } from '../../domain/economy/settlement';
import { FlowKind, SearchAttribute } from '../../domain/flows';
import { translateTemporalError } from '../../platform/temporal-errors';
import {
  giftSettlementStatusQuery,
  releaseGiftSettlementSignal,
  type GiftSettlementInput,
} from '../../workflows/gift-settlement/definitions';
import type { giftSettlementWorkflow } from '../../workflows/gift-settlement/workflow';

/**
 * Starts a receiver-day's settlement flow, or leaves the running one alone (so the dispatcher's
 * re-runs and overdue sweeps are harmless). A flow that already completed is started again: it
 * finds the day's matured receipts and settles them at once. Returns the workflow id.
 */
export async function startGiftSettlementFlow(client: Client, taskQueue: string, input: GiftSettlementInput): Promise<string> {
  const workflowId = settlementWorkflowId(input.receiverId, input.day);
  await client.workflow.start<typeof giftSettlementWorkflow>('giftSettlementWorkflow', {
    workflowId,
    taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: new TypedSearchAttributes([
      { key: SearchAttribute.UserId, value: input.receiverId },
      { key: SearchAttribute.FlowKind, value: FlowKind.GiftSettlement },
    ]),
  });
  return workflowId;
}

/** Support tooling's handle on settlement flows: read one, or release its hold. */
export class GiftSettlementFlows {
  constructor(private readonly client: Client) {}

  /** The flow's state, or null when the receiver-day has none. */
  async status(receiverId: string, day: UtcDay): Promise<GiftSettlementState | null> {
    try {
      return await this.client.workflow.getHandle(settlementWorkflowId(receiverId, day)).query(giftSettlementStatusQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw translateTemporalError(err);
    }
  }

  /** Settles the day's pending receipts now, whatever their hold; false when the flow has ended. */
  async release(receiverId: string, day: UtcDay): Promise<boolean> {
    try {
      await this.client.workflow.getHandle(settlementWorkflowId(receiverId, day)).signal(releaseGiftSettlementSignal);
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw translateTemporalError(err);
    }
  }
}
