import type { CountedGift, CpRecords, PartnerGiftCandidate } from '../../db/repositories/cp';
import type { Logger } from '../../platform/logging';
import type { CommittedGift, GiftCommitListener } from '../gifts/gift-service';
import type { CpRankings } from './cp-rankings';

/**
 * CP intimacy from gifts the partners give each other: after a gift send commits, each receipt
 * from one partner to the other (given while paired) adds its coins to the pair's intimacy and
 * to the week's CP board. Counting is keyed by the receipt in PostgreSQL (cp_intimacy_gifts),
 * so the listener, a replay of it and the repair can never count a receipt twice; the board is
 * told only what was newly counted.
 *
 * The event is lost if the process dies after the gift's commit: `repair` (the worker's sweep)
 * counts receipts between partners that are not counted yet.
 */
export class CpIntimacy implements GiftCommitListener {
  constructor(
    private readonly records: CpRecords,
    private readonly rankings: CpRankings,
    private readonly logger?: Pick<Logger, 'warn'>,
  ) {}

  async giftCommitted(gift: CommittedGift): Promise<void> {
    await this.count(
      gift.receivers.map((r) => ({ receiptId: r.receiptId, senderId: gift.senderId, receiverId: r.userId, coins: r.coins, at: gift.at })),
    );
  }

  /** Counts the given receipts (those between partners) once each; what was newly counted goes to the board. */
  async count(receipts: readonly PartnerGiftCandidate[]): Promise<CountedGift[]> {
    try {
      const counted = await this.records.countPartnerGifts(receipts);
      if (counted.length > 0) await this.rankings.record(counted);
      return counted;
    } catch (err) {
      this.logger?.warn({ err }, 'counting a gift toward CP intimacy failed; the repair will');
      return [];
    }
  }

  /** Counts receipts between partners since `since` that no listener counted (at most `limit` per call). */
  async repair(since: Date, limit = 1_000): Promise<number> {
    const missing = await this.records.uncountedPartnerGifts(since, limit);
    if (missing.length === 0) return 0;
    const counted = await this.records.countPartnerGifts(missing);
    if (counted.length > 0) await this.rankings.record(counted);
    return counted.length;
  }
}
