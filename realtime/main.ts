import 'reflect-metadata';
import { loadConfig } from '../config';
import { createDataSource } from '../db/data-source';
import { accessTokensFromConfig } from '../platform/auth/access-tokens';
import { BanList } from '../platform/auth/ban-list';
import { RevokedSessions } from '../platform/auth/revoked-sessions';
import { stopOnSignals } from '../platform/lifecycle';
import { createLogger } from '../platform/logging';
import { createRedis } from '../platform/redis';
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
  const edge = createRealtimeEdge(edgeSettingsFromConfig(config), {
    tokens: accessTokensFromConfig(config),
    subscriber: createRedis(config.REDIS_URL, { name: 'aura-realtime-sub' }),
    bans: new BanList(redis),
    revokedSessions: new RevokedSessions(redis),
    rooms,
    live,
    logger,
  });
  const port = await edge.listen(config.REALTIME_HOST, config.REALTIME_PORT);
  logger.info({ url: `ws://${config.REALTIME_HOST}:${port}/v1/ws` }, 'realtime edge listening');
  stopOnSignals(logger, async () => {
    await edge.close();
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
