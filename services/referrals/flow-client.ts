import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { FlowKind, SearchAttribute } from '../../domain/flows';
import { initialReferralState, summarizeReferral, type ReferralPolicy } from '../../domain/referrals/milestones';
import { referralNudgeSignal, referralWorkflowId, type ReferralInput } from '../../workflows/referral/definitions';
import type { referralWorkflow } from '../../workflows/referral/workflow';

/** A start or a nudge must not hold up the sign-in or the event that caused it for long. */
const CALL_TIMEOUT_MS = 2_000;

/** Starts referees' flows (once each, ever) and nudges running ones. */
export class ReferralFlows {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly policy: ReferralPolicy,
  ) {}

  /** Starts `referral:<refereeId>`; true when it runs (or ran): a second start is a no-op, never a second flow. */
  async start(referral: { refereeId: string; referrerId: string; windowEndsAt: Date }): Promise<boolean> {
    const input: ReferralInput = {
      refereeId: referral.refereeId,
      referrerId: referral.referrerId,
      windowEndsAt: referral.windowEndsAt.getTime(),
      policy: this.policy,
    };
    try {
      await this.client.withDeadline(Date.now() + CALL_TIMEOUT_MS, () =>
        this.client.workflow.start<typeof referralWorkflow>('referralWorkflow', {
          workflowId: referralWorkflowId(referral.refereeId),
          taskQueue: this.taskQueue,
          args: [input],
          // Once per referee, ever: a finished flow is never started again.
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          typedSearchAttributes: new TypedSearchAttributes([
            { key: SearchAttribute.UserId, value: referral.refereeId },
            { key: SearchAttribute.FlowKind, value: FlowKind.Referral },
          ]),
          memo: { summary: summarizeReferral(this.policy, initialReferralState(), input.windowEndsAt) },
        }),
      );
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    return true;
  }

  /** Signals a running flow; 'gone' when there is none (never started, or ended). */
  async nudge(refereeId: string, kind: string): Promise<'sent' | 'gone'> {
    try {
      await this.client.withDeadline(Date.now() + CALL_TIMEOUT_MS, () =>
        this.client.workflow.getHandle(referralWorkflowId(refereeId)).signal(referralNudgeSignal, { kind }),
      );
      return 'sent';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'gone';
      throw err;
    }
  }
}
