import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { migrateAndSeed } from '../../scripts/migrate';
import type { ManagedProcess } from '../../scripts/stack/child-process';
import { startLiveKit, startPostgres, startRedis, startSeaweedFs, startTemporalDevServer } from '../../scripts/stack/services';
import { freePorts } from './ports';

/** The test run's media keys (LiveKit wants a secret of 32 characters or more). */
export const TEST_LIVEKIT_KEYS = { apiKey: 'aura-test', apiSecret: 'aura-test-livekit-secret-0123456789abcdef' };
export const TEST_S3 = { bucket: 'aura-media-test', accessKeyId: 'aura-test-access', secretAccessKey: 'aura-test-secret-0123456789' };

/**
 * Starts throwaway real servers for the whole test run: PostgreSQL (migrated), Redis, a
 * headless Temporal dev server, the LiveKit media server and SeaweedFS's S3 gateway, on free
 * loopback ports, with data in a fresh temp folder.
 * Their addresses reach the tests through process.env.
 */
export default async function globalSetup(): Promise<void> {
  const cliPath = process.env.TEMPORAL_CLI_PATH;
  const testServerPath = process.env.TEMPORAL_TEST_SERVER_PATH;
  const livekitPath = process.env.LIVEKIT_SERVER_PATH;
  const weedPath = process.env.SEAWEEDFS_PATH;
  if (!cliPath || !testServerPath || !livekitPath || !weedPath) {
    throw new Error('TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH / LIVEKIT_SERVER_PATH / SEAWEEDFS_PATH are unset: run the tests with `npm test`');
  }
  const root = mkdtempSync('/tmp/aura-test-');
  chmodSync(root, 0o755); // the postgres account must reach its data dir
  const logs = join(root, 'logs');
  mkdirSync(logs);
  const [pgPort, redisPort, temporalPort, livekitPort, livekitTcp, livekitUdp, s3Port, ...weedPorts] = await freePorts(14);

  const started: ManagedProcess[] = [];
  (globalThis as { __AURA_TEST_SERVICES__?: unknown }).__AURA_TEST_SERVICES__ = { started, root };
  const track = <T extends { process: ManagedProcess }>(service: T): T => {
    started.push(service.process); // stopped by the teardown even if a sibling fails to start
    return service;
  };
  const [postgres, redis, temporal] = await Promise.all([
    startPostgres({ dataDir: join(root, 'postgres'), port: pgPort!, database: 'aura_test', output: { file: join(logs, 'postgres.log') } }).then(track),
    startRedis({ dataDir: join(root, 'redis'), port: redisPort!, persist: false, output: { file: join(logs, 'redis.log') } }).then(track),
    startTemporalDevServer({ cliPath, port: temporalPort!, namespace: 'default', output: { file: join(logs, 'temporal.log') } }).then(track),
  ]);
  // Started after the others: SeaweedFS's start-up is CPU-heavy for a few seconds on two cores.
  const [livekit, seaweed] = await Promise.all([
    startLiveKit({
      serverPath: livekitPath,
      dir: join(root, 'livekit'),
      port: livekitPort!,
      rtcTcpPort: livekitTcp!,
      rtcUdpPort: livekitUdp!,
      ...TEST_LIVEKIT_KEYS,
      output: { file: join(logs, 'livekit.log') },
    }).then(track),
    startSeaweedFs({
      weedPath,
      dataDir: join(root, 'seaweedfs'),
      s3Port: s3Port!,
      internalPorts: weedPorts as [number, number, number, number, number, number, number],
      ...TEST_S3,
      output: { file: join(logs, 'seaweedfs.log') },
    }).then(track),
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
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_URL: livekit.apiUrl,
    LIVEKIT_API_KEY: TEST_LIVEKIT_KEYS.apiKey,
    LIVEKIT_API_SECRET: TEST_LIVEKIT_KEYS.apiSecret,
    S3_ENDPOINT: seaweed.url,
    S3_BUCKET: TEST_S3.bucket,
    S3_ACCESS_KEY_ID: TEST_S3.accessKeyId,
    S3_SECRET_ACCESS_KEY: TEST_S3.secretAccessKey,
    MEDIA_CDN_BASE_URL: `${seaweed.url}/${TEST_S3.bucket}`,
  });
}
