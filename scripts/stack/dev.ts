import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEMO_USERS } from '../../db/seed';
import { DEV_SECRETS } from '../../config/dev-secrets';
import { migrateAndSeed } from '../migrate';
import { startProcess, waitUntil, type ManagedProcess } from './child-process';
import { pgCanUse, startPostgres, startRedis, startTemporalDevServer } from './services';

/**
 * The whole development stack in one command: PostgreSQL, Redis, the Temporal dev server
 * (with its Web UI), migrations and reference data, then the worker, the API and the
 * realtime edge. Ctrl-C stops everything, newest first. Data persists in AURA_DATA_DIR.
 */
const root = resolve(__dirname, '../..');
const env = process.env;
const num = (name: string, fallback: number) => Number(env[name] ?? fallback);

const ports = {
  postgres: num('AURA_PG_PORT', 54320),
  redis: num('AURA_REDIS_PORT', 63790),
  temporal: num('AURA_TEMPORAL_PORT', 7233),
  temporalUi: num('AURA_TEMPORAL_UI_PORT', 8233),
  api: num('API_PORT', 3000),
  realtime: num('REALTIME_PORT', 3001),
};

function postgresDataDir(dataDir: string): string {
  if (pgCanUse(dataDir)) return join(dataDir, 'postgres');
  // As root in a checkout the postgres account can't enter (under /root, say): keep the cluster
  // in a stable place of its own, one per checkout.
  const id = createHash('sha256').update(root).digest('hex').slice(0, 12);
  return join('/var/lib/aura', id, 'postgres');
}

const running: ManagedProcess[] = [];
let stopping = false;
async function stopAll(why: string, exitCode = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n[stack] stopping (${why})`);
  for (const p of [...running].reverse()) {
    await p.stop();
    console.log(`[stack] ${p.name} stopped`);
  }
  process.exit(exitCode);
}

async function main(): Promise<void> {
  const dataDir = resolve(env.AURA_DATA_DIR ?? join(root, '.data'));
  mkdirSync(dataDir, { recursive: true });
  const cliPath = env.TEMPORAL_CLI_PATH;
  if (!cliPath) throw new Error('TEMPORAL_CLI_PATH is not set: start the stack with `npm run stack`');

  process.on('SIGINT', () => void stopAll('SIGINT'));
  process.on('SIGTERM', () => void stopAll('SIGTERM'));

  const pgDir = postgresDataDir(dataDir);
  const postgres = await startPostgres({ dataDir: pgDir, port: ports.postgres, database: 'aura', output: { prefix: '[postgres]' } });
  running.push(postgres.process);
  const redis = await startRedis({ dataDir: join(dataDir, 'redis'), port: ports.redis, persist: true, output: { prefix: '[redis]' } });
  running.push(redis.process);
  const temporal = await startTemporalDevServer({
    cliPath,
    port: ports.temporal,
    uiPort: ports.temporalUi,
    dbFile: join(dataDir, 'temporal.sqlite'),
    namespace: 'default',
    output: { prefix: '[temporal]' },
  });
  running.push(temporal.process);

  const applied = await migrateAndSeed(postgres.url, { seed: true });
  console.log(`[stack] migrations: ${applied.length ? applied.join(', ') : 'up to date'}; reference data loaded`);

  const appEnv: NodeJS.ProcessEnv = {
    ...env,
    NODE_ENV: env.NODE_ENV ?? 'development',
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    TEMPORAL_ADDRESS: temporal.url,
    API_PORT: String(ports.api),
    REALTIME_PORT: String(ports.realtime),
    ...DEV_SECRETS,
    ...Object.fromEntries(Object.keys(DEV_SECRETS).filter((k) => env[k]).map((k) => [k, env[k]])),
  };
  // The processes run compiled JavaScript, as in production: no TypeScript compiled at run time.
  console.log('[stack] compiling (npm run build)');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  const node = (name: string, entry: string) => {
    const p = startProcess(name, process.execPath, [join(root, 'dist', entry.replace(/\.ts$/, '.js'))], {
      cwd: root,
      env: appEnv,
      output: { prefix: `[${name}]` },
    });
    running.push(p);
    void p.exited.then((code) => {
      if (!stopping) void stopAll(`${name} exited with ${code}`, 1);
    });
    return p;
  };
  const worker = node('worker', 'workers/main.ts');
  const api = node('api', 'api/main.ts');
  const realtime = node('realtime', 'realtime/main.ts');

  await waitUntil('api', async () => {
    const res = await fetch(`http://127.0.0.1:${ports.api}/v1/readyz`);
    if (!res.ok) throw new Error(`readyz ${res.status}`);
  }, 120_000, api.exited);
  await waitUntil('realtime', async () => {
    const res = await fetch(`http://127.0.0.1:${ports.realtime}/healthz`);
    if (!res.ok) throw new Error(`healthz ${res.status}`);
  }, 60_000, realtime.exited);
  void worker;

  console.log(`
[stack] Aura is up. Ctrl-C stops everything; data stays in ${dataDir}${pgDir.startsWith(dataDir) ? '' : ` (postgres: ${pgDir})`}
  API              http://127.0.0.1:${ports.api}/v1        (try /v1/readyz)
  WebSocket edge   ws://127.0.0.1:${ports.realtime}/v1/ws
  Temporal Web UI  http://127.0.0.1:${ports.temporalUi}
  Temporal gRPC    ${temporal.url}
  PostgreSQL       ${postgres.url.replace(/:[^:@/]+@/, ':•••@')}
  Redis            ${redis.url}
  A token for a demo user:  npx tsx scripts/dev-token.ts ${DEMO_USERS[0].id}
`);
}

main().catch((err: unknown) => {
  console.error(`[stack] ${err instanceof Error ? err.message : String(err)}`);
  void stopAll('start-up failed', 1);
});
