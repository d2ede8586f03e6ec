import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { DEV_SECRETS } from '../../config/dev-secrets';
import { accessTokensFromConfig } from '../../platform/auth/access-tokens';
import { migrateAndSeed } from '../../scripts/migrate';
import { startProcess, waitUntil, type ManagedProcess } from '../../scripts/stack/child-process';
import { startPostgres, startRedis, startTemporalDevServer, TEMPORAL_SQLITE_PRAGMAS } from '../../scripts/stack/services';
import { freePort } from '../../test/support/ports';
import type { emptyWorkflow, noopUpdateWorkflow } from './raw-workflows';

/**
 * `npm run bench:claims`: the daily-reward claim path against its engine, on a stack this
 * script starts and removes (PostgreSQL, Redis, the Temporal dev server with a SQLite file as
 * `npm run stack` runs it, the worker and the API as their production entry points). Closed-loop
 * clients at several concurrencies; per phase: throughput, p50/p99, CPU per process. See README.md.
 */

const root = resolve(__dirname, '../..');
const env = process.env;
const opts = {
  concurrencies: (env.BENCH_CONCURRENCY ?? '1,10,50').split(',').map(Number),
  phaseSeconds: Number(env.BENCH_PHASE_SECONDS ?? 4),
  /** Fresh users per first-claim phase at most (a phase also ends when they run out). */
  usersPerPhase: Number(env.BENCH_USERS_PER_PHASE ?? 1500),
  /** Comma-separated `PRAGMA=VALUE`; unset = the project default, `none` = the server's own defaults. */
  sqlitePragmas: env.BENCH_SQLITE_PRAGMAS === undefined ? TEMPORAL_SQLITE_PRAGMAS : env.BENCH_SQLITE_PRAGMAS === 'none' ? [] : env.BENCH_SQLITE_PRAGMAS.split(','),
  resultsFile: resolve(env.BENCH_RESULTS_FILE ?? join(root, 'bench/results/claims-latest.md')),
  label: env.BENCH_LABEL ?? '',
};

const T0 = performance.now();
const log = (message: string) => console.log(`[bench:claims ${((performance.now() - T0) / 1000).toFixed(1).padStart(5)}s] ${message}`);

// ---------------------------------------------------------------------------------------------
// CPU per process tree, from /proc (clock ticks of user + system time, the process and its descendants)

const TICKS_PER_SECOND = 100;

function procStat(pid: number): { ppid: number; ticks: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // utime + stime, plus cutime + cstime: a child that exited (a PostgreSQL backend) still counts.
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]) };
  } catch {
    return null;
  }
}

function treeTicks(rootPid: number): number {
  const all = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat) all.set(Number(entry), stat);
  }
  let total = 0;
  const stack = [rootPid];
  while (stack.length) {
    const pid = stack.pop()!;
    total += all.get(pid)?.ticks ?? 0;
    for (const [child, s] of all) if (s.ppid === pid) stack.push(child);
  }
  return total;
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (line[3] ?? 0) + (line[4] ?? 0);
  const total = line.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

type CpuProbe = Record<string, number>;

// ---------------------------------------------------------------------------------------------
// Closed-loop load: `concurrency` clients, each sending its next request when the last answers

interface PhaseResult {
  name: string;
  concurrency: number;
  ok: number;
  unexpected: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  cpu: Record<string, number>;
  machineBusy: number;
  note?: string;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function phase(
  name: string,
  concurrency: number,
  processes: Record<string, number>,
  request: (client: number) => Promise<'ok' | 'unexpected' | 'exhausted'>,
): Promise<PhaseResult> {
  const latencies: number[] = [];
  let ok = 0;
  let unexpected = 0;
  let exhausted = false;
  const cpuBefore: CpuProbe = Object.fromEntries(Object.entries(processes).map(([k, pid]) => [k, treeTicks(pid)]));
  const machineBefore = machineTicks();
  const started = performance.now();
  const deadline = started + opts.phaseSeconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, client) => {
      while (!exhausted && performance.now() < deadline) {
        const t = performance.now();
        const outcome = await request(client).catch(() => 'unexpected' as const);
        if (outcome === 'exhausted') {
          exhausted = true;
          break;
        }
        latencies.push(performance.now() - t);
        if (outcome === 'ok') ok += 1;
        else unexpected += 1;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const machineAfter = machineTicks();
  const cpu = Object.fromEntries(
    Object.entries(processes).map(([k, pid]) => [k, (treeTicks(pid) - cpuBefore[k]!) / TICKS_PER_SECOND / seconds]),
  );
  latencies.sort((a, b) => a - b);
  const result: PhaseResult = {
    name,
    concurrency,
    ok,
    unexpected,
    seconds,
    perSecond: (ok + unexpected) / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpu,
    machineBusy: (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total),
    ...(exhausted ? { note: 'ran out of fresh users' } : {}),
  };
  const cpuText = Object.entries(cpu).map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`).join(', ');
  log(
    `${name} c=${concurrency}: ${result.perSecond.toFixed(1)}/s, p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, ` +
      `${ok} ok, ${unexpected} unexpected; CPU ${cpuText}; machine ${(result.machineBusy * 100).toFixed(0)}%`,
  );
  return result;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const cliPath = env.TEMPORAL_CLI_PATH;
  if (!cliPath) throw new Error('TEMPORAL_CLI_PATH is unset: run through `npm run bench:claims`');
  const dir = mkdtempSync('/tmp/aura-bench-claims-');
  chmodSync(dir, 0o755); // the postgres account must reach its data dir
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const running: ManagedProcess[] = [];
  const stopAll = async () => {
    for (const p of running.reverse()) await p.stop('SIGTERM', 10_000).catch(() => undefined);
    if (env.BENCH_KEEP_DATA !== '1') rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    await run(cliPath, dir, logs, running);
  } finally {
    await stopAll();
  }
}

const loadAtStart = loadavg()[0]!;

async function run(cliPath: string, dir: string, logs: string, running: ManagedProcess[]): Promise<void> {
  const [pgPort, redisPort, temporalPort, apiPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const [postgres, redis, temporal] = await Promise.all([
    startPostgres({ dataDir: join(dir, 'postgres'), port: pgPort, database: 'aura', output: { file: join(logs, 'postgres.log') } }),
    startRedis({ dataDir: join(dir, 'redis'), port: redisPort, persist: false, output: { file: join(logs, 'redis.log') } }),
    startTemporalDevServer({
      cliPath,
      port: temporalPort,
      dbFile: join(dir, 'temporal.sqlite'), // as `npm run stack` runs it
      namespace: 'default',
      sqlitePragmas: opts.sqlitePragmas,
      output: { file: join(logs, 'temporal.log') },
    }),
  ]);
  running.push(postgres.process, redis.process, temporal.process);
  await migrateAndSeed(postgres.url, { seed: false });
  log(`servers up (SQLite pragmas: ${opts.sqlitePragmas.join(' ') || 'server defaults'})`);

  const rawTaskQueue = 'bench-raw';
  const appEnv: NodeJS.ProcessEnv = {
    ...env,
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    TEMPORAL_ADDRESS: temporal.url,
    API_PORT: String(apiPort),
    // One client address and few users drive the load: the per-IP and per-user limits are not what is measured.
    RATE_LIMIT_IP_PER_MINUTE: '100000000',
    RATE_LIMIT_USER_PER_MINUTE: '100000000',
    BENCH_RAW_TASK_QUEUE: rawTaskQueue,
    ...DEV_SECRETS,
  };
  const node = (name: string, entry: string) => {
    const p = startProcess(name, process.execPath, ['--import', 'tsx', join(root, entry)], {
      cwd: root,
      env: appEnv,
      output: { file: join(logs, `${name}.log`) },
    });
    running.push(p);
    return p;
  };
  const worker = node('worker', 'workers/main.ts');
  const rawWorker = node('raw-worker', 'bench/claims/raw-worker.ts');
  const api = node('api', 'api/main.ts');
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  await waitUntil('api', async () => {
    const res = await fetch(`${apiUrl}/v1/readyz`);
    if (!res.ok) throw new Error(`readyz ${res.status}`);
  }, 120_000, api.exited);

  const pids = {
    temporal: temporal.process.child.pid!,
    api: api.child.pid!,
    worker: worker.child.pid!,
    postgres: postgres.process.child.pid!,
  };
  const rawPids = { temporal: pids.temporal, 'raw worker': rawWorker.child.pid! };

  // Users and their tokens, made directly in PostgreSQL (sign-in is not what is measured).
  const concurrencies = opts.concurrencies;
  const tokens = accessTokensFromConfig({
    ACCESS_TOKEN_SECRET: DEV_SECRETS.ACCESS_TOKEN_SECRET,
    ACCESS_TOKEN_ISSUER: 'aura',
    ACCESS_TOKEN_AUDIENCE: 'aura-app',
    ACCESS_TOKEN_TTL_SECONDS: 3600,
  });
  const pg = new PgClient({ connectionString: postgres.url });
  await pg.connect();
  const newUsers = async (n: number): Promise<string[]> => {
    const { rows } = await pg.query<{ id: string }>(
      `WITH u AS (INSERT INTO users (display_name, time_zone) SELECT 'bench ' || g, 'UTC' FROM generate_series(1, $1::int) g RETURNING id),
            w AS (INSERT INTO wallets (user_id) SELECT id FROM u)
       SELECT id FROM u`,
      [n],
    );
    return Promise.all(rows.map((r) => tokens.sign({ userId: r.id })));
  };
  const pools: string[][] = [];
  for (const n of [50, ...concurrencies.map(() => opts.usersPerPhase)]) pools.push(await newUsers(n));
  await pg.end();
  const [warmUpUsers, ...firstClaimPools] = pools;
  log(`${pools.flat().length} users made`);

  const call = async (method: 'GET' | 'POST', path: string, token: string): Promise<number> => {
    const res = await fetch(`${apiUrl}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.status;
  };
  const claim = (token: string) => call('POST', '/v1/rewards/daily/claim', token);

  // Warm-up: JIT, connection pools, the worker's workflow cache (not measured).
  for (let i = 0; i < warmUpUsers!.length; i += 10) await Promise.all(warmUpUsers!.slice(i, i + 10).map(claim));
  const results: PhaseResult[] = [];

  // 1. First claims: Update-with-Start on a user with no flow yet.
  const claimed: string[] = [];
  for (const [i, c] of concurrencies.entries()) {
    const pool = firstClaimPools[i]!;
    results.push(
      await phase('first claim', c, pids, async () => {
        const token = pool.pop();
        if (token === undefined) return 'exhausted';
        const status = await claim(token);
        if (status === 200) claimed.push(token);
        return status === 200 ? 'ok' : 'unexpected';
      }),
    );
  }
  const repeatUsers = claimed.length ? claimed : warmUpUsers!;
  // 2. Repeated claims: the same day again, refused by the update's validator (409).
  for (const c of concurrencies) {
    let next = 0;
    results.push(await phase('repeated claim (409)', c, pids, async () => ((await claim(repeatUsers[next++ % repeatUsers.length]!)) === 409 ? 'ok' : 'unexpected')));
  }
  // 3. Status reads: the user row, then a query to the flow.
  for (const c of concurrencies) {
    let next = 0;
    results.push(
      await phase('status read', c, pids, async () => ((await call('GET', '/v1/rewards/daily', repeatUsers[next++ % repeatUsers.length]!)) === 200 ? 'ok' : 'unexpected')),
    );
  }

  // 4. The server's raw ceiling, from this process straight to Temporal (no API, no database).
  const connection = await Connection.connect({ address: temporal.url });
  const client = new Client({ connection, namespace: 'default' });
  for (let i = 0; i < 20; i++) await client.workflow.execute<typeof emptyWorkflow>('emptyWorkflow', { taskQueue: rawTaskQueue, workflowId: `warm-${randomUUID()}` });
  for (const c of concurrencies) {
    results.push(
      await phase('raw: empty workflow, start to completion', c, rawPids, async () => {
        await client.workflow.execute<typeof emptyWorkflow>('emptyWorkflow', { taskQueue: rawTaskQueue, workflowId: `empty-${randomUUID()}` });
        return 'ok';
      }),
    );
  }
  for (const localActivity of [false, true]) {
    for (const c of concurrencies) {
      results.push(
        await phase(`raw: Update-with-Start, no-op ${localActivity ? 'local ' : ''}activity`, c, rawPids, async () => {
          const start = new WithStartWorkflowOperation<typeof noopUpdateWorkflow>('noopUpdateWorkflow', {
            workflowId: `uws-${randomUUID()}`,
            taskQueue: rawTaskQueue,
            workflowIdConflictPolicy: 'USE_EXISTING',
            args: [{ localActivity }],
          });
          await client.workflow.executeUpdateWithStart('noop', { startWorkflowOperation: start });
          return 'ok';
        }),
      );
    }
  }
  await connection.close();

  writeFileSync(opts.resultsFile, report(results));
  log(`results in ${opts.resultsFile}`);
}

function report(results: PhaseResult[]): string {
  const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
  const ms = (v: number) => (Number.isNaN(v) ? '–' : v < 10 ? v.toFixed(1) : v.toFixed(0));
  const pct = (v: number | undefined) => (v === undefined ? '' : `${(v * 100).toFixed(0)}%`);
  const lines = [
    `# Claim path benchmark${opts.label ? `: ${opts.label}` : ''}`,
    '',
    `Run of ${new Date().toISOString().slice(0, 16)}Z, ${cpus().length} × ${cpuModel}, \`npm run bench:claims\`, ` +
      `${opts.phaseSeconds} s per phase, closed loop (each client sends its next request when the last answers).`,
    `Temporal dev server with a SQLite file; pragmas: ${opts.sqlitePragmas.map((p) => `\`${p}\``).join(', ') || 'server defaults'}.`,
    `CPU = share of one core used by the process and its children during the phase; machine = all cores busy (other users of the machine included). ` +
      `Load average (1 min) at the start ${loadAtStart.toFixed(1)}, at the end ${loadavg()[0]!.toFixed(1)}.`,
    '',
    '| phase | clients | req/s | p50 ms | p99 ms | ok | unexpected | Temporal CPU | API CPU | worker CPU | PostgreSQL CPU | machine |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.name}${r.note ? ` (${r.note})` : ''} | ${r.concurrency} | ${r.perSecond.toFixed(1)} | ${ms(r.p50)} | ${ms(r.p99)} | ${r.ok} | ${r.unexpected} | ` +
        `${pct(r.cpu.temporal)} | ${pct(r.cpu.api)} | ${pct(r.cpu.worker ?? r.cpu['raw worker'])} | ${pct(r.cpu.postgres)} | ${pct(r.machineBusy)} |`,
    ),
    '',
    'Raw phases run from the bench process straight to Temporal; their "worker CPU" is the raw worker (`bench/claims/raw-worker.ts`).',
    '',
  ];
  return lines.join('\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
