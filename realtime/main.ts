import 'reflect-metadata';
import { loadConfig } from '../config';
import { accessTokensFromConfig } from '../platform/auth/access-tokens';
import { SocketTickets } from '../platform/auth/socket-tickets';
import { WindowLimiter } from '../platform/rate-limits/window-limiter';
import { stopOnSignals } from '../platform/lifecycle';
import { createLogger } from '../platform/logging';
import { createRedis } from '../platform/redis';
import { createAccessChecks } from '../services/bans';
import { openRoomServices } from '../services/rooms';
import { mediaAccessFromConfig } from '../services/media';
import { createRealtimeEdge } from './edge';
import { edgeSettingsFromConfig } from './edge-core';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'realtime', level: config.LOG_LEVEL });
  const redis = createRedis(config.REDIS_URL, { name: 'aura-realtime' });
  // The edge writes chat to PostgreSQL itself: a small pool is plenty.
  const { rooms, connections, playback, dataSource, close: closeRooms } = await openRoomServices({ config, redis, poolSize: 5, applicationName: 'aura-realtime' });
  // Upgrades and the periodic re-check are answered from this in-memory copy of bans and revocations.
  const access = createAccessChecks({ config, dataSource, redis, logger });
  await access.cache.start();
  const edge = createRealtimeEdge(edgeSettingsFromConfig(config), {
    tokens: accessTokensFromConfig(config),
    subscriber: createRedis(config.REDIS_URL, { name: 'aura-realtime-sub' }),
    bans: access.bans,
    revokedSessions: access.revokedSessions,
    rooms,
    connections,
    playback,
    tickets: new SocketTickets(redis, config.REALTIME_TICKET_TTL_SECONDS),
    limiter: new WindowLimiter(redis),
    // LIVEKIT_URL unset: null, and snapshot frames carry no media.
    media: mediaAccessFromConfig(config),
    logger,
  });
  const port = await edge.listen(config.REALTIME_HOST, config.REALTIME_PORT);
  logger.info({ url: `ws://${config.REALTIME_HOST}:${port}/v1/ws` }, 'realtime edge listening');
  stopOnSignals(logger, async () => {
    await edge.close();
    await access.cache.stop();
    redis.disconnect();
    await closeRooms();
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
