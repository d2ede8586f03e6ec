import 'reflect-metadata';
import { Sessions } from '../services/auth/sessions';
import { loadConfig } from '../config';
import { createDataSource } from '../db/data-source';
import { SessionStore } from '../db/repositories/sessions';
import { AccountBans } from '../db/repositories/account-bans';
import { accessTokensFromConfig } from '../platform/auth/access-tokens';
import { announcingRevocations } from '../platform/auth/revoked-sessions';
import { RedisUserEventPublisher } from '../platform/events/publisher';
import { createLogger } from '../platform/logging';
import { createRedis } from '../platform/redis';
import { BanService, createAccessChecks } from '../services/bans';

const USAGE = `usage:
  ban.ts user   <userId>   "<reason>" [ttlSeconds] [--by <name>]   bans an account (signed out everywhere, sockets closed)
  ban.ts ip     <address>  "<reason>" [ttlSeconds] [--by <name>]
  ban.ts device <deviceId> "<reason>" [ttlSeconds] [--by <name>]
  ban.ts lift <user|ip|device> <value> [--by <name>]`;

/** Support tooling until an admin API exists: bans are recorded in PostgreSQL, then copied to Redis. */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const byAt = args.indexOf('--by');
  const by = byAt >= 0 ? args.splice(byAt, 2)[1] : `scripts/ban.ts (${process.env.USER ?? 'operator'})`;
  const [action, a, b, c] = args;
  const kinds = ['user', 'ip', 'device'] as const;
  const isKind = (k: string | undefined): k is (typeof kinds)[number] => kinds.includes(k as (typeof kinds)[number]);
  if (!by || !(action === 'lift' ? isKind(a) && b : isKind(action) && a && b)) throw new Error(USAGE);
  if (c !== undefined && !/^[1-9]\d{0,8}$/.test(c)) throw new Error(`ttlSeconds is a whole number of seconds\n${USAGE}`);

  const config = loadConfig();
  const logger = createLogger({ name: 'ban-tool', level: 'warn' });
  const redis = createRedis(config.REDIS_URL, { name: 'aura-ban-tool' });
  const dataSource = await createDataSource({ url: config.DATABASE_URL, poolSize: 2, applicationName: 'aura-ban-tool' }).initialize();
  try {
    const access = createAccessChecks({ config, dataSource, redis, logger });
    const sessions = new Sessions(
      new SessionStore(dataSource),
      accessTokensFromConfig(config),
      redis,
      announcingRevocations(new RedisUserEventPublisher(redis), access.revokedSessions),
      { accessTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS, refreshTtlDays: config.REFRESH_TOKEN_TTL_DAYS, reuseGraceSeconds: config.REFRESH_TOKEN_REUSE_GRACE_SECONDS },
      access.bans,
    );
    const service = new BanService({ records: new AccountBans(dataSource), bans: access.bans, sessions, logger });
    if (action === 'lift' && isKind(a)) {
      const lifted = await service.lift({ kind: a, subject: b!, by });
      console.log(lifted ? `lifted the ban on ${a} ${b}` : `no ban in force on ${a} ${b}`);
      return;
    }
    if (!isKind(action)) return;
    const record = await service.ban({ kind: action, subject: a!, reason: b!, by, expiresAt: c ? new Date(Date.now() + Number(c) * 1000) : null });
    console.log(`banned ${action} ${record.subject} (ban ${record.id}${record.expiresAt ? `, until ${record.expiresAt.toISOString()}` : ''})`);
  } finally {
    redis.disconnect();
    await dataSource.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
