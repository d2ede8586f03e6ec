import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { entities } from './entities';
import { Foundation1764144000000 } from './migrations/1764144000000-Foundation';
import { IdentitiesAndSessions1764200000000 } from './migrations/1764200000000-IdentitiesAndSessions';
import { ProfileFields1764210000000 } from './migrations/1764210000000-ProfileFields';
import { Rooms1764300000000 } from './migrations/1764300000000-Rooms';
import { AccountBansAndRoomMutes1764400000000 } from './migrations/1764400000000-AccountBansAndRoomMutes';
import { Economy1764500000000 } from './migrations/1764500000000-Economy';
import { GiftCatalogSeed1764500100000 } from './migrations/1764500100000-GiftCatalogSeed';
import { StoreRecharges1764500200000 } from './migrations/1764500200000-StoreRecharges';
import { GiftFraudReview1764500300000 } from './migrations/1764500300000-GiftFraudReview';
import { SettlementFlows1764500400000 } from './migrations/1764500400000-SettlementFlows';
import { RoomPlaylists1764600100000 } from './migrations/1764600100000-RoomPlaylists';

import { MediaAssets1764600200000 } from './migrations/1764600200000-MediaAssets';
import { StatusFoundation1764700000000 } from './migrations/1764700000000-StatusFoundation';
import { ProfileCounts1764700600000 } from './migrations/1764700600000-ProfileCounts';
import { LevelsAndMedals1764700300000 } from './migrations/1764700300000-LevelsAndMedals';
import { Referrals1764700400000 } from './migrations/1764700400000-Referrals';
import { Notifications1764700100000 } from './migrations/1764700100000-Notifications';
import { VipTiers1764700200000 } from './migrations/1764700200000-VipTiers';
import { CpProposals1764700500000 } from './migrations/1764700500000-CpProposals';

export const migrations = [Foundation1764144000000, IdentitiesAndSessions1764200000000, ProfileFields1764210000000, Rooms1764300000000, AccountBansAndRoomMutes1764400000000, Economy1764500000000, GiftCatalogSeed1764500100000, StoreRecharges1764500200000, GiftFraudReview1764500300000, SettlementFlows1764500400000, RoomPlaylists1764600100000, MediaAssets1764600200000, StatusFoundation1764700000000, Notifications1764700100000, VipTiers1764700200000, LevelsAndMedals1764700300000, Referrals1764700400000, CpProposals1764700500000, ProfileCounts1764700600000];

/**
 * How long one statement may run. The server enforces statement_timeout; query_timeout is the
 * client's own bound, a little longer, for a server that stopped answering altogether (a paused
 * or partitioned PostgreSQL never sends its cancel). Every statement of the app takes
 * milliseconds; a request gives up well inside the spec's 30 s budget.
 */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 5_000;

/** The one way to reach PostgreSQL. Schema changes go through migrations only. */
export function createDataSource(options: {
  url: string;
  poolSize?: number;
  applicationName?: string;
  /** 0 for none (migrations rewriting big tables). */
  statementTimeoutMs?: number;
}): DataSource {
  const statementTimeout = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  return new DataSource({
    type: 'postgres',
    url: options.url,
    entities,
    migrations,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    extra: {
      max: options.poolSize ?? 10,
      application_name: options.applicationName ?? 'aura',
      // Fail fast instead of queueing forever when the pool is exhausted or the server is gone.
      connectionTimeoutMillis: 2_000,
      ...(statementTimeout > 0 ? { statement_timeout: statementTimeout, query_timeout: statementTimeout + 1_000 } : {}),
    },
  });
}
