import 'reflect-metadata';
import type { Server } from 'node:http';
import { loadConfig } from '../config';
import { createDataSource } from '../db/data-source';
import { accessTokensFromConfig } from '../platform/auth/access-tokens';
import { stopOnSignals } from '../platform/lifecycle';
import { createLogger } from '../platform/logging';
import { createRedis } from '../platform/redis';
import { connectTemporalClient } from '../platform/temporal';
import { createAccessChecks } from '../services/bans';
import { createGiftCatalog } from '../services/gifts';
import { createMediaSweep } from '../services/media';
import { objectStoreFromConfig } from '../platform/storage/object-store';
import { createMetrics } from '../platform/metrics';
import { createRoomGiftAnnouncer } from '../services/gifts/announcer';
import { videoCatalogFromConfig } from '../platform/media/from-config';
import { createApiApp } from './app';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'api', level: config.LOG_LEVEL });
  const dataSource = await createDataSource({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE, applicationName: 'aura-api' }).initialize();
  const redis = createRedis(config.REDIS_URL, { name: 'aura-api' });
  const temporal = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  const tokens = accessTokensFromConfig(config);
  // Every request's ban and session checks are answered from this in-memory copy.
  const access = createAccessChecks({ config, dataSource, redis, logger });
  await access.cache.start();
  const metrics = createMetrics();
  // Gift panels and gift sends read this copy; it answers while PostgreSQL is down.
  const gifts = createGiftCatalog({ config, dataSource, redis, logger, registry: metrics.registry });
  await gifts.start();
  // Combo updates wait up to 500 ms in this process: flushed at shutdown so a deploy loses no count.
  const giftAnnouncer = createRoomGiftAnnouncer({ config, redis, logger, metricsRegistry: metrics.registry });
  // Room playlists learn a video's title and duration here (YouTube, cached in Redis); unset key: none.
  const videoCatalog = videoCatalogFromConfig(config, redis, { logger }) ?? undefined;
  const objectStore = objectStoreFromConfig(config);
  const app = createApiApp({ config, dataSource, redis, temporal, tokens, logger, access, metrics, gifts, giftAnnouncer, videoCatalog, objectStore });
  // Abandoned uploads and replaced files leave the store; every API process sweeps (claims don't collide).
  const mediaSweep = createMediaSweep({ config, dataSource, store: objectStore, logger });
  mediaSweep.start(config.MEDIA_SWEEP_SECONDS * 1000);
  const server: Server = app.listen(config.API_PORT, config.API_HOST, () => {
    logger.info({ url: `http://${config.API_HOST}:${config.API_PORT}/v1` }, 'api listening');
  });
  server.requestTimeout = 30_000;

  stopOnSignals(logger, async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections(); // keep-alive sockets would otherwise hold close() open
    await closed;
    await giftAnnouncer.flush();
    await temporal.connection.close();
    await access.cache.stop();
    await gifts.stop();
    await mediaSweep.stop();
    redis.disconnect();
    await dataSource.destroy();
  });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
