import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { loadConfig, type Config } from '../../config';
import { createDataSource } from '../../db/data-source';
import type { User } from '../../db/entities';
import { Ledger } from '../../db/repositories/ledger';
import { UserDirectory } from '../../db/repositories/users';
import { accessTokensFromConfig, type AccessTokens } from '../../platform/auth/access-tokens';
import { PhoneSecrets } from '../../platform/crypto/phone-secrets';
import { createRedis } from '../../platform/redis';

/**
 * Connections to the real servers the global setup started, for one test file.
 * Each file gets its own task queue so suites never steal each other's tasks.
 */
export interface RealStack {
  config: Config;
  dataSource: DataSource;
  redis: Redis;
  temporal: Client;
  tokens: AccessTokens;
  secrets: PhoneSecrets;
  users: UserDirectory;
  ledger: Ledger;
  taskQueue: string;
  newUser(overrides?: { timeZone?: string; displayName?: string }): Promise<User>;
  close(): Promise<void>;
}

/**
 * Suites share one Redis and all connect from 127.0.0.1, so the production budgets for room
 * creation, reports and password attempts per room or address would trip across unrelated
 * tests; test/rooms/abuse-limits.test.ts tests them at their real numbers.
 */
const TEST_ABUSE_LIMITS = {
  ROOM_CREATES_PER_USER_PER_HOUR: '100000',
  ROOM_REPORTS_PER_USER_PER_HOUR: '100000',
  ROOM_PASSWORD_ATTEMPTS_PER_ROOM: '100000',
  ROOM_PASSWORD_ATTEMPTS_PER_IP: '100000',
  // Suites assert lists and profiles right after changing them through another app or the
  // database; the micro-caches have their own tests (platform/cache, test/integration/read-caches).
  ROOM_POPULAR_CACHE_MS: '0',
  PROFILE_CACHE_MS: '0',
};

export async function connectRealStack(suite: string): Promise<RealStack> {
  const taskQueue = `test-${suite}-${randomUUID().slice(0, 8)}`;
  const config = loadConfig({ ...TEST_ABUSE_LIMITS, ...process.env, TEMPORAL_TASK_QUEUE: taskQueue });
  const dataSource = await createDataSource({ url: config.DATABASE_URL, poolSize: 20, applicationName: `test-${suite}` }).initialize();
  const redis = createRedis(config.REDIS_URL, { name: `test-${suite}` });
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const users = new UserDirectory(dataSource);
  return {
    config,
    dataSource,
    redis,
    temporal,
    tokens: accessTokensFromConfig(config),
    secrets: new PhoneSecrets(config.OTP_SECRET, config.PHONE_ENCRYPTION_KEY),
    users,
    ledger: new Ledger(dataSource),
    taskQueue,
    newUser: (overrides = {}) =>
      users.create({ displayName: overrides.displayName ?? `tester ${randomUUID().slice(0, 6)}`, timeZone: overrides.timeZone ?? 'UTC' }),
    async close() {
      await connection.close();
      redis.disconnect();
      await dataSource.destroy();
    },
  };
}
