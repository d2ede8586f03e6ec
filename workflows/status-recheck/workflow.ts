import { proxyActivities, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { RecheckStatusResult, StatusRecheckActivities } from '../../activities/status-recheck';

export interface StatusRecheckInput {
  /** How far back users count as active (overlapping the previous runs). */
  lookbackMinutes: number;
  /** Users one run evaluates at most. */
  maxUsers: number;
}

// One run may evaluate thousands of users: minutes, not the standard 30 s.
const { recheckStatus } = proxyActivities<StatusRecheckActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
});

/**
 * One re-check of levels and medals, started by the `status-recheck` Schedule: the window ends
 * at the run's start and reaches back `lookbackMinutes`. The work is one idempotent activity;
 * this only sequences it and leaves a one-line summary for support.
 */
export async function statusRecheckWorkflow(input: StatusRecheckInput): Promise<RecheckStatusResult> {
  // Workflow time is deterministic (the first task's time), so a replay asks for the same window.
  const asOf = workflowInfo().startTime.getTime();
  const since = asOf - input.lookbackMinutes * 60_000;
  const result = await recheckStatus({ since: new Date(since).toISOString(), asOf: new Date(asOf).toISOString(), maxUsers: input.maxUsers });
  setCurrentDetails(
    `re-check as of ${result.asOf}: ${result.usersChecked} user(s), ${result.medalsAwarded} medal(s) awarded, ` +
      `${result.medalsAnnounced} medal notice(s) and ${result.levelUpsAnnounced} level-up(s) re-sent`,
  );
  return result;
}
