import { allHandlersFinished, condition, continueAsNew, isCancellation, proxyActivities, setCurrentDetails, setHandler, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { ReferralActivities } from '../../activities/referral';
import {
  allPaid,
  initialReferralState,
  nextCheckInMs,
  payoutsDue,
  summarizeReferral,
  type ReferralFlowState,
} from '../../domain/referrals/milestones';
import { STANDARD_ACTIVITY_OPTIONS } from '../activity-options';
import { referralNudgeSignal, referralStatusQuery, type ReferralInput } from './definitions';

const activities = proxyActivities<ReferralActivities>(STANDARD_ACTIVITY_OPTIONS);

/** Checks per run before continuing as new (each is a handful of events; nudges are throttled upstream). */
const CHECKS_PER_RUN = 200;

/**
 * One flow per referred user (`referral:<refereeId>`), started once at attribution. It looks at
 * the records (an activity reading PostgreSQL) when nudged (a sign-in, claim or recharge of the
 * referee) and on its own every `checkEveryMs`, so a lost nudge still pays; each milestone
 * reached within the window pays the referrer and the referee once (ledger keys per referee,
 * milestone and side). It ends when every milestone is paid, or when the window has passed
 * (after one last look at the records, which count only what happened inside the window).
 * A check or payout that fails after its retries (the ledger down) is tried again after a
 * backoff; the flow never fails for it.
 */
export async function referralWorkflow(input: ReferralInput): Promise<{ ended: 'completed' | 'expired'; paid: string[] }> {
  const { policy, windowEndsAt } = input;
  let state: ReferralFlowState = input.state ?? initialReferralState();
  let ended: 'completed' | 'expired' | null = null;
  let nudged = false;
  let checksThisRun = 0;

  const describe = () => {
    const line = summarizeReferral(policy, state, windowEndsAt, ended ?? undefined);
    upsertMemo({ summary: line });
    setCurrentDetails(line);
  };
  describe();

  setHandler(referralNudgeSignal, () => {
    nudged = true;
    state = { ...state, nudges: state.nudges + 1 };
  });
  setHandler(referralStatusQuery, () => ({
    paid: state.paid,
    windowEndsAt: new Date(windowEndsAt).toISOString(),
    checks: state.checks,
    nudges: state.nudges,
    failedRounds: state.failedRounds,
    ended,
  }));

  for (;;) {
    nudged = false;
    await checkAndPay();
    describe();
    if (allPaid(policy, state.paid)) {
      ended = 'completed';
      break;
    }
    if (Date.now() >= windowEndsAt) {
      ended = 'expired';
      break;
    }
    const wait = nextCheckInMs(policy, state.failedRounds, Date.now(), windowEndsAt);
    // A failed round waits its backoff whatever nudges come; otherwise a nudge looks at once.
    if (wait > 0) await condition(() => nudged && state.failedRounds === 0, wait);
    if (checksThisRun >= CHECKS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof referralWorkflow>({ ...input, state });
    }
  }

  describe();
  await activities.closeReferral({ refereeId: input.refereeId, reason: ended });
  await condition(allHandlersFinished);
  return { ended, paid: state.paid };

  async function checkAndPay(): Promise<void> {
    checksThisRun += 1;
    state = { ...state, checks: state.checks + 1 };
    let reached;
    try {
      reached = (await activities.evaluateReferralMilestones({ refereeId: input.refereeId })).reached;
    } catch (err) {
      if (isCancellation(err)) throw err;
      state = { ...state, failedRounds: state.failedRounds + 1 };
      return;
    }
    for (const reward of payoutsDue(policy, reached, state.paid)) {
      try {
        await activities.payReferralMilestone({ refereeId: input.refereeId, reward });
      } catch (err) {
        if (isCancellation(err)) throw err;
        state = { ...state, failedRounds: state.failedRounds + 1 };
        return;
      }
      state = { ...state, paid: [...state.paid, reward.milestone] };
    }
    state = { ...state, failedRounds: 0 };
  }
}
