import type { DataSource } from 'typeorm';
import { CpRecords, type CpPairRecord, type CpProposalRecord } from '../../db/repositories/cp';
import { decodeCursor, encodeCursor, type Page } from '../../db/repositories/pagination';
import type { UserDirectory } from '../../db/repositories/users';
import { cpLevel } from '../../domain/cp/levels';
import { CP_DEFAULT_RING_GIFT, isRingGift } from '../../domain/cp/rules';
import { choosePeriod } from '../../domain/economy/ranking-periods';
import { AppError, ErrorCode } from '../../domain/errors';
import type { Logger } from '../../platform/logging';
import type { GiftCatalogReader } from '../gifts/gift-service';
import { fingerprint, type ReplayableRequests, type StoredResponse } from '../idempotency/replayable-requests';
import { CP_RANKING_DEPTH, type CpRankings } from './cp-rankings';
import type { CpAnswer, CpProposalFlows } from './proposal-flows';

export interface CpSettings {
  proposalTtlMs: number;
  breakupFeeCoins: number;
  breakupCooldownDays: number;
}

export interface CpServiceDeps {
  dataSource: DataSource;
  catalog: GiftCatalogReader;
  requests: ReplayableRequests;
  flows: CpProposalFlows;
  rankings: CpRankings;
  users: UserDirectory;
  settings: CpSettings;
  logger?: Pick<Logger, 'warn'>;
  clock?: () => number;
}

/** A proposal as its two parties see it. */
export function proposalView(p: CpProposalRecord) {
  return {
    id: p.id,
    proposerId: p.proposerId,
    addresseeId: p.addresseeId,
    ringGiftId: p.ringGiftId,
    coins: p.coins,
    state: p.state,
    reason: p.cancelReason,
    pairId: p.pairId,
    createdAt: p.createdAt.toISOString(),
    expiresAt: p.expiresAt.toISOString(),
    answeredAt: p.answeredAt ? p.answeredAt.toISOString() : null,
  };
}

/**
 * CP for the API: proposals with escrow (the commit here, the waiting and the answer in the
 * cp-proposal flow), break-ups, the caller's CP state, and the weekly ranking.
 */
export class CpService {
  private readonly records: CpRecords;
  private readonly clock: () => number;

  constructor(private readonly deps: CpServiceDeps) {
    this.records = new CpRecords(deps.dataSource);
    this.clock = deps.clock ?? Date.now;
  }

  /**
   * Proposes with a ring: the escrow and the proposal commit with the Idempotency-Key's record,
   * then the flow starts. A start that fails leaves the proposal to the worker's sweep (which
   * starts flows of proposals with none), so the answer is still 201.
   */
  async propose(input: { proposerId: string; addresseeId: string; ringGiftId?: string; idempotencyKey: string }): Promise<StoredResponse & { replayed: boolean }> {
    const ringGiftId = input.ringGiftId ?? CP_DEFAULT_RING_GIFT;
    const replayable = {
      userId: input.proposerId,
      key: input.idempotencyKey,
      fingerprint: fingerprint('POST /v1/cp/proposals', { toUserId: input.addresseeId, ringGiftId }),
    };
    if (input.addresseeId === input.proposerId) throw new AppError(ErrorCode.CannotTargetSelfUser, 'you cannot propose to yourself');
    const ring = await this.deps.catalog.gift(ringGiftId);
    if (!ring || !ring.enabled || !isRingGift(ring)) {
      const earlier = await this.deps.requests.earlierAnswer(replayable);
      if (earlier) return earlier;
      if (!ring || !ring.enabled) throw new AppError(ErrorCode.GiftNotFound, 'no such gift');
      throw new AppError(ErrorCode.CpRingNotAllowed, 'a proposal takes a gift from the CP category', { category: 'cp' });
    }
    let created: CpProposalRecord | null = null;
    const response = await this.deps.requests.run(replayable, async (tx) => {
      created = await this.records.propose(tx, {
        proposerId: input.proposerId,
        addresseeId: input.addresseeId,
        ring,
        ttlMs: this.deps.settings.proposalTtlMs,
        cooldownDays: this.deps.settings.breakupCooldownDays,
        now: new Date(this.clock()),
      });
      return { status: 201, body: proposalView(created) };
    });
    const id = created ? (created as CpProposalRecord).id : (response.body as { id?: string }).id;
    if (id) await this.ensureFlow(id);
    return response;
  }

  /** The addressee accepts (pair + gift), declines (refund), or the proposer withdraws (refund). */
  async answer(userId: string, proposalId: string, answer: CpAnswer) {
    const p = await this.records.proposal(proposalId);
    if (!p || (p.proposerId !== userId && p.addresseeId !== userId)) throw new AppError(ErrorCode.NotFound, 'no such proposal');
    const answerer = answer === 'withdraw' ? p.proposerId : p.addresseeId;
    if (userId !== answerer) throw new AppError(ErrorCode.Forbidden, answer === 'withdraw' ? 'only the proposer may withdraw' : 'only the person proposed to may answer');
    const repeated = (answer === 'accept' && p.state === 'accepted') || (answer === 'decline' && p.state === 'declined') || (answer === 'withdraw' && p.state === 'withdrawn');
    if (repeated) return proposalView(p);
    if (p.state !== 'pending') throw new AppError(ErrorCode.CpProposalClosed, `the proposal is ${p.state}`, { state: p.state, reason: p.cancelReason });
    if (!p.flowStartedAt) await this.ensureFlow(p.id, true);
    await this.deps.flows.answer(p.id, answer, userId);
    const now = await this.records.proposal(p.id);
    return proposalView(now ?? p);
  }

  /** Ends the caller's pair: the fee from them (if any) and the cooldown for both start now. */
  async breakup(userId: string, idempotencyKey: string): Promise<StoredResponse & { replayed: boolean }> {
    const replayable = { userId, key: idempotencyKey, fingerprint: fingerprint('POST /v1/cp/breakup', {}) };
    return this.deps.requests.run(replayable, async (tx) => {
      const now = new Date(this.clock());
      const ended = await this.records.breakup(tx, { userId, feeCoins: this.deps.settings.breakupFeeCoins, now });
      const cooldownDays = this.deps.settings.breakupCooldownDays;
      return {
        status: 200,
        body: {
          pairId: ended.pairId,
          partnerId: ended.partnerId,
          endedAt: ended.endedAt.toISOString(),
          feeCoins: ended.feeCoins,
          cooldownUntil: cooldownDays > 0 ? new Date(now.getTime() + cooldownDays * 86_400_000).toISOString() : null,
        },
      };
    });
  }

  /** GET /v1/me/cp: the partner, the pair's intimacy and level, the cooldown, and pending proposals both ways (first page). */
  async me(userId: string) {
    const nowMs = this.clock();
    const [pair, cooldownUntil, incoming, outgoing] = await Promise.all([
      this.records.openPair(userId),
      this.records.cooldownUntil(userId, this.deps.settings.breakupCooldownDays, nowMs),
      this.records.pending(userId, 'in', { limit: 20 }),
      this.records.pending(userId, 'out', { limit: 20 }),
    ]);
    let partner: { id: string; displayName: string | null } | null = null;
    if (pair) {
      const partnerId = pair.userA === userId ? pair.userB : pair.userA;
      const names = await this.deps.users.displayNames([partnerId]);
      partner = { id: partnerId, displayName: names.get(partnerId) ?? null };
    }
    return {
      pair: pair && partner ? { id: pair.id, partner, formedAt: pair.formedAt.toISOString(), intimacy: pair.intimacy, level: cpLevel(pair.intimacy) } : null,
      cooldownUntil: pair ? null : cooldownUntil ? cooldownUntil.toISOString() : null,
      proposals: {
        incoming: { items: incoming.items.map(proposalView), nextCursor: incoming.nextCursor },
        outgoing: { items: outgoing.items.map(proposalView), nextCursor: outgoing.nextCursor },
      },
    };
  }

  async proposals(userId: string, direction: 'in' | 'out', page: { cursor?: string; limit: number }): Promise<Page<ReturnType<typeof proposalView>>> {
    const found = await this.records.pending(userId, direction, page);
    return { items: found.items.map(proposalView), nextCursor: found.nextCursor };
  }

  /** The weekly CP ranking: up to CP_RANKING_DEPTH places, `limit` per page; the cursor is the next rank's offset. */
  async weeklyRanking(query: { at?: string; limit: number; cursor?: string }) {
    const chosen = choosePeriod('weekly', query.at, this.clock());
    if (!chosen.ok) throw new AppError(ErrorCode.ValidationFailed, 'the request is not valid', [{ path: 'at', message: chosen.problem }]);
    const after = decodeCursor(query.cursor, ['bigint']);
    const offset = after ? Number(after[0]) : 0;
    if (offset >= CP_RANKING_DEPTH) throw new AppError(ErrorCode.ValidationFailed, 'cursor is not valid');
    const period = chosen.period;
    const end = Math.min(offset + query.limit, CP_RANKING_DEPTH);
    const entries = offset >= CP_RANKING_DEPTH ? [] : await this.deps.rankings.top(period, end + 1);
    const shown = entries.slice(offset, end);
    const pairs = await this.records.pairs(shown.map((e) => e.pairId));
    const names = await this.deps.users.displayNames([...pairs.values()].flatMap((p) => [p.userA, p.userB]));
    const who = (id: string) => ({ id, displayName: names.get(id) ?? null });
    const more = entries.length > end && end < CP_RANKING_DEPTH;
    return {
      period: { kind: period.kind, id: period.id, startsAt: new Date(period.startsAt).toISOString(), endsAt: new Date(period.endsAt).toISOString() },
      items: shown.flatMap((e) => {
        const pair: CpPairRecord | undefined = pairs.get(e.pairId);
        if (!pair) return [];
        return [{ rank: e.rank, pairId: e.pairId, coins: e.coins, users: [who(pair.userA), who(pair.userB)], level: cpLevel(pair.intimacy).level, endedAt: pair.endedAt ? pair.endedAt.toISOString() : null }];
      }),
      nextCursor: more ? encodeCursor([String(end)]) : null,
    };
  }

  /** Starts the proposal's flow if it has not been seen started; failures are left to the sweep unless `required`. */
  private async ensureFlow(proposalId: string, required = false): Promise<void> {
    const p = await this.records.proposal(proposalId);
    if (!p || p.flowStartedAt || p.state !== 'pending') return;
    try {
      await this.deps.flows.start(p);
      await this.records.markFlowStarted(p.id);
    } catch (err) {
      if (required) throw err;
      this.deps.logger?.warn({ err, proposalId }, 'starting a cp-proposal flow failed; the worker sweep will start it');
    }
  }
}
