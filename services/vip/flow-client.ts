import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { FlowKind, SearchAttribute } from '../../domain/flows';
import { applyPurchase, initialVipState, summarizeVip, type VipFlowState, type VipPolicy, type VipPurchaseNotice } from '../../domain/vip/flow';
import { translateTemporalError } from '../../platform/temporal-errors';
import { vipPurchasedSignal, vipStatusQuery, vipWorkflowId, type VipFlowInput, type VipPurchasedSignal } from '../../workflows/vip/definitions';
import type { vipWorkflow } from '../../workflows/vip/workflow';

/** How long a purchase waits for Temporal to take its signal before answering anyway (the purchase has committed). */
export const VIP_SIGNAL_TIMEOUT_MS = 3_000;

/** Where a committed purchase moves the timer. */
export interface VipTimer {
  /** True when the flow has the signal; false when Temporal did not take it in time (see the repair in docs/status/vip.md). */
  purchased(userId: string, notice: VipPurchaseNotice): Promise<boolean>;
}

/**
 * The API's handle on users' `vip:<userId>` flows: each committed purchase is signalled with
 * signal-with-start (started by the first purchase, reused after), carrying the user's purchase
 * sequence number so a late signal never undoes a newer one, and this process's policy.
 */
export class VipFlows implements VipTimer {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly policy: VipPolicy,
    private readonly timeoutMs = VIP_SIGNAL_TIMEOUT_MS,
  ) {}

  async purchased(userId: string, notice: VipPurchaseNotice): Promise<boolean> {
    const input: VipFlowInput = { userId, policy: this.policy };
    try {
      await this.client.withDeadline(Date.now() + this.timeoutMs, () =>
        this.client.workflow.signalWithStart<typeof vipWorkflow, [VipPurchasedSignal]>('vipWorkflow', {
          workflowId: vipWorkflowId(userId),
          taskQueue: this.taskQueue,
          args: [input],
          signal: vipPurchasedSignal,
          signalArgs: [{ ...notice, policy: this.policy }],
          typedSearchAttributes: new TypedSearchAttributes([
            { key: SearchAttribute.UserId, value: userId },
            { key: SearchAttribute.FlowKind, value: FlowKind.Vip },
            { key: SearchAttribute.VipExpiresAt, value: new Date(notice.expiresAt) },
          ]),
          memo: { summary: summarizeVip(applyPurchase(initialVipState(userId), notice)) },
        }),
      );
      return true;
    } catch {
      return false;
    }
  }

  /** What the flow holds (support, tests); null when the user never bought VIP. */
  async status(userId: string): Promise<{ state: VipFlowState; policy: VipPolicy } | null> {
    try {
      return await this.client.workflow.getHandle(vipWorkflowId(userId)).query(vipStatusQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw translateTemporalError(err);
    }
  }
}
