import 'reflect-metadata';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, type Config } from '../../config';
import { DEV_SECRETS } from '../../config/dev-secrets';
import { createDataSource } from '../../db/data-source';
import { UserDirectory } from '../../db/repositories/users';
import { accessTokensFromConfig } from '../../platform/auth/access-tokens';
import { createLogger } from '../../platform/logging';
import { createRedis } from '../../platform/redis';
import { migrateAndSeed } from '../../scripts/migrate';
import type { ManagedProcess } from '../../scripts/stack/child-process';
import { startLiveKit, startPostgres, startRedis } from '../../scripts/stack/services';
import { freePorts } from '../../test/support/ports';

export const BENCH_LIVEKIT_KEYS = { apiKey: 'aura-bench', apiSecret: 'aura-bench-livekit-secret-0123456789abcdef' };

/**
 * A throwaway PostgreSQL (migrated) and Redis, and optionally a LiveKit server, on free loopback
 * ports in /tmp/aura-bench-media-*; `stop` ends them and deletes the folder. Temporal is a lazy
 * connection that is never used (the media routes don't start flows).
 */
export async function startMediaBenchStack(options: { livekit: boolean }) {
  const root = mkdtempSync('/tmp/aura-bench-media-');
  chmodSync(root, 0o755);
  const started: ManagedProcess[] = [];
  const [pgPort, redisPort, lkPort, lkTcp, lkUdp] = await freePorts(5);
  const output = (name: string) => ({ file: join(root, `${name}.log`) });
  const [postgres, redis] = await Promise.all([
    startPostgres({ dataDir: join(root, 'pg'), port: pgPort!, database: 'aura_bench', output: output('postgres') }),
    startRedis({ dataDir: join(root, 'redis'), port: redisPort!, persist: false, output: output('redis') }),
  ]);
  started.push(postgres.process, redis.process);
  const livekit = options.livekit
    ? await startLiveKit({
        serverPath: process.env.LIVEKIT_SERVER_PATH ?? '',
        dir: join(root, 'livekit'),
        port: lkPort!,
        rtcTcpPort: lkTcp!,
        rtcUdpPort: lkUdp!,
        ...BENCH_LIVEKIT_KEYS,
        output: output('livekit'),
      })
    : null;
  if (livekit) started.push(livekit.process);
  await migrateAndSeed(postgres.url, { seed: false });
  const config: Config = loadConfig({
    ...DEV_SECRETS,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    LIVEKIT_URL: livekit?.url ?? 'ws://127.0.0.1:7880',
    LIVEKIT_API_URL: livekit?.apiUrl ?? 'http://127.0.0.1:7880',
    LIVEKIT_API_KEY: BENCH_LIVEKIT_KEYS.apiKey,
    LIVEKIT_API_SECRET: BENCH_LIVEKIT_KEYS.apiSecret,
    RATE_LIMIT_USER_PER_MINUTE: '10000000',
    RATE_LIMIT_IP_PER_MINUTE: '10000000',
    ROOM_CREATES_PER_USER_PER_HOUR: '100000',
  });
  const dataSource = await createDataSource({ url: config.DATABASE_URL, poolSize: 20, applicationName: 'bench-media' }).initialize();
  const redisClient = createRedis(config.REDIS_URL, { name: 'bench-media' });
  const temporal = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
  const users = new UserDirectory(dataSource);
  const tokens = accessTokensFromConfig(config);
  return {
    config,
    dataSource,
    redis: redisClient,
    temporal,
    tokens,
    logger: createLogger({ name: 'bench-media', level: 'warn' }),
    async newUser(name: string) {
      const user = await users.create({ displayName: name });
      return { userId: user.id, token: await tokens.sign({ userId: user.id }) };
    },
    async stop() {
      redisClient.disconnect();
      await dataSource.destroy();
      for (const p of started.reverse()) await p.stop('SIGTERM', 5_000).catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
