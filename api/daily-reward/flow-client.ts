import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import {
  describeDailyReward,
  initialDailyRewardState,
  summarizeDailyReward,
  type DailyRewardPolicy,
  type DailyRewardStatus,
} from '../../domain/daily-reward/cycle';
import { FlowKind, SearchAttribute } from '../../domain/flows';
import {
  claimDailyRewardUpdate,
  dailyRewardStatusQuery,
  dailyRewardWorkflowId,
  type ClaimResult,
  type DailyRewardInput,
} from '../../workflows/daily-reward/definitions';
import type { dailyRewardWorkflow } from '../../workflows/daily-reward/workflow';
import { translateTemporalError } from '../http/temporal-errors';

export interface RewardUser {
  id: string;
  timeZone: string;
}

/** The API's handle on users' daily-reward workflows: claim through Update-with-Start, read through a query. */
export class DailyRewardFlows {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly policy: DailyRewardPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(user: RewardUser): Promise<ClaimResult> {
    const input: DailyRewardInput = { userId: user.id, timeZone: user.timeZone, policy: this.policy };
    const start = new WithStartWorkflowOperation<typeof dailyRewardWorkflow>('dailyRewardWorkflow', {
      workflowId: dailyRewardWorkflowId(user.id),
      taskQueue: this.taskQueue,
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [input],
      typedSearchAttributes: new TypedSearchAttributes([
        { key: SearchAttribute.UserId, value: user.id },
        { key: SearchAttribute.FlowKind, value: FlowKind.DailyReward },
      ]),
      memo: { summary: summarizeDailyReward(initialDailyRewardState(user.id, user.timeZone)) },
    });
    try {
      return await this.client.workflow.executeUpdateWithStart(claimDailyRewardUpdate, { startWorkflowOperation: start });
    } catch (err) {
      throw translateTemporalError(err);
    }
  }

  /** Status at the caller's real "now": the workflow's clock only moves when it runs. */
  async status(user: RewardUser): Promise<DailyRewardStatus> {
    try {
      const snapshot = await this.client.workflow.getHandle(dailyRewardWorkflowId(user.id)).query(dailyRewardStatusQuery);
      return describeDailyReward(snapshot.state, this.now(), snapshot.policy);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        return describeDailyReward(initialDailyRewardState(user.id, user.timeZone), this.now(), this.policy);
      }
      throw translateTemporalError(err);
    }
  }
}
