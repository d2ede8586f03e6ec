import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { RankingBoards } from '../../db/live/ranking-boards';
import { CpRecords, type AcceptedProposal } from '../../db/repositories/cp';
import type { CpRefundedState } from '../../domain/cp/rules';
import type { UserEventPublisher } from '../../platform/events/publisher';
import { CpRankings } from '../../services/cp/cp-rankings';
import { CpProposalFlows } from '../../services/cp/proposal-flows';
import { InboxNotifier, type Notifier } from '../../services/notifications/notifier';
import { asActivity } from '../failures';

/** A ring given when a pair formed, as gift rankings and progress events see a gift (it has no room). */
export interface RingGift {
  sendId: string;
  receiptId: string;
  senderId: string;
  receiverId: string;
  giftId: string;
  coins: number;
  diamonds: number;
  at: Date;
}

export interface CpActivityDeps {
  dataSource: DataSource;
  /** The weekly CP board (the ring counts on it); without Redis the next read rebuilds it. */
  redis?: Redis;
  /** Signals to other proposals' flows (cancel); without it the worker's sweep sends them. */
  temporal?: Client;
  /** The realtime side of notifications (the default notifier's `notification.created` event). */
  events?: UserEventPublisher;
  /** How CP answers reach users; default: the in-app list and socket event. */
  notifier?: Notifier;
  /** Gift settings the ring's receipt follows, and the break-up cooldown checked at accept. */
  cp?: { holdMs: number; cooldownDays: number; taskQueue?: string };
  /** Told of the ring after a pair formed (gift rankings, progress); after the commit, best effort. */
  ringGiven?: (ring: RingGift) => Promise<void> | void;
  /** Fault injection for the crash test: exit the process right after an accept or refund commits. */
  crashAfterCpCommit?: boolean;
}

export interface AcceptedForFlow {
  pairId: string;
  sendId: string;
  formedAt: string;
  doomedProposalIds: string[];
}

export interface RefundedForFlow {
  state: CpRefundedState;
  refundEntryId: string;
  applied: boolean;
}

export type CpActivities = ReturnType<typeof createCpActivities>;

const DEFAULT_HOLD_MS = 72 * 3_600_000;
const DEFAULT_COOLDOWN_DAYS = 7;

export function createCpActivities(deps: CpActivityDeps) {
  const { dataSource } = deps;
  const records = new CpRecords(dataSource);
  const notifier = deps.notifier ?? new InboxNotifier(dataSource, deps.events);
  const rankings = deps.redis ? new CpRankings(new RankingBoards(deps.redis), records) : null;
  const flows = deps.temporal ? new CpProposalFlows(deps.temporal, deps.cp?.taskQueue ?? 'unused') : null;
  const crash = () => {
    if (deps.crashAfterCpCommit) process.kill(process.pid, 'SIGKILL');
  };

  /** After an accept commits: the ring on the rankings (weekly CP board, gift boards); never fails the step. */
  async function afterAccept(accepted: AcceptedProposal): Promise<void> {
    await rankings?.record([{ pairId: accepted.pairId, coins: accepted.coins, at: accepted.formedAt }]).catch(() => undefined);
    try {
      await deps.ringGiven?.({
        sendId: accepted.sendId,
        receiptId: accepted.receiptId,
        senderId: accepted.proposerId,
        receiverId: accepted.addresseeId,
        giftId: accepted.ringGiftId,
        coins: accepted.coins,
        diamonds: accepted.diamonds,
        at: accepted.formedAt,
      });
    } catch {
      // Rankings rebuild from PostgreSQL; progress listeners have their own repair.
    }
  }

  return {
    /** The addressee's `cp_proposal` notification, once per proposal. */
    async notifyProposal(input: { proposalId: string }): Promise<void> {
      return asActivity(async () => {
        const p = await records.proposal(input.proposalId);
        if (!p) return;
        await notifier.notify({
          userId: p.addresseeId,
          kind: 'cp_proposal',
          title: 'Someone proposed to you',
          body: 'Accept the ring to become CP partners, or decline it.',
          data: { proposalId: p.id, proposerId: p.proposerId, ringGiftId: p.ringGiftId, coins: p.coins, expiresAt: p.expiresAt.toISOString() },
          idempotencyKey: `cp:${p.id}:proposed`,
        });
      });
    },

    /**
     * Forms the pair and turns the escrow into a gift (CpRecords.accept: one transaction,
     * idempotent). Refusals (PARTNER_TAKEN, USER_BLOCKED, CP_COOLDOWN, CP_PROPOSAL_CLOSED) are
     * non-retryable failures with their code; the flow then refunds.
     */
    async acceptProposal(input: { proposalId: string }): Promise<AcceptedForFlow> {
      return asActivity(async () => {
        const accepted = await records.accept({
          proposalId: input.proposalId,
          holdMs: deps.cp?.holdMs ?? DEFAULT_HOLD_MS,
          cooldownDays: deps.cp?.cooldownDays ?? DEFAULT_COOLDOWN_DAYS,
        });
        crash();
        if (accepted.applied) await afterAccept(accepted);
        return { pairId: accepted.pairId, sendId: accepted.sendId, formedAt: accepted.formedAt.toISOString(), doomedProposalIds: accepted.doomedProposalIds };
      });
    },

    /** Closes the proposal and refunds its escrow, exactly once (CpRecords.refund). */
    async refundProposal(input: { proposalId: string; state: CpRefundedState; reason: string | null }): Promise<RefundedForFlow> {
      return asActivity(async () => {
        const refunded = await records.refund(input);
        crash();
        return { state: refunded.state, refundEntryId: refunded.refundEntryId, applied: refunded.applied };
      });
    },

    /** Signals the flows of proposals a new pair made moot; those that fail are left to the worker's sweep. */
    async cancelProposals(input: { proposalIds: string[]; reason: string }): Promise<{ signalled: number }> {
      if (!flows) return { signalled: 0 };
      let signalled = 0;
      for (const id of input.proposalIds) {
        if (await flows.cancel(id, input.reason).catch(() => false)) signalled += 1;
      }
      return { signalled };
    },

    /** Both parties' `cp_answer` notification, once per proposal and user. */
    async notifyAnswer(input: { proposalId: string }): Promise<void> {
      return asActivity(async () => {
        const p = await records.proposal(input.proposalId);
        if (!p || p.state === 'pending') return;
        const text: Record<Exclude<typeof p.state, 'pending'>, string> = {
          accepted: 'You are now CP partners.',
          declined: 'The proposal was declined; the ring was refunded.',
          expired: 'The proposal expired unanswered; the ring was refunded.',
          withdrawn: 'The proposal was withdrawn; the ring was refunded.',
          cancelled: 'The proposal could not go ahead; the ring was refunded.',
        };
        for (const userId of [p.proposerId, p.addresseeId]) {
          await notifier.notify({
            userId,
            kind: 'cp_answer',
            title: p.state === 'accepted' ? 'CP proposal accepted' : 'CP proposal closed',
            body: text[p.state],
            data: { proposalId: p.id, state: p.state, pairId: p.pairId, reason: p.cancelReason },
            idempotencyKey: `cp:${p.id}:answer:${userId}`,
          });
        }
      });
    },
  };
}
