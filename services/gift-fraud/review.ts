import type { DataSource, EntityManager } from 'typeorm';
import { GiftFraudRecords, type FlagStatus, type FraudFlagView, type FlaggedReceiptView, type FraudReviewView } from '../../db/repositories/gift-fraud';
import type { Page } from '../../db/repositories/pagination';
import { AppError, ErrorCode } from '../../domain/errors';
import type { GiftMetrics } from '../../platform/metrics';

/**
 * Reverses gift receipts: marks them reversed with the reason and gives the senders their coins
 * back (ledger reason gift_refund), inside the caller's transaction. The settlement capability
 * owns the real one (`reverseReceipts` in services/economy/clawback.ts).
 */
export interface ReceiptReversal {
  reverse(tx: EntityManager, receiptIds: string[], reason: 'review'): Promise<unknown>;
}

export type ReviewDecision = 'release' | 'reverse';

export interface FlagDetail extends FraudFlagView {
  receipts: FlaggedReceiptView[];
  reviews: FraudReviewView[];
}

/**
 * Staff review of anti-fraud flags. A decision applies to the receipts the flag still holds:
 * release puts them back to pending (the settlement flow settles them once their hold has
 * passed), reverse refunds their senders and the receivers never get the diamonds. The decision,
 * its effect and its audit row commit together; a flag is decided once.
 */
export class GiftFraudReviews {
  private readonly records: GiftFraudRecords;

  constructor(
    private readonly deps: {
      dataSource: DataSource;
      reversal: ReceiptReversal;
      metrics?: Pick<GiftMetrics, 'giftFraudReviews'>;
    },
  ) {
    this.records = new GiftFraudRecords(deps.dataSource);
  }

  list(query: { status: FlagStatus; cursor?: string; limit: number }): Promise<Page<FraudFlagView>> {
    return this.records.list(query);
  }

  async get(flagId: string): Promise<FlagDetail> {
    const flag = await this.records.get(flagId);
    if (!flag) throw new AppError(ErrorCode.NotFound, 'no such flag');
    const [receipts, reviews] = await Promise.all([this.records.receipts(flag.id), this.records.reviews(flag.id)]);
    return { ...flag, receipts, reviews };
  }

  async review(staffUserId: string, flagId: string, input: { decision: ReviewDecision; note: string }): Promise<FlagDetail> {
    await this.deps.dataSource.transaction(async (tx) => {
      const flag = await this.records.get(flagId, tx, true);
      if (!flag) throw new AppError(ErrorCode.NotFound, 'no such flag');
      if (flag.status !== 'open') {
        throw new AppError(ErrorCode.GiftFlagAlreadyReviewed, `this flag was already ${flag.status}`, { status: flag.status, reviewedBy: flag.reviewedBy, reviewedAt: flag.reviewedAt });
      }
      const held = await this.records.lockHeldReceipts(tx, flag.id);
      const heldIds = held.map((r) => r.id);
      let moved: string[];
      if (input.decision === 'release') {
        moved = await this.records.releaseReceipts(tx, flag.id, heldIds);
      } else {
        if (heldIds.length > 0) await this.deps.reversal.reverse(tx, heldIds, 'review');
        moved = heldIds;
      }
      const movedSet = new Set(moved);
      const sum = (key: 'coins' | 'diamonds') => held.filter((r) => movedSet.has(r.id)).reduce((s, r) => s + r[key], 0);
      await this.records.closeFlag(tx, {
        flagId: flag.id,
        status: input.decision === 'release' ? 'released' : 'reversed',
        decision: input.decision,
        reviewedBy: staffUserId,
        note: input.note,
        // Receipts another open flag still holds stay held on a release: listed apart.
        effect: { receiptIds: moved, coins: sum('coins'), diamonds: sum('diamonds'), stillHeld: heldIds.filter((id) => !movedSet.has(id)) },
      });
    });
    this.deps.metrics?.giftFraudReviews.inc({ decision: input.decision });
    return this.get(flagId);
  }
}
