import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { cooldownEndsAt, cpLedgerKeys, orderedPair, type CpProposalState, type CpRefundedState } from '../../domain/cp/rules';
import { offerTo, type CatalogGift } from '../../domain/economy/gifts';
import { AppError, ErrorCode } from '../../domain/errors';
import { Ledger } from './ledger';
import { cursorTimestamp, decodeCursor, pageLimit, toPage, type Page } from './pagination';
import { isPgError, PG_UNIQUE_VIOLATION } from './pg-errors';

export interface CpProposalRecord {
  id: string;
  proposerId: string;
  addresseeId: string;
  ringGiftId: string;
  coins: number;
  diamonds: number;
  state: CpProposalState;
  cancelReason: string | null;
  pairId: string | null;
  sendId: string | null;
  createdAt: Date;
  expiresAt: Date;
  answeredAt: Date | null;
  flowStartedAt: Date | null;
}

export interface CpPairRecord {
  id: string;
  userA: string;
  userB: string;
  formedAt: Date;
  endedAt: Date | null;
  endedBy: string | null;
  intimacy: number;
  proposalId: string | null;
}

/** What an accepted proposal left: the pair, and the gift the escrowed coins became. */
export interface AcceptedProposal {
  proposalId: string;
  pairId: string;
  sendId: string;
  receiptId: string;
  proposerId: string;
  addresseeId: string;
  ringGiftId: string;
  coins: number;
  diamonds: number;
  formedAt: Date;
  /** False when an earlier attempt had accepted it (a retry after a crash): nothing changed now. */
  applied: boolean;
  /** Other pending proposals of either partner: they can no longer form a pair and are to be cancelled. */
  doomedProposalIds: string[];
}

export interface RefundedProposal {
  proposalId: string;
  proposerId: string;
  state: CpRefundedState;
  coins: number;
  refundEntryId: string;
  applied: boolean;
}

/** A gift receipt that counted toward a pair's intimacy (and its weekly score). */
export interface CountedGift {
  pairId: string;
  coins: number;
  at: Date;
}

/** A receipt as the intimacy counter reads it. */
export interface PartnerGiftCandidate {
  receiptId: string;
  senderId: string;
  receiverId: string;
  coins: number;
  at: Date;
}

export interface BrokenUp {
  pairId: string;
  partnerId: string;
  endedAt: Date;
  feeCoins: number;
  applied: boolean;
}

interface RawProposal {
  id: string;
  proposer_id: string;
  addressee_id: string;
  ring_gift_id: string;
  coins: string;
  diamonds: string;
  state: CpProposalState;
  cancel_reason: string | null;
  pair_id: string | null;
  send_id: string | null;
  created_at: Date;
  expires_at: Date;
  answered_at: Date | null;
  flow_started_at: Date | null;
  escrow_entry_id: string;
  refund_entry_id: string | null;
}

interface RawPair {
  id: string;
  user_a: string;
  user_b: string;
  formed_at: Date;
  ended_at: Date | null;
  ended_by: string | null;
  intimacy: string;
  proposal_id: string | null;
}

const PROPOSAL_COLUMNS =
  'id, proposer_id, addressee_id, ring_gift_id, coins, diamonds, state, cancel_reason, pair_id, send_id, created_at, expires_at, answered_at, flow_started_at, escrow_entry_id, refund_entry_id';
const PAIR_COLUMNS = 'id, user_a, user_b, formed_at, ended_at, ended_by, intimacy, proposal_id';

/**
 * CP records: proposals with their escrow, pairs, and the gifts counted toward intimacy. Every
 * money effect goes through the Ledger with a key named after the proposal or the pair, in the
 * same transaction as the row it belongs to, so a retried step changes nothing.
 */
export class CpRecords {
  private readonly ledger: Ledger;

  constructor(
    private readonly dataSource: DataSource,
    ledger?: Ledger,
  ) {
    this.ledger = ledger ?? new Ledger(dataSource);
  }

  /**
   * Records a proposal and escrows the ring's price from the proposer, in the caller's
   * transaction. Refuses (changing nothing): an unknown addressee, a block either way, either
   * already paired or in their cooldown, a pending proposal between the two (either direction),
   * coins owed, too few coins.
   */
  async propose(
    tx: EntityManager,
    input: { proposerId: string; addresseeId: string; ring: CatalogGift; ttlMs: number; cooldownDays: number; now: Date },
  ): Promise<CpProposalRecord> {
    const { proposerId, addresseeId, ring, now } = input;
    // The proposer's wallet lock: their proposals apply one at a time.
    const [row] = (await tx.query(
      `SELECT w.coins, w.coins_owed, u.region, u.vip_tier,
              EXISTS (SELECT 1 FROM users WHERE id = $2) AS addressee_exists,
              EXISTS (SELECT 1 FROM user_blocks WHERE (blocker_id = $1 AND blocked_id = $2) OR (blocker_id = $2 AND blocked_id = $1)) AS blocked
         FROM wallets w JOIN users u ON u.id = w.user_id WHERE w.user_id = $1 FOR UPDATE OF w`,
      [proposerId, addresseeId],
    )) as { coins: string; coins_owed: string; region: string | null; vip_tier: number; addressee_exists: boolean; blocked: boolean }[];
    if (!row) throw new AppError(ErrorCode.UserNotFound, 'the proposer has no wallet');
    if (!row.addressee_exists) throw new AppError(ErrorCode.UserNotFound, 'no such user');
    if (row.blocked) throw new AppError(ErrorCode.UserBlocked, 'you cannot propose to a user who blocked you or whom you blocked');
    await this.refuseUnavailable(tx, proposerId, addresseeId, input.cooldownDays, now);
    const pending = (await tx.query(
      `SELECT 1 FROM cp_proposals WHERE state = 'pending'
          AND least(proposer_id, addressee_id) = least($1::uuid, $2::uuid) AND greatest(proposer_id, addressee_id) = greatest($1::uuid, $2::uuid)`,
      [proposerId, addresseeId],
    )) as unknown[];
    if (pending.length > 0) throw new AppError(ErrorCode.CpProposalExists, 'a proposal between you two is already waiting for an answer');
    if (Number(row.coins_owed) > 0) {
      throw new AppError(ErrorCode.CoinsOwed, 'a refunded purchase left coins owed; proposals resume once they are repaid', { coinsOwed: Number(row.coins_owed) });
    }
    const offer = offerTo(ring, { region: row.region, vipTier: row.vip_tier });
    if (Number(row.coins) < offer.unitPriceCoins) {
      throw new AppError(ErrorCode.InsufficientFunds, 'not enough coins for this ring', { needed: offer.unitPriceCoins, balance: Number(row.coins) });
    }
    const id = randomUUID();
    const escrow = await this.ledger.post(
      {
        userId: proposerId,
        currency: 'coins',
        amount: -offer.unitPriceCoins,
        reason: 'cp_escrow',
        idempotencyKey: cpLedgerKeys.escrow(id),
        metadata: { proposalId: id, giftId: ring.id, addresseeId },
      },
      tx,
    );
    try {
      const [inserted] = (await tx.query(
        `INSERT INTO cp_proposals (id, proposer_id, addressee_id, ring_gift_id, coins, diamonds, escrow_entry_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${PROPOSAL_COLUMNS}`,
        [id, proposerId, addresseeId, ring.id, offer.unitPriceCoins, offer.unitDiamonds, escrow.entryId, now, new Date(now.getTime() + input.ttlMs)],
      )) as RawProposal[];
      return proposalOf(inserted!);
    } catch (err) {
      // Two proposals between the same two people at once: the partial unique index keeps one.
      if (isPgError(err, PG_UNIQUE_VIOLATION, 'uq_cp_proposals_pending_between')) {
        throw new AppError(ErrorCode.CpProposalExists, 'a proposal between you two is already waiting for an answer');
      }
      throw err;
    }
  }

  /**
   * Accepts a pending proposal in one transaction: the pair (the partial unique indexes on
   * cp_pairs refuse a second open pair for either user, whatever races), the gift the escrowed
   * coins become (a gift_sends row whose debit is the escrow entry, and a pending receipt for the
   * addressee that settlement credits like any gift), the ring counted toward intimacy, and the
   * proposal marked accepted. A proposal accepted before answers what it left (applied=false).
   */
  async accept(input: { proposalId: string; holdMs: number; cooldownDays: number }): Promise<AcceptedProposal> {
    return this.dataSource.transaction(async (tx) => {
      const p = await this.lockProposal(tx, input.proposalId);
      if (p.state === 'accepted') return this.acceptedView(tx, p, false);
      if (p.state !== 'pending') throw new AppError(ErrorCode.CpProposalClosed, `the proposal is ${p.state}`, { state: p.state });
      const blocked = (await tx.query(
        `SELECT 1 FROM user_blocks WHERE (blocker_id = $1 AND blocked_id = $2) OR (blocker_id = $2 AND blocked_id = $1)`,
        [p.proposer_id, p.addressee_id],
      )) as unknown[];
      if (blocked.length > 0) throw new AppError(ErrorCode.UserBlocked, 'one of you blocked the other');
      const now = new Date();
      await this.refuseCooldown(tx, [p.proposer_id, p.addressee_id], input.cooldownDays, now.getTime());
      const { userA, userB } = orderedPair(p.proposer_id, p.addressee_id);
      let pair: { id: string; formed_at: Date };
      await tx.query('SAVEPOINT cp_pair');
      try {
        [pair] = (await tx.query(
          `INSERT INTO cp_pairs (user_a, user_b, formed_at, intimacy, proposal_id) VALUES ($1, $2, $3, $4, $5) RETURNING id, formed_at`,
          [userA, userB, now, p.coins, p.id],
        )) as [{ id: string; formed_at: Date }];
        await tx.query('RELEASE SAVEPOINT cp_pair');
      } catch (err) {
        await tx.query('ROLLBACK TO SAVEPOINT cp_pair');
        // cp_open_partners (kept by a trigger) holds each paired user once; the foundation's indexes too.
        if (isPgError(err, PG_UNIQUE_VIOLATION, 'cp_open_partners') || isPgError(err, PG_UNIQUE_VIOLATION, 'uq_cp_pairs_open')) {
          throw new AppError(ErrorCode.PartnerTaken, 'one of you already has a partner');
        }
        throw err;
      }
      const sendId = randomUUID();
      const [receipt] = (await tx.query(
        `WITH send AS (
           INSERT INTO gift_sends (id, sender_id, room_id, gift_id, quantity, unit_price_coins, unit_diamonds, receiver_count, total_coins, debit_entry_id, created_at)
           VALUES ($1, $2, NULL, $3, 1, $4, $5, 1, $10, $6, $7) RETURNING id)
         INSERT INTO gift_receipts (send_id, sender_id, receiver_id, room_id, coins, diamonds, hold_until, created_at)
         SELECT send.id, $2, $8, NULL, $10, $11, $9, $7 FROM send RETURNING id`,
        [
          sendId, p.proposer_id, p.ring_gift_id, Number(p.coins), Number(p.diamonds), p.escrow_entry_id, now, p.addressee_id,
          new Date(now.getTime() + input.holdMs), p.coins, p.diamonds,
        ],
      )) as [{ id: string }];
      await tx.query(`INSERT INTO cp_intimacy_gifts (receipt_id, pair_id, coins, created_at) VALUES ($1, $2, $3, $4)`, [receipt.id, pair.id, p.coins, now]);
      // TypeORM answers an UPDATE with [rows, count].
      const [[accepted]] = (await tx.query(
        `UPDATE cp_proposals SET state = 'accepted', pair_id = $2, send_id = $3, answered_at = $4 WHERE id = $1 RETURNING ${PROPOSAL_COLUMNS}`,
        [p.id, pair.id, sendId, now],
      )) as [RawProposal[], number];
      return this.acceptedView(tx, accepted!, true);
    });
  }

  /**
   * Closes a proposal without a pair and gives the escrow back (`cp_refund`, through
   * Ledger.creditCoins so a refund also pays down coins owed), in one transaction. Exactly once:
   * a proposal already refunded answers its first refund (applied=false, its recorded state); an
   * accepted one is never refunded.
   */
  async refund(input: { proposalId: string; state: CpRefundedState; reason?: string | null }): Promise<RefundedProposal> {
    return this.dataSource.transaction(async (tx) => {
      const p = await this.lockProposal(tx, input.proposalId);
      if (p.state === 'accepted') throw new AppError(ErrorCode.CpProposalClosed, 'the proposal was accepted: its coins became a gift');
      if (p.refund_entry_id) {
        return { proposalId: p.id, proposerId: p.proposer_id, state: p.state as CpRefundedState, coins: Number(p.coins), refundEntryId: String(p.refund_entry_id), applied: false };
      }
      const credit = await this.ledger.creditCoins(
        {
          userId: p.proposer_id,
          amount: Number(p.coins),
          reason: 'cp_refund',
          idempotencyKey: cpLedgerKeys.refund(p.id),
          metadata: { proposalId: p.id, state: input.state, ...(input.reason ? { reason: input.reason } : {}) },
        },
        tx,
      );
      await tx.query(
        `UPDATE cp_proposals SET state = $2, cancel_reason = $3, refund_entry_id = $4, answered_at = now() WHERE id = $1`,
        [p.id, input.state, input.reason ?? null, credit.entryId],
      );
      return { proposalId: p.id, proposerId: p.proposer_id, state: input.state, coins: Number(p.coins), refundEntryId: credit.entryId, applied: true };
    });
  }

  /**
   * Ends the caller's open pair, charging the fee (when not 0) from the one who ends it in the
   * same transaction. Refused: no open pair (CP_NOT_PAIRED), too few coins for the fee.
   */
  async breakup(tx: EntityManager, input: { userId: string; feeCoins: number; now: Date }): Promise<BrokenUp> {
    const [pair] = (await tx.query(`SELECT ${PAIR_COLUMNS} FROM cp_pairs WHERE ended_at IS NULL AND (user_a = $1 OR user_b = $1) FOR UPDATE`, [input.userId])) as RawPair[];
    if (!pair) throw new AppError(ErrorCode.CpNotPaired, 'you have no partner');
    let feeEntryId: string | null = null;
    if (input.feeCoins > 0) {
      const fee = await this.ledger.post(
        {
          userId: input.userId,
          currency: 'coins',
          amount: -input.feeCoins,
          reason: 'cp_breakup_fee',
          idempotencyKey: cpLedgerKeys.breakupFee(pair.id),
          metadata: { pairId: pair.id },
        },
        tx,
      );
      feeEntryId = fee.entryId;
    }
    await tx.query(`UPDATE cp_pairs SET ended_at = $2, ended_by = $3, breakup_fee_entry_id = $4 WHERE id = $1`, [pair.id, input.now, input.userId, feeEntryId]);
    return { pairId: pair.id, partnerId: pair.user_a === input.userId ? pair.user_b : pair.user_a, endedAt: input.now, feeCoins: input.feeCoins, applied: true };
  }

  async proposal(id: string, manager: EntityManager = this.dataSource.manager): Promise<CpProposalRecord | null> {
    const rows = (await manager.query(`SELECT ${PROPOSAL_COLUMNS} FROM cp_proposals WHERE id = $1`, [id])) as RawProposal[];
    return rows[0] ? proposalOf(rows[0]) : null;
  }

  async markFlowStarted(id: string): Promise<void> {
    await this.dataSource.query(`UPDATE cp_proposals SET flow_started_at = now() WHERE id = $1 AND flow_started_at IS NULL`, [id]);
  }

  /** Pending proposals whose flow was never seen started (a crash between the commit and the start), older than `before`. */
  async unstarted(before: Date, limit: number): Promise<CpProposalRecord[]> {
    const rows = (await this.dataSource.query(
      `SELECT ${PROPOSAL_COLUMNS} FROM cp_proposals WHERE state = 'pending' AND flow_started_at IS NULL AND created_at < $1 ORDER BY created_at LIMIT $2`,
      [before, limit],
    )) as RawProposal[];
    return rows.map(proposalOf);
  }

  /** Pending proposals that can no longer form a pair (either party has an open pair now): to cancel. */
  async doomed(limit: number): Promise<string[]> {
    const rows = (await this.dataSource.query(
      `SELECT p.id FROM cp_proposals p
        WHERE p.state = 'pending' AND EXISTS (
          SELECT 1 FROM cp_pairs c WHERE c.ended_at IS NULL AND (c.user_a IN (p.proposer_id, p.addressee_id) OR c.user_b IN (p.proposer_id, p.addressee_id)))
        ORDER BY p.created_at LIMIT $1`,
      [limit],
    )) as { id: string }[];
    return rows.map((r) => r.id);
  }

  async openPair(userId: string, manager: EntityManager = this.dataSource.manager): Promise<CpPairRecord | null> {
    const rows = (await manager.query(`SELECT ${PAIR_COLUMNS} FROM cp_pairs WHERE ended_at IS NULL AND (user_a = $1 OR user_b = $1)`, [userId])) as RawPair[];
    return rows[0] ? pairOf(rows[0]) : null;
  }

  async pairs(ids: readonly string[]): Promise<Map<string, CpPairRecord>> {
    if (ids.length === 0) return new Map();
    const rows = (await this.dataSource.query(`SELECT ${PAIR_COLUMNS} FROM cp_pairs WHERE id = ANY($1::uuid[])`, [[...new Set(ids)]])) as RawPair[];
    return new Map(rows.map((r) => [r.id, pairOf(r)]));
  }

  /** When the user may pair again after their last break-up (null: now). */
  async cooldownUntil(userId: string, cooldownDays: number, nowMs: number): Promise<Date | null> {
    const [row] = (await this.dataSource.query(
      `SELECT max(ended_at) AS ended FROM cp_pairs WHERE (user_a = $1 OR user_b = $1) AND ended_at IS NOT NULL`,
      [userId],
    )) as { ended: Date | null }[];
    return cooldownEndsAt(row?.ended ?? null, cooldownDays, nowMs);
  }

  /** Pending proposals the user made (`out`) or received (`in`), newest first, cursor-paginated. */
  async pending(userId: string, direction: 'in' | 'out', page: { cursor?: string; limit: number }): Promise<Page<CpProposalRecord>> {
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, ['timestamp', 'uuid']);
    const column = direction === 'in' ? 'addressee_id' : 'proposer_id';
    const rows = (await this.dataSource.query(
      `SELECT ${PROPOSAL_COLUMNS}, ${cursorTimestamp('created_at')} AS created_key FROM cp_proposals
        WHERE ${column} = $1 AND state = 'pending' ${after ? 'AND (created_at, id) < ($3::timestamptz, $4::uuid)' : ''}
        ORDER BY created_at DESC, id DESC LIMIT $2`,
      after ? [userId, limit + 1, after[0], after[1]] : [userId, limit + 1],
    )) as (RawProposal & { created_key: string })[];
    return toPage(rows, limit, (r) => [r.created_key, r.id], proposalOf);
  }

  /**
   * Counts gifts between partners toward their pair's intimacy, each receipt once
   * (cp_intimacy_gifts is keyed by receipt: a second call with the same receipt adds nothing).
   * Only receipts given while the two were paired count. Returns what was newly counted.
   */
  async countPartnerGifts(receipts: readonly PartnerGiftCandidate[]): Promise<CountedGift[]> {
    if (receipts.length === 0) return [];
    const rows = (await this.dataSource.query(
      `WITH input AS (
         SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::uuid[], $4::bigint[], $5::timestamptz[]) AS t(receipt_id, sender_id, receiver_id, coins, at)),
       matched AS (
         SELECT i.receipt_id, p.id AS pair_id, i.coins, i.at FROM input i
           JOIN cp_pairs p ON p.user_a = least(i.sender_id, i.receiver_id) AND p.user_b = greatest(i.sender_id, i.receiver_id)
            AND p.formed_at <= i.at AND (p.ended_at IS NULL OR p.ended_at > i.at)
          WHERE i.sender_id <> i.receiver_id AND i.coins > 0),
       counted AS (
         INSERT INTO cp_intimacy_gifts (receipt_id, pair_id, coins, created_at)
         SELECT receipt_id, pair_id, coins, at FROM matched ORDER BY receipt_id
         ON CONFLICT (receipt_id) DO NOTHING
         RETURNING pair_id, coins, created_at),
       raised AS (
         UPDATE cp_pairs p SET intimacy = p.intimacy + s.coins
           FROM (SELECT pair_id, sum(coins) AS coins FROM counted GROUP BY pair_id) s WHERE p.id = s.pair_id)
       SELECT pair_id, coins, created_at FROM counted`,
      [
        receipts.map((r) => r.receiptId),
        receipts.map((r) => r.senderId),
        receipts.map((r) => r.receiverId),
        receipts.map((r) => r.coins),
        receipts.map((r) => r.at),
      ],
    )) as { pair_id: string; coins: string; created_at: Date }[];
    return rows.map((r) => ({ pairId: r.pair_id, coins: Number(r.coins), at: r.created_at }));
  }

  /**
   * Receipts between partners given while paired since `since` and not yet counted (the
   * listener's event was lost: the process died after the gift's commit): what the repair counts.
   */
  async uncountedPartnerGifts(since: Date, limit: number): Promise<PartnerGiftCandidate[]> {
    const rows = (await this.dataSource.query(
      `SELECT r.id, r.sender_id, r.receiver_id, r.coins, r.created_at FROM gift_receipts r
         JOIN cp_pairs p ON p.user_a = least(r.sender_id, r.receiver_id) AND p.user_b = greatest(r.sender_id, r.receiver_id)
          AND p.formed_at <= r.created_at AND (p.ended_at IS NULL OR p.ended_at > r.created_at)
        WHERE r.created_at >= $1 AND r.state <> 'reversed'
          AND NOT EXISTS (SELECT 1 FROM cp_intimacy_gifts c WHERE c.receipt_id = r.id)
        ORDER BY r.id LIMIT $2`,
      [since, limit],
    )) as { id: string; sender_id: string; receiver_id: string; coins: string; created_at: Date }[];
    return rows.map((r) => ({ receiptId: String(r.id), senderId: r.sender_id, receiverId: r.receiver_id, coins: Number(r.coins), at: r.created_at }));
  }

  /**
   * The weekly CP board as PostgreSQL has it: per pair, the coins of gift receipts between the
   * two given while paired within [start, end), reversed receipts left out.
   */
  async weeklyTotals(start: Date, end: Date): Promise<[pairId: string, coins: number][]> {
    const rows = (await this.dataSource.query(
      `SELECT p.id AS member, sum(r.coins) AS score FROM gift_receipts r
         JOIN cp_pairs p ON p.user_a = least(r.sender_id, r.receiver_id) AND p.user_b = greatest(r.sender_id, r.receiver_id)
          AND p.formed_at <= r.created_at AND (p.ended_at IS NULL OR p.ended_at > r.created_at)
        WHERE r.created_at >= $1 AND r.created_at < $2 AND r.state <> 'reversed'
        GROUP BY p.id`,
      [start, end],
    )) as { member: string; score: string }[];
    return rows.map((r): [string, number] => [r.member, Number(r.score)]);
  }

  private async lockProposal(tx: EntityManager, id: string): Promise<RawProposal> {
    const [p] = (await tx.query(`SELECT ${PROPOSAL_COLUMNS} FROM cp_proposals WHERE id = $1 FOR UPDATE`, [id])) as RawProposal[];
    if (!p) throw new AppError(ErrorCode.NotFound, 'no such proposal');
    return p;
  }

  private async acceptedView(tx: EntityManager, p: RawProposal, applied: boolean): Promise<AcceptedProposal> {
    const [pair] = (await tx.query(`SELECT formed_at FROM cp_pairs WHERE id = $1`, [p.pair_id])) as { formed_at: Date }[];
    const [receipt] = (await tx.query(`SELECT id FROM gift_receipts WHERE send_id = $1`, [p.send_id])) as { id: string }[];
    const doomed = (await tx.query(
      `SELECT id FROM cp_proposals WHERE state = 'pending' AND id <> $1
          AND (proposer_id = ANY($2::uuid[]) OR addressee_id = ANY($2::uuid[])) ORDER BY created_at`,
      [p.id, [p.proposer_id, p.addressee_id]],
    )) as { id: string }[];
    return {
      proposalId: p.id,
      pairId: p.pair_id!,
      sendId: p.send_id!,
      receiptId: String(receipt!.id),
      proposerId: p.proposer_id,
      addresseeId: p.addressee_id,
      ringGiftId: p.ring_gift_id,
      coins: Number(p.coins),
      diamonds: Number(p.diamonds),
      formedAt: pair!.formed_at,
      applied,
      doomedProposalIds: doomed.map((d) => d.id),
    };
  }

  /** Either user paired (CP_ALREADY_PAIRED for the proposer, PARTNER_TAKEN for the other) or in their cooldown. */
  private async refuseUnavailable(tx: EntityManager, proposerId: string, addresseeId: string, cooldownDays: number, now: Date): Promise<void> {
    const open = (await tx.query(
      `SELECT user_a, user_b FROM cp_pairs WHERE ended_at IS NULL AND (user_a = ANY($1::uuid[]) OR user_b = ANY($1::uuid[]))`,
      [[proposerId, addresseeId]],
    )) as { user_a: string; user_b: string }[];
    const paired = new Set(open.flatMap((r) => [r.user_a, r.user_b]));
    if (paired.has(proposerId)) throw new AppError(ErrorCode.CpAlreadyPaired, 'you already have a partner');
    if (paired.has(addresseeId)) throw new AppError(ErrorCode.PartnerTaken, 'they already have a partner');
    await this.refuseCooldown(tx, [proposerId, addresseeId], cooldownDays, now.getTime());
  }

  private async refuseCooldown(tx: EntityManager, userIds: string[], cooldownDays: number, nowMs: number): Promise<void> {
    if (cooldownDays <= 0) return;
    const rows = (await tx.query(
      `SELECT u AS user_id, (SELECT max(ended_at) FROM cp_pairs WHERE (user_a = u OR user_b = u) AND ended_at IS NOT NULL) AS ended
         FROM unnest($1::uuid[]) AS u`,
      [userIds],
    )) as { user_id: string; ended: Date | null }[];
    for (const userId of userIds) {
      const until = cooldownEndsAt(rows.find((r) => r.user_id === userId)?.ended ?? null, cooldownDays, nowMs);
      if (until) {
        throw new AppError(ErrorCode.CpCooldown, `after a break-up, pairing again waits ${cooldownDays} days`, { userId, until: until.toISOString() });
      }
    }
  }
}

function proposalOf(r: RawProposal): CpProposalRecord {
  return {
    id: r.id,
    proposerId: r.proposer_id,
    addresseeId: r.addressee_id,
    ringGiftId: r.ring_gift_id,
    coins: Number(r.coins),
    diamonds: Number(r.diamonds),
    state: r.state,
    cancelReason: r.cancel_reason,
    pairId: r.pair_id,
    sendId: r.send_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    answeredAt: r.answered_at,
    flowStartedAt: r.flow_started_at,
  };
}

function pairOf(r: RawPair): CpPairRecord {
  return {
    id: r.id,
    userA: r.user_a,
    userB: r.user_b,
    formedAt: r.formed_at,
    endedAt: r.ended_at,
    endedBy: r.ended_by,
    intimacy: Number(r.intimacy),
    proposalId: r.proposal_id,
  };
}
