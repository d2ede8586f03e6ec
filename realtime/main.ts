import 'reflect-metadata';
import { loadConfig } from '../config';
import { createDataSource } from '../db/data-source';
import { accessTokensFromConfig } from '../platform/auth/access-tokens';
import { stopOnSignals } from '../platform/lifecycle';
import { createLogger } from '../platform/logging';
import { createRedis } from '../platform/redis';
import { createAccessChecks } from '../services/bans';
import { createRoomService } from '../services/rooms';
import { createRealtimeEdge } from './edge';
import { edgeSettingsFromConfig } from './edge-core';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'realtime', level: config.LOG_LEVEL });
  // The edge writes chat to PostgreSQL itself: a small pool is plenty.
  const dataSource = await createDataSource({ url: config.DATABASE_URL, poolSize: 5, applicationName: 'aura-realtime' }).initialize();
  const redis = createRedis(config.REDIS_URL, { name: 'aura-realtime' });
  const { rooms, live } = createRoomService({ config, dataSource, redis });
  // Upgrades and the periodic re-check are answered from this in-memory copy of bans and revocations.
  const access = createAccessChecks({ config, dataSource, redis, logger });
  await access.cache.start();
  const edge = createRealtimeEdge(edgeSettingsFromConfig(config), {
    tokens: accessTokensFromConfig(config),
    subscriber: createRedis(config.REDIS_URL, { name: 'aura-realtime-sub' }),
    bans: access.bans,
    revokedSessions: access.revokedSessions,
    rooms,
    live,
    logger,
  });
  const port = await edge.listen(config.REALTIME_HOST, config.REALTIME_PORT);
  logger.info({ url: `ws://${config.REALTIME_HOST}:${port}/v1/ws` }, 'realtime edge listening');
  stopOnSignals(logger, async () => {
    await edge.close();
    await access.cache.stop();
    redis.disconnect();
    await dataSource.destroy();
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
