import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { Config } from '../../config';
import { ReferralBoards } from '../../db/live/referral-boards';
import { ReferralRecords } from '../../db/repositories/referrals';
import { rewardsFrom, validateReferralPolicy, type ReferralPolicy } from '../../domain/referrals/milestones';
import type { Logger } from '../../platform/logging';
import { ReferralAttribution, type ReferralSettings } from './attribution';
import { ReferralFlows } from './flow-client';
import { ReferralLeaderboard } from './leaderboard';
import { ReferralNudges } from './nudges';

export { ReferralAttribution } from './attribution';
export { ReferralLeaderboard } from './leaderboard';
export { ReferralNudges } from './nudges';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The flows' policy from the configuration; a bad one stops the start. */
export function referralPolicyFromConfig(config: Config): ReferralPolicy {
  const policy: ReferralPolicy = {
    checkEveryMs: Math.round(config.REFERRAL_CHECK_HOURS * HOUR_MS),
    retryAfterMs: 60_000,
    rewards: rewardsFrom(config.REFERRAL_REFERRER_COINS, config.REFERRAL_REFEREE_COINS),
  };
  const problems = validateReferralPolicy(policy);
  if (problems.length) throw new Error(`invalid referral configuration: ${problems.join('; ')}`);
  return policy;
}

export function referralSettingsFromConfig(config: Config): ReferralSettings {
  return {
    linkBase: config.REFERRAL_LINK_BASE,
    windowMs: config.REFERRAL_WINDOW_DAYS * DAY_MS,
    lateAttributionMs: config.REFERRAL_LATE_ATTRIBUTION_HOURS * HOUR_MS,
    networkWindowMs: config.REFERRAL_NETWORK_WINDOW_DAYS * DAY_MS,
  };
}

export interface ReferralServices {
  records: ReferralRecords;
  flows: ReferralFlows;
  attribution: ReferralAttribution;
  nudges: ReferralNudges;
  leaderboard: ReferralLeaderboard;
}

/** Referrals over the real stores, as the API and the worker build them. */
export function createReferralServices(deps: {
  config: Config;
  dataSource: DataSource;
  redis: Redis;
  temporal: Client;
  logger?: Logger;
  /** Leaderboard key prefix (tests). */
  boardPrefix?: string;
}): ReferralServices {
  const records = new ReferralRecords(deps.dataSource);
  const flows = new ReferralFlows(deps.temporal, deps.config.TEMPORAL_TASK_QUEUE, referralPolicyFromConfig(deps.config));
  const nudges = new ReferralNudges({ records, flows, redis: deps.redis, logger: deps.logger });
  const attribution = new ReferralAttribution({
    records,
    flows,
    settings: referralSettingsFromConfig(deps.config),
    logger: deps.logger,
    onAttributed: (refereeId) => nudges.forget(refereeId),
  });
  const leaderboard = new ReferralLeaderboard({ boards: new ReferralBoards(deps.redis), records, logger: deps.logger, prefix: deps.boardPrefix });
  return { records, flows, attribution, nudges, leaderboard };
}
