import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { Config } from '../../config';
import { AccountBans } from '../../db/repositories/account-bans';
import { SessionRevocations } from '../../db/repositories/session-revocations';
import { AccessCache } from '../../platform/auth/access-cache';
import { BanList } from '../../platform/auth/ban-list';
import { RevokedSessions } from '../../platform/auth/revoked-sessions';
import type { Logger } from '../../platform/logging';

export { BanService, banSubject, type NewAccountBan } from './ban-service';

export interface AccessChecks {
  bans: BanList;
  revokedSessions: RevokedSessions;
  /** This process's in-memory copy; `start()` it to answer checks without a round trip, `stop()` it on shutdown. */
  cache: AccessCache;
}

/**
 * The ban list and the revoked-session checks as every process builds them: over the records
 * in PostgreSQL, the copy in Redis, and this process's in-memory copy.
 */
export function createAccessChecks(deps: {
  config: Pick<Config, 'ACCESS_TOKEN_TTL_SECONDS'>;
  dataSource: DataSource;
  redis: Redis;
  logger: Logger;
  resyncMs?: number;
}): AccessChecks {
  const records = new AccountBans(deps.dataSource);
  const revocations = new SessionRevocations(deps.dataSource);
  const cache = new AccessCache(deps.redis, records, revocations, deps.logger, {
    revokedKeepMs: (deps.config.ACCESS_TOKEN_TTL_SECONDS + 60) * 1000,
    ...(deps.resyncMs ? { resyncMs: deps.resyncMs } : {}),
  });
  return {
    bans: new BanList(deps.redis, { records, cache }),
    revokedSessions: new RevokedSessions(deps.redis, { records: revocations, cache }),
    cache,
  };
}
