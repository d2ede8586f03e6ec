import 'reflect-metadata';
import { banAccount } from '../api/auth/bans';
import { Sessions } from '../api/auth/sessions';
import { loadConfig } from '../config';
import { createDataSource } from '../db/data-source';
import { SessionStore } from '../db/repositories/sessions';
import { accessTokensFromConfig } from '../platform/auth/access-tokens';
import { BanList, type BanKind } from '../platform/auth/ban-list';
import { RedisUserEventPublisher } from '../platform/events/publisher';
import { createRedis } from '../platform/redis';

/**
 * Support tooling until an admin API exists:
 *   npx tsx scripts/ban.ts user <userId> "reason"      bans an account (sessions revoked, sockets closed)
 *   npx tsx scripts/ban.ts ip <address> "reason" [ttlSeconds]
 *   npx tsx scripts/ban.ts device <deviceId> "reason" [ttlSeconds]
 *   npx tsx scripts/ban.ts lift <user|ip|device> <value>
 */
async function main(): Promise<void> {
  const [action, a, b, c] = process.argv.slice(2);
  const config = loadConfig();
  const redis = createRedis(config.REDIS_URL, { name: 'aura-ban-tool' });
  const bans = new BanList(redis);
  try {
    if (action === 'lift' && (a === 'user' || a === 'ip' || a === 'device') && b) {
      await bans.lift(a, b);
      if (a === 'user') console.log('lifted from the ban list; set users.status back to active if the account should sign in');
      return;
    }
    if (!(action === 'user' || action === 'ip' || action === 'device') || !a || !b) {
      throw new Error('usage: ban.ts <user|ip|device> <value> <reason> [ttlSeconds] | ban.ts lift <kind> <value>');
    }
    if (action === 'user') {
      const dataSource = await createDataSource({ url: config.DATABASE_URL, poolSize: 2 }).initialize();
      const sessions = new Sessions(new SessionStore(dataSource), accessTokensFromConfig(config), redis, new RedisUserEventPublisher(redis), {
        accessTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
        refreshTtlDays: config.REFRESH_TOKEN_TTL_DAYS,
        reuseGraceSeconds: config.REFRESH_TOKEN_REUSE_GRACE_SECONDS,
      }, bans);
      await banAccount({ dataSource, bans, sessions }, a, b);
      await dataSource.destroy();
    } else {
      await bans.ban(action as BanKind, a, b, c ? Number(c) : undefined);
    }
    console.log(`banned ${action} ${a}`);
  } finally {
    redis.disconnect();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
