import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { RankingBoards } from '../../db/live/ranking-boards';
import { GiftRankingTotals } from '../../db/repositories/gift-ranking-totals';
import type { Logger } from '../../platform/logging';
import type { ReversalListener, ReversedReceipt } from '../economy/clawback';
import { GiftRankings, type GiftRankingsOptions } from './gift-rankings';

export { GiftRankings } from './gift-rankings';
export type { BoardView, GiftRankingsOptions, RankedEntry } from './gift-rankings';

/** Gift rankings over this process's Redis and PostgreSQL; one per process (it keeps the set of boards to rebuild). */
export function createGiftRankings(deps: {
  redis: Redis;
  dataSource: DataSource;
  logger?: Logger;
  metricsRegistry?: Registry;
  options?: Omit<GiftRankingsOptions, 'registry' | 'logger'>;
}): GiftRankings {
  return new GiftRankings(new RankingBoards(deps.redis), new GiftRankingTotals(deps.dataSource), {
    ...deps.options,
    registry: deps.metricsRegistry,
    logger: deps.logger,
  });
}

/** What reversed receipts take off the boards: each at its send's time. */
export function reversalReceipts(reversed: readonly ReversedReceipt[]) {
  return reversed.map((r) => ({ senderId: r.senderId, receiverId: r.receiverId, roomId: r.roomId, coins: r.coins, diamonds: r.diamonds, at: r.createdAt }));
}

/** Rankings as a clawback's listener: reversed gifts come off every board they counted on. */
export function rankingsReversalListener(rankings: GiftRankings): ReversalListener {
  return { onReversed: (reversed) => rankings.subtract(reversalReceipts(reversed)) };
}
