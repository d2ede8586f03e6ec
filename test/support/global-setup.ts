import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { migrateAndSeed } from '../../scripts/migrate';
import type { ManagedProcess } from '../../scripts/stack/child-process';
import { startPostgres, startRedis, startTemporalDevServer } from '../../scripts/stack/services';
import { freePort } from './ports';

/**
 * Starts throwaway real servers for the whole test run: PostgreSQL (migrated), Redis and a
 * headless Temporal dev server, on free loopback ports, with data in a fresh temp folder.
 * Their addresses reach the tests through process.env.
 */
export default async function globalSetup(): Promise<void> {
  const cliPath = process.env.TEMPORAL_CLI_PATH;
  const testServerPath = process.env.TEMPORAL_TEST_SERVER_PATH;
  if (!cliPath || !testServerPath) {
    throw new Error('TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH are unset: run the tests with `npm test`');
  }
  const root = mkdtempSync('/tmp/aura-test-');
  chmodSync(root, 0o755); // the postgres account must reach its data dir
  const logs = join(root, 'logs');
  mkdirSync(logs);
  const [pgPort, redisPort, temporalPort] = [await freePort(), await freePort(), await freePort()];

  const started: ManagedProcess[] = [];
  (globalThis as { __AURA_TEST_SERVICES__?: unknown }).__AURA_TEST_SERVICES__ = { started, root };
  const track = <T extends { process: ManagedProcess }>(service: T): T => {
    started.push(service.process); // stopped by the teardown even if a sibling fails to start
    return service;
  };
  const [postgres, redis, temporal] = await Promise.all([
    startPostgres({ dataDir: join(root, 'postgres'), port: pgPort, database: 'aura_test', output: { file: join(logs, 'postgres.log') } }).then(track),
    startRedis({ dataDir: join(root, 'redis'), port: redisPort, persist: false, output: { file: join(logs, 'redis.log') } }).then(track),
    startTemporalDevServer({ cliPath, port: temporalPort, namespace: 'default', output: { file: join(logs, 'temporal.log') } }).then(track),
  ]);
  await migrateAndSeed(postgres.url, { seed: false });

  Object.assign(process.env, {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    TEMPORAL_ADDRESS: temporal.url,
    ACCESS_TOKEN_SECRET: 'test-secret-0123456789abcdef0123456789abcdef',
    OTP_SECRET: 'test-otp-secret-0123456789abcdef0123456789abcdef',
    PHONE_ENCRYPTION_KEY: '5e'.repeat(32),
    SMS_PROVIDER: 'dev-inbox',
    AURA_TEST_LOG_DIR: logs,
  });
}
