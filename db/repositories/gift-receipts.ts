import type { DataSource, EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '../../domain/errors';
import { utcDayBounds, type ReceiverDayTotals, type UtcDay } from '../../domain/economy/settlement';
import { Ledger } from './ledger';
import { LevelTotals } from './level-totals';

export type ReversalReason = 'clawback' | 'review';

/** A receipt as reversed: enough for rankings to subtract it from the right periods and rooms. */
export interface ReversedReceipt {
  id: string;
  sendId: string;
  senderId: string;
  receiverId: string;
  roomId: string;
  coins: number;
  diamonds: number;
  /** When the gift was sent: the ranking periods it counted in. */
  createdAt: Date;
  reason: ReversalReason;
}

/** One receiver's receipts moved to `settled` by one ledger entry (none when they are worth 0 diamonds). */
export interface SettledBatch {
  receiverId: string;
  receiptIds: string[];
  diamonds: number;
  entryId: string | null;
}

export interface OpenReceiptRow {
  id: string;
  sendId: string;
  senderId: string;
  receiverId: string;
  roomId: string;
  coins: number;
  diamonds: number;
  state: 'pending' | 'held';
  createdAt: Date;
}

interface RawReceipt {
  id: string;
  send_id: string;
  sender_id: string;
  receiver_id: string;
  room_id: string;
  coins: string;
  diamonds: string;
  state: 'pending' | 'held';
  created_at: Date;
}

/** Receipts one settlement transaction moves at most (a few thousand row locks, well inside the statement timeout). */
export const SETTLEMENT_BATCH_LIMIT = 5_000;

const RECEIPT_COLUMNS = 'id, send_id, sender_id, receiver_id, room_id, coins, diamonds, state, created_at';

/**
 * The two ways out of a gift's hold: settlement (pending diamonds become wallet balance, one
 * ledger entry per receiver batch) and reversal (the sender's coins come back). Both lock the
 * receipts they move in id order with a plain FOR UPDATE (never SKIP LOCKED: a receipt being
 * reversed must be waited for and then seen reversed, not settled around), and the receipts'
 * forward-only trigger refuses any second exit. Every function takes the caller's transaction so
 * a review decision or a purchase clawback commits with its effects.
 */
export class GiftReceipts {
  private readonly ledger: Ledger;
  private readonly levels = new LevelTotals();

  constructor(dataSource: DataSource, ledger?: Ledger) {
    this.ledger = ledger ?? new Ledger(dataSource);
  }

  /**
   * Settles a receiver's pending receipts of one UTC day whose hold ended by `asOf` (every
   * pending one with `ignoreHold`), with one ledger entry keyed by the batch's lowest receipt id.
   * Held receipts (anti-fraud) are left for review. A retry after a commit finds nothing left to
   * settle, so it changes nothing; the day's totals it returns still show what was settled.
   * At most `limit` receipts per call (oldest first), so a host's record day is several bounded
   * transactions rather than one that locks everything at once.
   */
  async settleReceiverDay(
    tx: EntityManager,
    input: { receiverId: string; day: UtcDay; asOf: Date; ignoreHold?: boolean; limit?: number },
  ): Promise<{ settled: SettledBatch; totals: ReceiverDayTotals }> {
    const { startMs, endMs } = utcDayBounds(input.day);
    const rows: { id: string; diamonds: string }[] = await tx.query(
      `SELECT id, diamonds FROM gift_receipts
        WHERE receiver_id = $1 AND created_at >= $2 AND created_at < $3 AND state = 'pending'
          AND ($4::boolean OR hold_until <= $5)
        ORDER BY id
        LIMIT $6
          FOR UPDATE`,
      [input.receiverId, new Date(startMs), new Date(endMs), input.ignoreHold === true, input.asOf, input.limit ?? SETTLEMENT_BATCH_LIMIT],
    );
    const settled = await this.settleLocked(tx, input.receiverId, rows, input.day, { day: input.day });
    return { settled, totals: await this.dayTotals(tx, input.receiverId, input.day) };
  }

  /**
   * Settles the given open receipts now, whatever their hold or state (pending or held): what a
   * review that releases flagged gifts, or support releasing a hold, calls. One ledger entry per
   * receiver. Receipts already settled or reversed are skipped, so a replay changes nothing.
   */
  async settleReceiptsNow(tx: EntityManager, receiptIds: readonly (string | number)[]): Promise<SettledBatch[]> {
    const ids = receiptIdList(receiptIds);
    if (!ids.length) return [];
    const rows: { id: string; receiver_id: string; diamonds: string }[] = await tx.query(
      `SELECT id, receiver_id, diamonds FROM gift_receipts
        WHERE id = ANY($1::bigint[]) AND state IN ('pending', 'held')
        ORDER BY id
          FOR UPDATE`,
      [ids],
    );
    const byReceiver = new Map<string, { id: string; diamonds: string }[]>();
    for (const row of rows) byReceiver.set(row.receiver_id, [...(byReceiver.get(row.receiver_id) ?? []), row]);
    const batches: SettledBatch[] = [];
    // Wallets are locked in receiver order, the same order any other batch would take them.
    for (const receiverId of [...byReceiver.keys()].sort()) {
      batches.push(await this.settleLocked(tx, receiverId, byReceiver.get(receiverId) ?? [], 'now', { released: true }));
    }
    return batches;
  }

  /** The day's receipts of one receiver, by state. */
  async dayTotals(manager: EntityManager, receiverId: string, day: UtcDay): Promise<ReceiverDayTotals> {
    const { startMs, endMs } = utcDayBounds(day);
    const rows: { state: string; receipts: number; diamonds: string; latest: Date | null }[] = await manager.query(
      `SELECT state, count(*)::int AS receipts, coalesce(sum(diamonds), 0) AS diamonds, max(hold_until) AS latest
         FROM gift_receipts
        WHERE receiver_id = $1 AND created_at >= $2 AND created_at < $3
        GROUP BY state`,
      [receiverId, new Date(startMs), new Date(endMs)],
    );
    const tally = (state: string) => {
      const row = rows.find((r) => r.state === state);
      return { receipts: row?.receipts ?? 0, diamonds: Number(row?.diamonds ?? 0) };
    };
    const pendingRow = rows.find((r) => r.state === 'pending');
    return {
      pending: { ...tally('pending'), latestHoldUntil: pendingRow?.latest ? pendingRow.latest.toISOString() : null },
      held: tally('held'),
      settled: tally('settled'),
      reversed: tally('reversed'),
    };
  }

  /**
   * Reverses open (pending or held) receipts and refunds each one's coins to its sender
   * (`gift_refund:<receiptId>`, through `Ledger.creditCoins`, so a refund also pays down coins
   * owed). Receipts already settled or reversed are skipped: the returned list is exactly what
   * this call reversed, for rankings to subtract after the commit. A reversed gift also leaves
   * the level totals (the sender's coins spent and gifts sent, the receiver's diamonds
   * received): a refunded purchase or a rejected flag must not leave the level it bought. The
   * levels follow the totals down; a medal already awarded stays, and a level reached again is
   * not announced twice.
   */
  async reverseReceipts(tx: EntityManager, receiptIds: readonly (string | number)[], reason: ReversalReason): Promise<ReversedReceipt[]> {
    const ids = receiptIdList(receiptIds);
    if (!ids.length) return [];
    const rows: RawReceipt[] = await tx.query(
      `SELECT ${RECEIPT_COLUMNS} FROM gift_receipts
        WHERE id = ANY($1::bigint[]) AND state IN ('pending', 'held')
        ORDER BY id
          FOR UPDATE`,
      [ids],
    );
    if (!rows.length) return [];
    await tx.query(`UPDATE gift_receipts SET state = 'reversed', reversed_reason = $2, finished_at = now() WHERE id = ANY($1::bigint[])`, [
      rows.map((r) => r.id),
      reason,
    ]);
    const reversed = rows.map((r) => ({ ...toOpenReceipt(r), reason }));
    // Senders' wallets are locked in one order, so two reversals never wait on each other in a cycle.
    const bySender = [...reversed].sort((a, b) => (a.senderId < b.senderId ? -1 : a.senderId > b.senderId ? 1 : 0));
    for (const r of bySender) {
      await this.ledger.creditCoins(
        {
          userId: r.senderId,
          amount: r.coins,
          reason: 'gift_refund',
          idempotencyKey: `gift_refund:${r.id}`,
          metadata: { receiptId: r.id, sendId: r.sendId, reversal: reason },
        },
        tx,
      );
    }
    await this.levels.subtractReceipts(tx, reversed.map((r) => r.id), new Date());
    return reversed.map(({ state: _state, ...rest }) => rest);
  }

  /** A sender's open receipts sent at or after `since`, locked (in id order). */
  async lockOpenSentSince(tx: EntityManager, senderId: string, since: Date): Promise<OpenReceiptRow[]> {
    const rows: RawReceipt[] = await tx.query(
      `SELECT ${RECEIPT_COLUMNS} FROM gift_receipts
        WHERE sender_id = $1 AND state IN ('pending', 'held') AND created_at >= $2
        ORDER BY id
          FOR UPDATE`,
      [senderId, since],
    );
    return rows.map(toOpenReceipt);
  }

  /** Receipts by id, whatever their state (a clawback's replay reports what it reversed). */
  async findReversed(manager: EntityManager, receiptIds: readonly string[]): Promise<ReversedReceipt[]> {
    const ids = receiptIdList(receiptIds);
    if (!ids.length) return [];
    const rows: (Omit<RawReceipt, 'state'> & { reversed_reason: ReversalReason })[] = await manager.query(
      `SELECT ${RECEIPT_COLUMNS}, reversed_reason FROM gift_receipts WHERE id = ANY($1::bigint[]) AND state = 'reversed' ORDER BY id`,
      [ids],
    );
    return rows.map((r) => {
      const { state: _state, ...rest } = toOpenReceipt({ ...r, state: 'pending' });
      return { ...rest, reason: r.reversed_reason };
    });
  }

  /** Moves locked pending/held rows of one receiver to settled with one diamonds entry. */
  private async settleLocked(
    tx: EntityManager,
    receiverId: string,
    rows: readonly { id: string; diamonds: string }[],
    batchName: string,
    metadata: Record<string, unknown>,
  ): Promise<SettledBatch> {
    if (!rows.length) return { receiverId, receiptIds: [], diamonds: 0, entryId: null };
    const receiptIds = rows.map((r) => String(r.id));
    const diamonds = rows.reduce((sum, r) => sum + Number(r.diamonds), 0);
    let entryId: string | null = null;
    // The ledger refuses a zero amount: receipts worth no diamonds settle without an entry.
    if (diamonds > 0) {
      const lowest = receiptIds.reduce((a, b) => (BigInt(a) <= BigInt(b) ? a : b));
      const entry = await this.ledger.post(
        {
          userId: receiverId,
          currency: 'diamonds',
          amount: diamonds,
          reason: 'settlement',
          idempotencyKey: `settlement:${receiverId}:${batchName}:${lowest}`,
          metadata: { ...metadata, receipts: receiptIds.length },
        },
        tx,
      );
      entryId = entry.entryId;
    }
    await tx.query(`UPDATE gift_receipts SET state = 'settled', settled_entry_id = $1, finished_at = now() WHERE id = ANY($2::bigint[])`, [
      entryId,
      receiptIds,
    ]);
    return { receiverId, receiptIds, diamonds, entryId };
  }
}

function toOpenReceipt(r: RawReceipt): OpenReceiptRow {
  return {
    id: String(r.id),
    sendId: r.send_id,
    senderId: r.sender_id,
    receiverId: r.receiver_id,
    roomId: r.room_id,
    coins: Number(r.coins),
    diamonds: Number(r.diamonds),
    state: r.state,
    createdAt: r.created_at,
  };
}

function receiptIdList(ids: readonly (string | number)[]): string[] {
  return [...new Set(ids.map((id) => {
    const s = String(id);
    if (!/^[1-9]\d{0,18}$/.test(s)) throw new AppError(ErrorCode.ValidationFailed, 'a receipt id is a positive integer');
    return s;
  }))];
}
