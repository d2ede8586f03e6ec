import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { DailyRewardActivities } from '../../activities/daily-reward';
import {
  decideClaim,
  dailyRewardIdempotencyKey,
  initialDailyRewardState,
  nextReminder,
  summarizeDailyReward,
  type DailyRewardState,
} from '../../domain/daily-reward/cycle';
import { ErrorCode } from '../../domain/errors';
import { STANDARD_ACTIVITY_OPTIONS } from '../activity-options';
import {
  claimDailyRewardUpdate,
  dailyRewardStatusQuery,
  type ClaimResult,
  type DailyRewardInput,
} from './definitions';

const { creditDailyReward, sendDailyRewardReminder } = proxyActivities<DailyRewardActivities>(STANDARD_ACTIVITY_OPTIONS);

/**
 * One entity workflow per user (`daily-reward:<userId>`), started by the first claim through
 * Update-with-Start. It owns the streak; the ledger owns the coins. Runs until it continues as new.
 */
export async function dailyRewardWorkflow(input: DailyRewardInput): Promise<void> {
  const { policy } = input;
  let state: DailyRewardState = input.state ?? initialDailyRewardState(input.userId, input.timeZone);
  let claimsThisRun = 0;

  const publishSummary = () => upsertMemo({ summary: summarizeDailyReward(state) });
  publishSummary();

  setHandler(dailyRewardStatusQuery, () => ({ state, policy }));

  setHandler(
    claimDailyRewardUpdate,
    async (): Promise<ClaimResult> => {
      // Decided and applied before the first await, so a concurrent duplicate sees it.
      const decision = decideClaim(state, Date.now(), policy);
      if (!decision.ok) throw alreadyClaimed(decision.date, decision.nextClaimAt);
      const before = state;
      state = decision.next;
      try {
        const credit = await creditDailyReward({
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
      validator: () => {
        const decision = decideClaim(state, Date.now(), policy);
        if (!decision.ok) throw alreadyClaimed(decision.date, decision.nextClaimAt);
      },
    },
  );

  for (;;) {
    const claimsSeen = state.totalClaims;
    const claimed = () => state.totalClaims !== claimsSeen;
    const shouldRestart = () => claimsThisRun >= policy.maxClaimsPerRun || workflowInfo().continueAsNewSuggested;
    const reminder = nextReminder(state, policy);

    if (reminder === null) {
      await condition(() => claimed() || shouldRestart());
    } else if (Date.now() >= reminder.breaksAt) {
      state = { ...state, remindedFor: reminder.forDate }; // too late: nothing left to save
    } else {
      const wait = reminder.at - Date.now();
      const interrupted = wait > 0 && (await condition(() => claimed() || shouldRestart(), wait));
      if (!interrupted && !claimed()) {
        await remind(reminder.forDate, reminder.breaksAt);
      }
    }

    if (shouldRestart()) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof dailyRewardWorkflow>({ ...input, state });
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
