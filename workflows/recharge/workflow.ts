import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import type { RechargeActivities } from '../../activities/recharge';
import { VERIFY_PATIENCE_MS, isRechargeRefusal, retryRoundWaitMs, type RechargeRefusal } from '../../domain/economy/recharge';
import { ErrorCode } from '../../domain/errors';
import { STANDARD_ACTIVITY_OPTIONS } from '../activity-options';
import { rechargeOutcomeUpdate, rechargeStatusQuery, type RechargeInput, type RechargeOutcome, type RechargeStatus } from './definitions';

/** The spec's policy (1/2/4 s); each attempt is one bounded call to the store (4 s) plus PostgreSQL. */
const activities = proxyActivities<RechargeActivities>({ ...STANDARD_ACTIVITY_OPTIONS, startToCloseTimeout: '15 seconds' });

/**
 * One flow per purchase token (`recharge:<token hash>`): verify the purchase with the store,
 * credit it once, then consume it. A store that is down never loses a purchase: after a failed
 * round of attempts the flow waits (1 min, doubling up to 1 h) and asks again, for up to ~3 days
 * (Google refunds purchases nobody acknowledged by then). Once credited, the consume is retried
 * until it succeeds; the credit stands meanwhile. The `outcome` update answers as soon as the
 * purchase is credited or refused.
 */
export async function rechargeWorkflow(input: RechargeInput): Promise<RechargeOutcome> {
  const status: RechargeStatus = { phase: 'verifying', outcome: null, failedRounds: 0, nextAttemptAt: null, consumed: false };
  const describe = () =>
    setCurrentDetails(
      `recharge ${input.productId}: ${status.outcome?.status === 'refused' ? `refused (${status.outcome.code})` : status.phase}` +
        (status.failedRounds ? `, ${status.failedRounds} failed round(s) at the store` : ''),
    );
  describe();

  setHandler(rechargeStatusQuery, () => status);
  setHandler(rechargeOutcomeUpdate, async () => {
    await condition(() => status.outcome !== null);
    const outcome = status.outcome!;
    if (outcome.status === 'refused') throw ApplicationFailure.create({ type: outcome.code, message: outcome.message, nonRetryable: true });
    return outcome;
  });

  const giveUpAt = Date.now() + VERIFY_PATIENCE_MS;
  const outcome = await decide(giveUpAt);
  status.outcome = outcome;
  describe();

  if (outcome.status === 'credited') {
    status.phase = 'consuming';
    describe();
    await untilDone(() => activities.consumePurchase({ purchaseId: input.purchaseId }), null);
    status.consumed = true;
  }
  status.phase = 'done';
  status.nextAttemptAt = null;
  describe();
  await condition(allHandlersFinished);
  return outcome;

  /** Verify (patiently) then credit: the purchase's outcome. */
  async function decide(deadline: number): Promise<RechargeOutcome> {
    const verified = await untilDone(() => activities.verifyPurchase({ purchaseId: input.purchaseId }), deadline);
    if ('refused' in verified) return verified.refused;
    status.phase = 'crediting';
    describe();
    // PostgreSQL only: a round failing here is an outage of ours, waited out the same way.
    const credit = await untilDone(() => activities.creditRecharge({ purchaseId: input.purchaseId }), null);
    if ('refused' in credit) return credit.refused;
    return {
      status: 'credited',
      orderId: credit.orderId,
      coins: credit.coins,
      bonusCoins: credit.bonusCoins,
      coinBalance: credit.coinBalance,
      ledgerEntryId: credit.ledgerEntryId,
    };
  }

  /**
   * Runs a step until it succeeds or is refused, waiting longer between failed rounds; past
   * `deadline` (when given) the purchase is refused as STORE_UNAVAILABLE.
   */
  async function untilDone<T>(step: () => Promise<T>, deadline: number | null): Promise<T | { refused: RechargeOutcome & { status: 'refused' } }> {
    for (let round = 1; ; round++) {
      try {
        const result = await step();
        status.nextAttemptAt = null;
        return result;
      } catch (err) {
        if (isCancellation(err)) throw err;
        const code = refusalCode(err);
        if (code) return { refused: { status: 'refused', code, message: refusalMessage(err) } };
        status.failedRounds += 1;
        const wait = retryRoundWaitMs(round);
        if (deadline !== null && Date.now() + wait > deadline) {
          await activities.refuseRecharge({ purchaseId: input.purchaseId, code: ErrorCode.StoreUnavailable });
          return { refused: { status: 'refused', code: ErrorCode.StoreUnavailable, message: 'the store could not confirm the purchase in time' } };
        }
        status.phase = status.phase === 'verifying' ? 'waiting-for-store' : status.phase;
        status.nextAttemptAt = new Date(Date.now() + wait).toISOString();
        describe();
        await sleep(wait);
        if (status.phase === 'waiting-for-store') status.phase = 'verifying';
      }
    }
  }
}

function refusalCode(err: unknown): RechargeRefusal | null {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && cause.nonRetryable && isRechargeRefusal(cause.type) ? cause.type : null;
}

function refusalMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof Error ? cause.message : 'refused';
}
