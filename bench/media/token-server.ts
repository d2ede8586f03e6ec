import 'reflect-metadata';
import Koa from 'koa';
import { loadConfig } from '../../config';
import { createApiApp } from '../../api/app';
import { createDataSource } from '../../db/data-source';
import { accessTokensFromConfig } from '../../platform/auth/access-tokens';
import { createLogger } from '../../platform/logging';
import { createRedis } from '../../platform/redis';
import { createAccessChecks } from '../../services/bans';
import { Client, Connection } from '@temporalio/client';

/**
 * The two targets of bench/media/tokens.ts, in one process of their own: the API (its real
 * middleware chain and POST /v1/rooms/:id/media/token) and a bare Koa handler answering a small
 * JSON body. Config comes from the environment; prints `ports <api> <bare>` once both listen.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'bench-media-api', level: 'warn' });
  const dataSource = await createDataSource({ url: config.DATABASE_URL, poolSize: 20, applicationName: 'bench-media-api' }).initialize();
  const redis = createRedis(config.REDIS_URL, { name: 'bench-media-api' });
  const access = createAccessChecks({ config, dataSource, redis, logger });
  await access.cache.start();
  const app = createApiApp({
    config,
    dataSource,
    redis,
    temporal: new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) }),
    tokens: accessTokensFromConfig(config),
    logger,
    access,
  });
  const bare = new Koa();
  bare.use((ctx) => {
    ctx.body = { status: 'ok' };
  });
  const api = app.listen(0, '127.0.0.1');
  const baseline = bare.listen(0, '127.0.0.1');
  await Promise.all([api, baseline].map((s) => new Promise((resolve) => s.once('listening', resolve))));
  const port = (s: typeof api) => (s.address() as { port: number }).port;
  console.log(`ports ${port(api)} ${port(baseline)}`);
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
