import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { Config } from '../../config';
import { RankingBoards } from '../../db/live/ranking-boards';
import { CpRecords } from '../../db/repositories/cp';
import type { Logger } from '../../platform/logging';
import { CpIntimacy } from './cp-intimacy';
import { CpRankings } from './cp-rankings';
import type { CpSettings } from './cp-service';
import { CpSweeper } from './cp-sweeper';
import { CpProposalFlows } from './proposal-flows';

export { CpService, type CpSettings } from './cp-service';
export { CpIntimacy } from './cp-intimacy';
export { CpRankings, cpBoardKeys } from './cp-rankings';
export { CpProposalFlows } from './proposal-flows';
export { CpSweeper } from './cp-sweeper';

export function cpSettingsFromConfig(config: Pick<Config, 'CP_PROPOSAL_TTL_HOURS' | 'CP_BREAKUP_FEE_COINS' | 'CP_BREAKUP_COOLDOWN_DAYS'>): CpSettings {
  return {
    proposalTtlMs: config.CP_PROPOSAL_TTL_HOURS * 3_600_000,
    breakupFeeCoins: config.CP_BREAKUP_FEE_COINS,
    breakupCooldownDays: config.CP_BREAKUP_COOLDOWN_DAYS,
  };
}

/** The CP parts a process shares: records, the weekly board, the intimacy counter and the flows client. */
export function createCpParts(deps: { dataSource: DataSource; redis: Redis; temporal: Client; taskQueue: string; logger?: Logger }) {
  const records = new CpRecords(deps.dataSource);
  const rankings = new CpRankings(new RankingBoards(deps.redis), records, { logger: deps.logger });
  const intimacy = new CpIntimacy(records, rankings, deps.logger);
  const flows = new CpProposalFlows(deps.temporal, deps.taskQueue);
  return { records, rankings, intimacy, flows, sweeper: new CpSweeper({ records, flows, intimacy, logger: deps.logger }) };
}
