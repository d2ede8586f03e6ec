import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { DailyRewardActivities } from '../../activities/daily-reward';
import {
  applyProfile,
  decideClaim,
  dailyRewardIdempotencyKey,
  initialDailyRewardState,
  nextReminder,
  summarizeDailyReward,
  validatePolicy,
  type DailyRewardPolicy,
  type DailyRewardState,
} from '../../domain/daily-reward/cycle';
import { isValidTimeZone } from '../../domain/calendar';
import { ErrorCode } from '../../domain/errors';
import { STANDARD_ACTIVITY_OPTIONS } from '../activity-options';
import {
  claimDailyRewardUpdate,
  dailyRewardStatusQuery,
  profileChangedSignal,
  type ClaimRequest,
  type ClaimResult,
  type DailyRewardInput,
} from './definitions';

const { creditDailyReward, sendDailyRewardReminder } = proxyActivities<DailyRewardActivities>(STANDARD_ACTIVITY_OPTIONS);
/**
 * The credit runs as a local activity: in the worker that holds the claim's workflow task, with
 * its result recorded as one marker, instead of a task through the server (scheduled, started,
 * completed, then a second workflow task). That halves the server's round trips per claim, and
 * the server is what bounds claims (bench/claims). A worker dying mid-credit means the workflow
 * task times out and another worker runs the credit again; its idempotency key makes that a replay.
 */
const local = proxyLocalActivities<DailyRewardActivities>(STANDARD_ACTIVITY_OPTIONS);
/** Runs recorded before the local credit keep their scheduled activity when they replay. */
const LOCAL_CREDIT_PATCH = 'daily-reward-local-credit';

/**
 * One entity workflow per user (`daily-reward:<userId>`), started by the first claim through
 * Update-with-Start. It owns the streak; the ledger owns the coins. Runs until it continues as new.
 * It follows the profile: each claim brings the user's current zone and the current coin table,
 * and a `profileChanged` signal brings a new zone between claims (so the reminder is re-aimed).
 */
export async function dailyRewardWorkflow(input: DailyRewardInput): Promise<void> {
  let policy = input.policy;
  let state: DailyRewardState = input.state ?? initialDailyRewardState(input.userId, input.timeZone);
  let claimsThisRun = 0;
  /** Bumped when the zone or the table changes, so the wait for the reminder is re-aimed. */
  let settingsRevision = 0;

  const publishSummary = () => upsertMemo({ summary: summarizeDailyReward(state) });
  publishSummary();

  /** Applies what the API sent with a claim or a signal; true when it changed what the flow waits for. */
  const follow = (facts: { timeZone: string; profileVersion?: number | null }, newPolicy?: DailyRewardPolicy): boolean => {
    const zoneBefore = state.timeZone;
    state = applyProfile(state, facts);
    const policyChanged = newPolicy !== undefined && JSON.stringify(newPolicy) !== JSON.stringify(policy);
    if (policyChanged) policy = newPolicy;
    const changed = policyChanged || state.timeZone !== zoneBefore;
    if (changed) settingsRevision += 1;
    return changed;
  };

  setHandler(dailyRewardStatusQuery, () => ({ state, policy }));

  setHandler(profileChangedSignal, (facts) => {
    if (follow(facts)) publishSummary();
  });

  setHandler(
    claimDailyRewardUpdate,
    async (request?: ClaimRequest): Promise<ClaimResult> => {
      if (request) follow(request, request.policy);
      // Decided and applied before the first await, so a concurrent duplicate sees it.
      const decision = decideClaim(state, Date.now(), policy);
      if (!decision.ok) throw alreadyClaimed(decision.date, decision.nextClaimAt);
      const before = state;
      state = decision.next;
      try {
        const credit = await (patched(LOCAL_CREDIT_PATCH) ? local.creditDailyReward : creditDailyReward)({
          userId: state.userId,
          coins: decision.claim.coins,
          idempotencyKey: dailyRewardIdempotencyKey(state.userId, decision.claim.date),
          claim: decision.claim,
        });
        claimsThisRun += 1;
        publishSummary();
        return { ...decision.claim, ledgerEntryId: credit.ledgerEntryId, coinBalance: credit.coinBalance };
      } catch (err) {
        // The day stays claimable; a later claim reuses the same idempotency key, so it credits once.
        state = before;
        throw creditFailed(err);
      }
    },
    {
      // Refusals here leave no trace in the history. The claim is judged in the zone it brings.
      validator: (request?: ClaimRequest) => {
        if (request !== undefined) refuseBadRequest(request);
        const judged = request ? applyProfile(state, request) : state;
        const decision = decideClaim(judged, Date.now(), request?.policy ?? policy);
        if (!decision.ok) throw alreadyClaimed(decision.date, decision.nextClaimAt);
      },
    },
  );

  for (;;) {
    const claimsSeen = state.totalClaims;
    const revisionSeen = settingsRevision;
    const claimed = () => state.totalClaims !== claimsSeen;
    const resettled = () => settingsRevision !== revisionSeen;
    const shouldRestart = () => claimsThisRun >= policy.maxClaimsPerRun || workflowInfo().continueAsNewSuggested;
    const reminder = nextReminder(state, policy);

    if (reminder === null) {
      await condition(() => claimed() || resettled() || shouldRestart());
    } else if (Date.now() >= reminder.breaksAt) {
      state = { ...state, remindedFor: reminder.forDate }; // too late: nothing left to save
    } else {
      const wait = reminder.at - Date.now();
      const interrupted = wait > 0 && (await condition(() => claimed() || resettled() || shouldRestart(), wait));
      if (!interrupted && !claimed() && !resettled()) {
        await remind(reminder.forDate, reminder.breaksAt);
      }
    }

    if (shouldRestart()) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof dailyRewardWorkflow>({ ...input, timeZone: state.timeZone, policy, state });
    }
  }

  async function remind(forDate: string, breaksAt: number): Promise<void> {
    try {
      await sendDailyRewardReminder({
        userId: state.userId,
        forDate,
        streakBreaksAt: new Date(breaksAt).toISOString(),
        idempotencyKey: `daily-reward-reminder:${state.userId}:${forDate}`,
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // A reminder is best effort: never let it break the streak bookkeeping.
    }
    state = { ...state, remindedFor: forDate };
  }
}

/** The API validates both; a bad one here is a caller's bug, refused before it reaches history. */
function refuseBadRequest(request: ClaimRequest): void {
  const problems = [
    ...(isValidTimeZone(request.timeZone) ? [] : ['timeZone is not an IANA time zone']),
    ...validatePolicy(request.policy),
  ];
  if (problems.length) {
    throw ApplicationFailure.create({ type: ErrorCode.ValidationFailed, message: problems.join('; '), nonRetryable: true });
  }
}

/** Updates must fail with an ApplicationFailure; anything else would fail the workflow task instead. */
function creditFailed(err: unknown): ApplicationFailure {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    return ApplicationFailure.create({ type: cause.type ?? ErrorCode.Internal, message: cause.message, nonRetryable: true });
  }
  return ApplicationFailure.create({
    type: ErrorCode.DependencyUnavailable,
    message: 'the reward could not be credited; try again',
    nonRetryable: true,
  });
}

function alreadyClaimed(date: string, nextClaimAt: number): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorCode.AlreadyClaimedToday,
    message: `today's reward (${date}) is already claimed`,
    nonRetryable: true,
    details: [{ date, nextClaimAt: new Date(nextClaimAt).toISOString() }],
  });
}
