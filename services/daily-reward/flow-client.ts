import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import {
  applyProfile,
  describeDailyReward,
  initialDailyRewardState,
  summarizeDailyReward,
  type DailyRewardPolicy,
  type DailyRewardStatus,
} from '../../domain/daily-reward/cycle';
import { FlowKind, SearchAttribute } from '../../domain/flows';
import { scaleDailyRewardTable } from '../../domain/vip/membership';
import {
  claimDailyRewardUpdate,
  dailyRewardStatusQuery,
  dailyRewardWorkflowId,
  profileChangedSignal,
  type ClaimRequest,
  type ClaimResult,
  type DailyRewardInput,
} from '../../workflows/daily-reward/definitions';
import type { dailyRewardWorkflow } from '../../workflows/daily-reward/workflow';
import { translateTemporalError } from '../../platform/temporal-errors';

/** The user as PostgreSQL has them: the record the flow follows. */
export interface RewardUser {
  id: string;
  timeZone: string;
  /** The profile's `updated_at` (epoch ms), so a stale read never overrides a newer zone in the flow. */
  profileVersion?: number;
  /** The VIP perk read at claim time: the coin table times this, in percent (absent or 100: unchanged). */
  rewardPercent?: number;
}

/** A best-effort notice must not hold up the request that caused it for long. */
const PROFILE_SIGNAL_TIMEOUT_MS = 2_000;

/**
 * The API's handle on users' daily-reward workflows: claim through Update-with-Start, read through
 * a query. Every claim carries the profile's zone and this process's coin table, so the flow
 * follows both even if a `profileChanged` signal was lost.
 */
export class DailyRewardFlows {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly policy: DailyRewardPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(user: RewardUser): Promise<ClaimResult> {
    // The VIP multiplier is an input the claim carries, like the table itself: the flow stays deterministic.
    const policy = this.policyFor(user);
    const input: DailyRewardInput = { userId: user.id, timeZone: user.timeZone, policy };
    const request: ClaimRequest = { timeZone: user.timeZone, profileVersion: user.profileVersion ?? null, policy };
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
      return await this.client.workflow.executeUpdateWithStart(claimDailyRewardUpdate, { args: [request], startWorkflowOperation: start });
    } catch (err) {
      throw translateTemporalError(err);
    }
  }

  /**
   * Status at the caller's real "now" (the workflow's clock only moves when it runs), in the
   * profile's zone and with the table the next claim will carry, so `/v1/me` and this never
   * disagree. A flow still on an older zone (its signal was lost) is told again.
   */
  async status(user: RewardUser): Promise<DailyRewardStatus> {
    try {
      const snapshot = await this.client.workflow.getHandle(dailyRewardWorkflowId(user.id)).query(dailyRewardStatusQuery);
      const state = applyProfile(snapshot.state, profileFacts(user));
      if (state.timeZone !== snapshot.state.timeZone) await this.profileChanged(user);
      return describeDailyReward(state, this.now(), this.policyFor(user));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        return describeDailyReward(initialDailyRewardState(user.id, user.timeZone), this.now(), this.policyFor(user));
      }
      throw translateTemporalError(err);
    }
  }

  /** This process's table, times the user's VIP multiplier when they have one. */
  private policyFor(user: RewardUser): DailyRewardPolicy {
    const percent = user.rewardPercent ?? 100;
    if (percent <= 100) return this.policy;
    return { ...this.policy, coinsByDay: scaleDailyRewardTable(this.policy.coinsByDay, percent) };
  }

  /**
   * Tells a running flow the profile changed (after PATCH /v1/me committed), so its reminder is
   * aimed at the new zone's day. Best effort: false when there is no flow or Temporal did not
   * answer in time; the next claim or status read carries the zone anyway.
   */
  async profileChanged(user: RewardUser): Promise<boolean> {
    try {
      await this.client.withDeadline(Date.now() + PROFILE_SIGNAL_TIMEOUT_MS, () =>
        this.client.workflow.getHandle(dailyRewardWorkflowId(user.id)).signal(profileChangedSignal, profileFacts(user)),
      );
      return true;
    } catch {
      return false;
    }
  }
}

function profileFacts(user: RewardUser): { timeZone: string; profileVersion: number | null } {
  return { timeZone: user.timeZone, profileVersion: user.profileVersion ?? null };
}
