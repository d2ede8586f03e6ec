import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { CpProposalRecord } from '../../db/repositories/cp';
import { cpProposalWorkflowId, summarizeCpProposal } from '../../domain/cp/rules';
import { FlowKind, SearchAttribute } from '../../domain/flows';
import { translateTemporalError } from '../../platform/temporal-errors';
import {
  cpAcceptUpdate,
  cpCancelSignal,
  cpDeclineUpdate,
  cpWithdrawUpdate,
  type CpProposalInput,
  type CpProposalOutcome,
} from '../../workflows/cp-proposal/definitions';
import type { cpProposalWorkflow } from '../../workflows/cp-proposal/workflow';

/** One RPC to Temporal answers within this, or the caller gets DEPENDENCY_UNAVAILABLE. */
const START_TIMEOUT_MS = 5_000;
const SIGNAL_TIMEOUT_MS = 5_000;

export type CpAnswer = 'accept' | 'decline' | 'withdraw';

const UPDATES = { accept: cpAcceptUpdate, decline: cpDeclineUpdate, withdraw: cpWithdrawUpdate } as const;

/** The cp-proposal flows as the API and the worker's sweep reach them. */
export class CpProposalFlows {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    /** How long an answer waits for the flow to form the pair or refund (the step itself goes on). */
    private readonly answerWaitMs = 10_000,
  ) {}

  /** Starts the proposal's flow; an existing one (running or closed) counts as started. */
  async start(p: CpProposalRecord): Promise<void> {
    const input: CpProposalInput = {
      proposalId: p.id,
      proposerId: p.proposerId,
      addresseeId: p.addresseeId,
      ringGiftId: p.ringGiftId,
      coins: p.coins,
      expiresAt: p.expiresAt.toISOString(),
    };
    try {
      await this.client.withDeadline(Date.now() + START_TIMEOUT_MS, () =>
        this.client.workflow.start<typeof cpProposalWorkflow>('cpProposalWorkflow', {
          workflowId: cpProposalWorkflowId(p.id),
          taskQueue: this.taskQueue,
          args: [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
          // One flow per proposal, ever: a closed one is its answer.
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          typedSearchAttributes: new TypedSearchAttributes([
            { key: SearchAttribute.UserId, value: p.proposerId },
            { key: SearchAttribute.FlowKind, value: FlowKind.CpProposal },
          ]),
          memo: { summary: summarizeCpProposal({ state: 'pending', coins: p.coins, ringGiftId: p.ringGiftId, expiresAt: input.expiresAt }) },
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw translateTemporalError(err);
    }
  }

  /** Sends an answer and waits for what it led to (the pair, or the refund). */
  async answer(proposalId: string, answer: CpAnswer, userId: string): Promise<CpProposalOutcome> {
    try {
      return await this.client.withDeadline(Date.now() + this.answerWaitMs, () =>
        this.client.workflow.getHandle(cpProposalWorkflowId(proposalId)).executeUpdate(UPDATES[answer], { args: [{ userId }] }),
      );
    } catch (err) {
      throw translateTemporalError(err);
    }
  }

  /** Tells a proposal's flow it can no longer form a pair (it refunds); false when the flow is gone or did not answer. */
  async cancel(proposalId: string, reason: string): Promise<boolean> {
    try {
      await this.client.withDeadline(Date.now() + SIGNAL_TIMEOUT_MS, () =>
        this.client.workflow.getHandle(cpProposalWorkflowId(proposalId)).signal(cpCancelSignal, { reason }),
      );
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      const translated = translateTemporalError(err);
      if (translated instanceof Error && translated !== err) return false;
      throw err;
    }
  }
}
