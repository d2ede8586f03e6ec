import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import type { CpActivities } from '../../activities/cp';
import { summarizeCpProposal, type CpRefundedState } from '../../domain/cp/rules';
import { ErrorCode } from '../../domain/errors';
import { STANDARD_ACTIVITY_OPTIONS } from '../activity-options';
import {
  cpAcceptUpdate,
  cpCancelSignal,
  cpDeclineUpdate,
  cpProposalStatusQuery,
  cpWithdrawUpdate,
  type CpProposalInput,
  type CpProposalOutcome,
  type CpProposalStatus,
} from './definitions';

const activities = proxyActivities<CpActivities>(STANDARD_ACTIVITY_OPTIONS);

type Decision = { kind: 'accept' } | { kind: 'decline' } | { kind: 'withdraw' } | { kind: 'cancel'; reason: string } | { kind: 'expire' };

const REFUNDED_STATE: Record<Exclude<Decision['kind'], 'accept'>, CpRefundedState> = {
  decline: 'declined',
  withdraw: 'withdrawn',
  cancel: 'cancelled',
  expire: 'expired',
};

/** Between failed rounds of an activity (each round is its 4 attempts): 1 min, doubling, at most 1 h. */
function roundWaitMs(round: number): number {
  return Math.min(60_000 * 2 ** (round - 1), 3_600_000);
}

/**
 * One flow per proposal (`cp-proposal:<proposalId>`), started once the escrow committed: it
 * waits for the addressee's answer (update `accept` or `decline`), the proposer's `withdraw`, a
 * `cancel` signal (a party was paired elsewhere), or the expiry. Then, once:
 *  - accepted: the pair forms and the escrowed coins become a gift (one activity, one
 *    transaction); if the pair can't form (PARTNER_TAKEN, a block, a cooldown), the escrow is
 *    refunded instead and the proposal is cancelled with that reason;
 *  - otherwise: the escrow is refunded.
 * Money steps are retried until they succeed (PostgreSQL down is waited out); each is idempotent
 * by its ledger key, so a retry after a crash changes nothing. The first answer wins: the
 * validators refuse a different one before anything reaches history.
 */
export async function cpProposalWorkflow(input: CpProposalInput): Promise<CpProposalOutcome> {
  let decision: Decision | null = null;
  const status: CpProposalStatus = { state: 'pending', expiresAt: input.expiresAt, outcome: null, failedRounds: 0 };
  const describe = (reason?: string | null) =>
    setCurrentDetails(summarizeCpProposal({ state: status.state, coins: input.coins, ringGiftId: input.ringGiftId, expiresAt: input.expiresAt, reason }));
  describe();

  const refuse = (code: ErrorCode, message: string) => ApplicationFailure.create({ type: code, message, nonRetryable: true });
  /** A request may join the decision already taken if it is the same one; any other is too late. */
  const open = (kind: Decision['kind']) => {
    if (decision && decision.kind !== kind) throw refuse(ErrorCode.CpProposalClosed, 'the proposal was already answered or closed');
  };
  const answered = async () => {
    await condition(() => status.outcome !== null);
    return status.outcome!;
  };

  setHandler(cpProposalStatusQuery, () => status);
  setHandler(
    cpAcceptUpdate,
    async () => {
      decision ??= { kind: 'accept' };
      const outcome = await answered();
      if (outcome.state !== 'accepted') throw refuse((outcome.reason as ErrorCode | null) ?? ErrorCode.CpProposalClosed, 'the pair could not be formed; the ring was refunded');
      return outcome;
    },
    {
      validator: ({ userId }) => {
        if (userId !== input.addresseeId) throw refuse(ErrorCode.Forbidden, 'only the person proposed to may accept');
        open('accept');
      },
    },
  );
  setHandler(
    cpDeclineUpdate,
    async () => {
      decision ??= { kind: 'decline' };
      return answered();
    },
    {
      validator: ({ userId }) => {
        if (userId !== input.addresseeId) throw refuse(ErrorCode.Forbidden, 'only the person proposed to may decline');
        open('decline');
      },
    },
  );
  setHandler(
    cpWithdrawUpdate,
    async () => {
      decision ??= { kind: 'withdraw' };
      return answered();
    },
    {
      validator: ({ userId }) => {
        if (userId !== input.proposerId) throw refuse(ErrorCode.Forbidden, 'only the proposer may withdraw');
        open('withdraw');
      },
    },
  );
  setHandler(cpCancelSignal, ({ reason }) => {
    decision ??= { kind: 'cancel', reason };
  });

  // The addressee hears of it; best effort (the proposal stands without the notice).
  await activities.notifyProposal({ proposalId: input.proposalId }).catch((err: unknown) => {
    if (isCancellation(err)) throw err;
    log.warn('the proposal notice failed', { error: String(err) });
  });

  const waitMs = Math.max(1, Date.parse(input.expiresAt) - Date.now());
  if (!(await condition(() => decision !== null, waitMs))) decision = { kind: 'expire' };
  // Set by the handlers (closures), which the compiler does not follow.
  const taken = decision as Decision;

  if (taken.kind === 'accept') {
    status.state = 'accepting';
    describe();
    const accepted = await untilDone(() => activities.acceptProposal({ proposalId: input.proposalId }));
    if ('refused' in accepted) {
      status.outcome = await refund('cancelled', accepted.refused);
    } else {
      status.outcome = { state: 'accepted', pairId: accepted.pairId, sendId: accepted.sendId, formedAt: accepted.formedAt };
      if (accepted.doomedProposalIds.length > 0) {
        // Their flows refund them; a lost signal is sent again by the worker's sweep.
        await activities.cancelProposals({ proposalIds: accepted.doomedProposalIds, reason: ErrorCode.PartnerTaken }).catch((err: unknown) => {
          if (isCancellation(err)) throw err;
          log.warn('cancelling proposals a new pair made moot failed; the sweep will', { error: String(err) });
        });
      }
    }
  } else {
    status.outcome = await refund(REFUNDED_STATE[taken.kind], taken.kind === 'cancel' ? taken.reason : null);
  }
  status.state = status.outcome.state;
  describe(status.outcome.state === 'accepted' ? null : status.outcome.reason);

  await activities.notifyAnswer({ proposalId: input.proposalId }).catch((err: unknown) => {
    if (isCancellation(err)) throw err;
    log.warn('the answer notice failed', { error: String(err) });
  });
  await condition(allHandlersFinished);
  return status.outcome;

  async function refund(state: CpRefundedState, reason: string | null): Promise<CpProposalOutcome> {
    status.state = 'refunding';
    describe(reason);
    const refunded = await untilDone(() => activities.refundProposal({ proposalId: input.proposalId, state, reason }));
    if ('refused' in refunded) throw ApplicationFailure.create({ type: refunded.refused, message: 'the escrow could not be refunded', nonRetryable: true });
    // A proposal refunded before (a retry) keeps the state it was closed with.
    return { state: refunded.state, reason: refunded.state === state ? reason : null, refundEntryId: refunded.refundEntryId };
  }

  /** Runs a step until it succeeds or is refused (a non-retryable failure with a code); outages are waited out. */
  async function untilDone<T>(step: () => Promise<T>): Promise<T | { refused: string }> {
    for (let round = 1; ; round++) {
      try {
        return await step();
      } catch (err) {
        if (isCancellation(err)) throw err;
        const cause = err instanceof ActivityFailure ? err.cause : err;
        if (cause instanceof ApplicationFailure && cause.nonRetryable && cause.type) return { refused: cause.type };
        status.failedRounds += 1;
        await sleep(roundWaitMs(round));
      }
    }
  }
}
