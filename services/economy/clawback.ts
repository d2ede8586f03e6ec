import type { DataSource, EntityManager } from 'typeorm';
import { GiftReceipts, type ReversedReceipt } from '../../db/repositories/gift-receipts';
import { Ledger } from '../../db/repositories/ledger';
import { receiptsFundedByPurchase } from '../../domain/economy/clawback';
import { AppError, ErrorCode } from '../../domain/errors';
import type { Logger } from '../../platform/logging';

export type { ReversedReceipt, ReversalReason } from '../../db/repositories/gift-receipts';

/**
 * Told after a reversal commits (rankings subtract the gifts). Called at most once per reversal,
 * after the commit; a failure is logged and swallowed (the money is already right, and rankings
 * can be rebuilt from `gift_receipts`). Each receipt carries its id, so a listener can dedupe.
 */
export interface ReversalListener {
  onReversed(receipts: readonly ReversedReceipt[]): Promise<void>;
}

export interface PurchaseClawback {
  /** The buyer. */
  userId: string;
  /** The voided purchase's coins. */
  coins: number;
  /** When the purchase was credited: gifts sent since may have been paid with its coins. */
  purchasedAt: Date | string;
  /** The clawback's ledger key (for example `void:<orderId>`); a replay changes nothing. */
  idempotencyKey: string;
  metadata?: Record<string, unknown>;
}

export interface PurchaseClawbackResult {
  /** False when this key had been clawed back before: nothing changed this time. */
  applied: boolean;
  /** The buyer's gifts reversed by this clawback (on a replay, the ones the first call reversed). */
  reversed: ReversedReceipt[];
  /** Coins refunded to the buyer by those reversals, before the clawback took them back. */
  refundedCoins: number;
  /** Coins debited from the buyer's balance, and the rest recorded as owed. */
  debited: number;
  owed: number;
}

/**
 * Takes back a voided purchase's coins, reversing the buyer's gifts still in their hold first.
 * The refunds land before the clawback, so the clawback takes them back from the balance; what
 * the balance still lacks becomes coins owed (`Ledger.clawbackCoins`), never a negative balance.
 */
export class GiftClawbacks {
  private readonly ledger: Ledger;
  private readonly receipts: GiftReceipts;

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: { listener?: ReversalListener; logger?: Logger } = {},
  ) {
    this.ledger = new Ledger(dataSource);
    this.receipts = new GiftReceipts(dataSource, this.ledger);
  }

  /**
   * In its own transaction, telling the listener after the commit. With `tx` it runs inside the
   * caller's transaction (the voided purchase's own bookkeeping commits with it), and the caller
   * calls `notify(result.reversed)` after its commit when `result.applied`.
   */
  async clawbackPurchase(input: PurchaseClawback, tx?: EntityManager): Promise<PurchaseClawbackResult> {
    if (!Number.isSafeInteger(input.coins) || input.coins <= 0) throw new AppError(ErrorCode.ValidationFailed, 'a clawback is a positive number of coins');
    const purchasedAt = new Date(input.purchasedAt);
    if (Number.isNaN(purchasedAt.getTime())) throw new AppError(ErrorCode.ValidationFailed, 'purchasedAt is not an instant');

    if (tx) return this.clawbackInTransaction(input, purchasedAt, tx);
    const result = await this.dataSource.transaction((own) => this.clawbackInTransaction(input, purchasedAt, own));
    if (result.applied) await this.notify(result.reversed);
    return result;
  }

  private async clawbackInTransaction(input: PurchaseClawback, purchasedAt: Date, tx: EntityManager): Promise<PurchaseClawbackResult> {
    // Two deliveries of the same void serialize here; the second finds the key posted.
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`clawback:${input.idempotencyKey}`]);
    const prior = await this.priorClawback(tx, input.idempotencyKey);
    if (prior) return prior;

    const open = await this.receipts.lockOpenSentSince(tx, input.userId, purchasedAt);
    const funded = receiptsFundedByPurchase(open.map((r) => ({ ...r, createdAt: r.createdAt.getTime() })), input.coins);
    const reversed = await this.receipts.reverseReceipts(tx, funded.map((r) => r.id), 'clawback');
    const clawed = await this.ledger.clawbackCoins(
      {
        userId: input.userId,
        amount: input.coins,
        idempotencyKey: input.idempotencyKey,
        metadata: { ...input.metadata, purchasedAt: purchasedAt.toISOString(), reversedReceiptIds: reversed.map((r) => r.id) },
      },
      tx,
    );
    return {
      applied: true,
      reversed,
      refundedCoins: reversed.reduce((sum, r) => sum + r.coins, 0),
      debited: clawed.debited,
      owed: clawed.owed,
    };
  }

  /**
   * Reverses receipts a review rejected (or any other staff decision), refunding their senders,
   * in its own transaction; `reverseReceipts` on GiftReceipts is the same inside a caller's.
   */
  async reverseForReview(receiptIds: readonly (string | number)[]): Promise<ReversedReceipt[]> {
    const reversed = await this.dataSource.transaction((tx) => this.receipts.reverseReceipts(tx, receiptIds, 'review'));
    await this.notify(reversed);
    return reversed;
  }

  /** For callers that reversed receipts inside their own transaction: tell the listener after the commit. */
  async notify(reversed: readonly ReversedReceipt[]): Promise<void> {
    if (!reversed.length || !this.options.listener) return;
    try {
      await this.options.listener.onReversed(reversed);
    } catch (err) {
      this.options.logger?.warn({ err, receipts: reversed.length }, 'reversal listener failed; rankings need a rebuild for these receipts');
    }
  }

  private async priorClawback(tx: EntityManager, key: string): Promise<PurchaseClawbackResult | null> {
    const rows: { idempotency_key: string; amount: string; metadata: { reversedReceiptIds?: string[] } }[] = await tx.query(
      `SELECT idempotency_key, amount, metadata FROM ledger_entries WHERE idempotency_key IN ($1, $2)`,
      [key, `${key}:owed`],
    );
    if (!rows.length) return null;
    const debit = rows.find((r) => r.idempotency_key === key);
    const owed = rows.find((r) => r.idempotency_key !== key);
    const reversed = await this.receipts.findReversed(tx, rows[0]?.metadata?.reversedReceiptIds ?? []);
    return {
      applied: false,
      reversed,
      refundedCoins: reversed.reduce((sum, r) => sum + r.coins, 0),
      debited: debit ? -Number(debit.amount) : 0,
      owed: owed ? Number(owed.amount) : 0,
    };
  }
}
