import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { RankingBoards } from '../../db/live/ranking-boards';
import { GiftRankingTotals } from '../../db/repositories/gift-ranking-totals';
import type { Logger } from '../../platform/logging';
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
