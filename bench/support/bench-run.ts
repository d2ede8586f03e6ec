import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEV_SECRETS } from '../../config/dev-secrets';
import { migrateAndSeed } from '../../scripts/migrate';
import { startPostgres, startRedis, startTemporalDevServer, type RunningService } from '../../scripts/stack/services';

/** Something a benchmark started, stopped on the way out. */
export interface Cleanup {
  what: string;
  run: () => Promise<unknown> | unknown;
}

/** Most a single cleanup may take before the next one runs regardless. */
const CLEANUP_TIMEOUT_MS = 20_000;

/**
 * A benchmark run's log (`[bench:<name>   12.3s] …`) and its exit: everything pushed to
 * `cleanups` is stopped newest first, once, however the run ends (its last step, an error,
 * SIGINT or SIGTERM), each step given at most 20 s.
 */
export function benchRun(name: string) {
  const t0 = performance.now();
  const log = (message: string) => console.log(`[bench:${name} ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${message}`);
  const cleanups: Cleanup[] = [];
  let cleaningUp: Promise<void> | undefined;
  function cleanup(): Promise<void> {
    cleaningUp ??= (async () => {
      for (const { what, run } of cleanups.splice(0).reverse()) {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(run),
            new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no end after ${CLEANUP_TIMEOUT_MS / 1000} s`)), CLEANUP_TIMEOUT_MS))),
          ]);
        } catch (err) {
          console.error(`[bench:${name}] cleanup of ${what} failed: ${(err as Error).message}`);
        } finally {
          clearTimeout(timer);
        }
      }
    })();
    return cleaningUp;
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n[bench:${name}] ${signal}: stopping everything`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  return { log, cleanups, cleanup };
}

/** The checkout's short commit, for the results header ("unknown" outside git). */
export function commitOf(root: string): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
  } catch {
    return 'unknown';
  }
}

/** The servers a bench's app runs against. */
export interface BenchStores {
  postgres: RunningService;
  redis: RunningService;
  temporal: RunningService;
}

/**
 * A throwaway directory in /tmp (removed at the end unless `keep`), with PostgreSQL (migrated,
 * no seed), Redis (no persistence) and the Temporal dev server (SQLite) on the given loopback
 * ports, their logs in `<dir>/logs`; each is stopped by `cleanups`.
 */
export async function startBenchStores(options: {
  name: string;
  cliPath: string;
  ports: { postgres: number; redis: number; temporal: number };
  cleanups: Cleanup[];
  log: (message: string) => void;
  keep: boolean;
}): Promise<BenchStores & { dir: string; logs: string }> {
  const { cleanups, log } = options;
  const dir = mkdtempSync(`/tmp/aura-bench-${options.name}-`);
  chmodSync(dir, 0o755); // the postgres account must reach its data dir
  cleanups.push({ what: 'temp dir', run: () => (options.keep ? log(`kept ${dir}`) : rmSync(dir, { recursive: true, force: true })) });
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const track = (s: RunningService): RunningService => {
    cleanups.push({ what: s.process.name, run: () => s.process.stop('SIGTERM', 10_000) });
    return s;
  };
  log('starting PostgreSQL, Redis and Temporal');
  const [postgres, redis, temporal] = await Promise.all([
    startPostgres({ dataDir: join(dir, 'postgres'), port: options.ports.postgres, database: 'aura', output: { file: join(logs, 'postgres.log') } }).then(track),
    startRedis({ dataDir: join(dir, 'redis'), port: options.ports.redis, persist: false, output: { file: join(logs, 'redis.log') } }).then(track),
    startTemporalDevServer({
      cliPath: options.cliPath,
      port: options.ports.temporal,
      dbFile: join(dir, 'temporal.sqlite'),
      namespace: 'default',
      output: { file: join(logs, 'temporal.log') },
    }).then(track),
  ]);
  await migrateAndSeed(postgres.url, { seed: false });
  return { dir, logs, postgres, redis, temporal };
}

/**
 * The app's environment against a bench's servers: logging as in production (one access-log
 * line per request), and the per-IP and per-user limits on (every request still pays for them)
 * but never refusing: all load comes from 127.0.0.1 and each client does more than a person would.
 */
export function benchAppEnv(base: NodeJS.ProcessEnv, stores: BenchStores, apiPort: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...base,
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    DATABASE_URL: stores.postgres.url,
    REDIS_URL: stores.redis.url,
    TEMPORAL_ADDRESS: stores.temporal.url,
    API_HOST: '127.0.0.1',
    API_PORT: String(apiPort),
    RATE_LIMIT_IP_PER_MINUTE: '100000000',
    RATE_LIMIT_USER_PER_MINUTE: '100000000',
    ...extra,
    ...DEV_SECRETS,
  };
}
