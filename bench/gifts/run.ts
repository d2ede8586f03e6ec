import 'reflect-metadata';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { DataSource } from 'typeorm';
import { loadConfig } from '../../config';
import { createDataSource } from '../../db/data-source';
import { RoomLiveState } from '../../db/live/room-live-state';
import { Ledger } from '../../db/repositories/ledger';
import { accessTokensFromConfig } from '../../platform/auth/access-tokens';
import { createRedis } from '../../platform/redis';
import { startProcess, waitUntil } from '../../scripts/stack/child-process';
import { createRoomService, liveStateSettingsFromConfig } from '../../services/rooms';
import { freePort } from '../../test/support/ports';
import { benchAppEnv, benchRun, commitOf, startBenchStores } from '../support/bench-run';
import type { ListenerCommand, ListenerReply } from '../realtime/ipc';
import { Histogram, type HistogramData } from '../realtime/stats';
import type { LoadCommand, LoadReport, LoadTask } from './ipc';
import { ask, cpuBetween, cpuSample, forkTs as forkTsProcess } from './processes';

/**
 * `npm run bench:gifts`: the gift send path under load, with the daily-reward claim (through
 * Temporal) and bare Koa measured in the same run for comparison. Starts a throwaway
 * PostgreSQL, Redis and Temporal dev server, the API and the realtime edge (compiled, as
 * production runs them) and the worker as their own processes; load comes from separate
 * sender processes (closed loop over keep-alive HTTP), room events are received by listener
 * processes holding real sockets on the edge. See README.md.
 *
 *  (a) spread: 1,000 senders, each gifting its own receiver, 20 + 20 per room in 50 rooms;
 *  (b) hot receiver: 1,000 senders gifting one host in one room, 1,000 listeners on the edge
 *      measuring send → `gift.sent` / `gift.combo` receipt by the event's sendId.
 */

const root = resolve(__dirname, '../..');
const env = process.env;
const list = (name: string, fallback: number[]) => (env[name] ? env[name]!.split(',').map(Number) : fallback);
const opts = {
  senders: Number(env.BENCH_SENDERS ?? 1000),
  roomsA: Number(env.BENCH_ROOMS_A ?? 50),
  listeners: Number(env.BENCH_LISTENERS ?? 1000),
  /** Requests in flight in all, per level (split over the sender processes). */
  concurrency: list('BENCH_CONCURRENCY', [16, 32, 64]),
  claimConcurrency: Number(env.BENCH_CLAIM_CONCURRENCY ?? 16),
  senderProcesses: Number(env.BENCH_SENDER_PROCESSES ?? 2),
  listenerProcesses: Number(env.BENCH_LISTENER_PROCESSES ?? 2),
  warmupSeconds: Number(env.BENCH_WARMUP_SECONDS ?? 5),
  seconds: Number(env.BENCH_SECONDS ?? 20),
  claimUsers: Number(env.BENCH_CLAIM_USERS ?? 2000),
  /** Run the API and edge through tsx instead of dist/ (skips `npm run build`). */
  fromSource: env.BENCH_FROM_SOURCE === '1',
  /** Write V8 CPU profiles of the API (node --cpu-prof) into this folder. */
  profileDir: env.BENCH_PROFILE_DIR ? resolve(env.BENCH_PROFILE_DIR) : undefined,
  /** Log every PostgreSQL statement with its duration (log_min_duration_statement=0; slows it): for profiling, with BENCH_KEEP_DATA=1. */
  pgLogStatements: env.BENCH_PG_LOG_STATEMENTS === '1',
  /** Which parts run: a, b, claims, bare. */
  scenarios: (env.BENCH_SCENARIOS ?? 'a,b,claims,bare').split(','),
  out: resolve(root, env.BENCH_OUT ?? 'bench/results/gifts-latest.md'),
};
const GIFT_PRICE = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => performance.timeOrigin + performance.now();

// Everything started is stopped on the way out, newest first, whatever the way out is.
const { log, cleanups, cleanup } = benchRun('gifts');

// --- child processes ------------------------------------------------------------------------

function forkTs(file: string, childEnv: NodeJS.ProcessEnv): ChildProcess {
  const { child, stop } = forkTsProcess(resolve(__dirname, file), { cwd: root, env: childEnv });
  cleanups.push({ what: file, run: stop });
  return child;
}

const askListener = <T extends ListenerReply['type']>(child: ChildProcess, command: ListenerCommand, type: T, ms: number) =>
  ask<Extract<ListenerReply, { type: T }>>(child, command, type, ms);

// --- one measured phase ---------------------------------------------------------------------

interface Phase {
  scenario: string;
  concurrency: number;
  ok: number;
  perSecond: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  statuses: Record<string, number>;
  errorCodes: Record<string, number>;
  exhausted: boolean;
  seconds: number;
  cpu: Record<string, number>;
  load: [number, number];
  /** Redis commands and PostgreSQL commits per success (every process's, the load's share dominates). */
  redisCommandsPerOk: number;
  pgCommitsPerOk: number;
  /** Redis commands per success by command (INFO commandstats), the ones at ≥ 0.05. */
  redisByCommandPerOk: Record<string, number>;
  /** Mean number of the API's PostgreSQL connections in each state over the window, sampled every 250 ms. */
  apiConnections: Record<string, number>;
  /** (b): send → room event receipt at the listeners, by event type. */
  events?: Record<string, { sends: number; deliveries: number; p50: number; p99: number; p999: number; max: number }>;
  sendsWithoutEvent?: number;
  /** Listener sockets still open once the events drained (the edge closes a socket that falls too far behind). */
  socketsOpen?: number;
  /** Seconds after the last send until the listeners stopped receiving. */
  drainSeconds?: number;
}

interface Processes {
  senders: ChildProcess[];
  listeners: ChildProcess[];
  roots: Record<string, number[]>;
  /** Reads Redis's total commands processed (INFO stats) and PostgreSQL's commits. */
  counters: () => Promise<{ redisCommands: number; pgCommits: number; byCommand: Record<string, number> }>;
  /** The API's pooled PostgreSQL connections by state right now (pg_stat_activity). */
  apiConnections: () => Promise<Record<string, number>>;
}

async function phase(
  scenario: string,
  procs: Processes,
  base: Omit<LoadCommand, 'type' | 'tasks' | 'concurrency' | 'measureFrom' | 'measureUntil' | 'baseUrl'>,
  baseUrl: string,
  tasks: LoadTask[],
  concurrency: number,
  warmupSeconds: number,
  seconds: number,
): Promise<{ phase: Phase; reports: LoadReport[] }> {
  const n = procs.senders.length;
  const perProcess = Math.max(1, Math.round(concurrency / n));
  const start = nowMs();
  const measureFrom = start + warmupSeconds * 1000;
  const measureUntil = measureFrom + seconds * 1000;
  const load0 = loadavg()[0]!;
  let cpu0: Record<string, number> = {};
  let counters0: Awaited<ReturnType<Processes['counters']>> = { redisCommands: 0, pgCommits: 0, byCommand: {} };
  const connections: Record<string, number> = {};
  let samples = 0;
  let sampler: NodeJS.Timeout | undefined;
  const cpuTimer = setTimeout(() => {
    cpu0 = cpuSample(procs.roots);
    void procs.counters().then((c) => (counters0 = c));
    sampler = setInterval(() => {
      void procs.apiConnections().then((byState) => {
        if (nowMs() > measureUntil) return;
        samples++;
        for (const [k, v] of Object.entries(byState)) connections[k] = (connections[k] ?? 0) + v;
      });
    }, 250);
  }, Math.max(0, measureFrom - nowMs()));
  const reports = await Promise.all(
    procs.senders.map((child, i) =>
      ask<LoadReport>(
        child,
        {
          type: 'run',
          baseUrl,
          // Each process its own share: in a closed loop, no sender has two requests in flight unless its turn comes round first.
          tasks: tasks.length < n ? tasks : tasks.filter((_, j) => j % n === i),
          concurrency: perProcess,
          measureFrom,
          measureUntil,
          ...base,
        } satisfies LoadCommand,
        'done',
        (warmupSeconds + seconds) * 1000 + 60_000,
      ),
    ),
  );
  clearTimeout(cpuTimer);
  clearInterval(sampler);
  const cpu1 = cpuSample(procs.roots);
  const counters1 = await procs.counters();
  const windowMs = Math.max(...reports.map((r) => r.windowMs));
  const latency = Histogram.merge(reports.map((r) => r.latency));
  const sum = (f: (r: LoadReport) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const r of reports) for (const [k, v] of Object.entries(f(r))) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const ok = reports.reduce((s, r) => s + r.ok, 0);
  const result: Phase = {
    scenario,
    concurrency: perProcess * n,
    ok,
    perSecond: ok / (windowMs / 1000),
    p50: latency.percentile(0.5),
    p99: latency.percentile(0.99),
    p999: latency.percentile(0.999),
    max: latency.maxMs,
    statuses: sum((r) => r.statuses),
    errorCodes: sum((r) => r.errorCodes),
    exhausted: reports.some((r) => r.exhausted),
    seconds: windowMs / 1000,
    cpu: Object.keys(cpu0).length ? cpuBetween(cpu0, cpu1, (nowMs() - measureFrom) / 1000) : {},
    load: [load0, loadavg()[0]!],
    redisCommandsPerOk: (counters1.redisCommands - counters0.redisCommands) / Math.max(1, ok),
    pgCommitsPerOk: (counters1.pgCommits - counters0.pgCommits) / Math.max(1, ok),
    redisByCommandPerOk: Object.fromEntries(
      Object.entries(counters1.byCommand)
        .map(([k, v]) => [k, (v - (counters0.byCommand[k] ?? 0)) / Math.max(1, ok)] as const)
        .filter(([, v]) => v >= 0.05)
        .sort((x, y) => y[1] - x[1]),
    ),
    apiConnections: Object.fromEntries(Object.entries(connections).map(([k, v]) => [k, v / Math.max(1, samples)])),
  };
  return { phase: result, reports };
}

const f1 = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '–' : v < 10 ? v.toFixed(1) : v.toFixed(0));
const pct = (v: number | undefined) => (v === undefined ? '–' : `${(v * 100).toFixed(0)}%`);

function logPhase(p: Phase): void {
  const cpu = Object.entries(p.cpu).map(([k, v]) => `${k} ${pct(v)}`).join(', ');
  const errors = Object.entries(p.errorCodes).map(([k, v]) => `${v}× ${k}`).join(', ');
  const events = p.events
    ? ` | ${p.socketsOpen} sockets open after | send→event ${Object.entries(p.events).map(([t, e]) => `${t}: ${e.sends} sends, p50 ${f1(e.p50)} p99 ${f1(e.p99)} ms`).join('; ')}; ${p.sendsWithoutEvent} sends without an event`
    : '';
  const conns = Object.entries(p.apiConnections).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
  log(
    `${p.scenario} c=${p.concurrency}: ${p.perSecond.toFixed(1)}/s, p50 ${f1(p.p50)} p99 ${f1(p.p99)} p99.9 ${f1(p.p999)} ms, ${p.ok} ok` +
      `; per ok: ${p.redisCommandsPerOk.toFixed(1)} Redis commands (${Object.entries(p.redisByCommandPerOk).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(' ')}), ${p.pgCommitsPerOk.toFixed(2)} PG commits; API PG connections: ${conns}` +
      `${errors ? `, refused: ${errors}` : ''}${p.exhausted ? ' (ran out of tasks)' : ''}${events}; CPU ${cpu}; load ${p.load.map((l) => l.toFixed(1)).join('→')}`,
  );
}

// --- the run --------------------------------------------------------------------------------

async function main(): Promise<void> {
  const cliPath = env.TEMPORAL_CLI_PATH;
  if (!cliPath) throw new Error('TEMPORAL_CLI_PATH is unset: run through `npm run bench:gifts`');
  const loadAtStart = loadavg();
  if (!opts.fromSource) {
    log('npm run build');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  }
  const [pgPort, redisPort, temporalPort, apiPort, edgePort, barePort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const stores = await startBenchStores({
    name: 'gifts',
    cliPath,
    ports: { postgres: pgPort, redis: redisPort, temporal: temporalPort },
    cleanups,
    log,
    keep: env.BENCH_KEEP_DATA === '1',
  });
  const { logs, postgres, redis, temporal } = stores;
  const dataSource = await createDataSource({ url: postgres.url, poolSize: 8, applicationName: 'bench-gifts' }).initialize();
  cleanups.push({ what: 'orchestrator pool', run: () => dataSource.destroy() });
  // Before the API starts: its catalog is read once and then refreshed every GIFT_CATALOG_REFRESH_MS.
  const giftId = await createBenchGift(dataSource);
  if (opts.pgLogStatements) {
    await dataSource.query(`ALTER SYSTEM SET log_min_duration_statement = 0`);
    await dataSource.query(`ALTER SYSTEM SET log_line_prefix = '%m [%p] %a '`);
    await dataSource.query(`SELECT pg_reload_conf()`);
  }

  const appEnv = benchAppEnv(env, stores, apiPort, {
    REALTIME_HOST: '127.0.0.1',
    REALTIME_PORT: String(edgePort),
    REALTIME_MAX_SOCKETS_PER_IP: '1000000',
    REALTIME_UPGRADES_PER_IP_PER_MINUTE: '1000000',
    ROOM_CREATES_PER_USER_PER_HOUR: '1000000',
  });
  const config = loadConfig(appEnv);
  const node = (name: string, entry: string, compiled: string | null, extraArgs: string[] = []) => {
    const args = compiled && !opts.fromSource ? [...extraArgs, join(root, compiled)] : [...extraArgs, '--import', 'tsx', join(root, entry)];
    const p = startProcess(name, process.execPath, args, { cwd: root, env: appEnv, output: { file: join(logs, `${name}.log`) } });
    cleanups.push({ what: name, run: () => p.stop('SIGTERM', 10_000) });
    return p;
  };
  const worker = node('worker', 'workers/main.ts', null);
  const api = node('api', 'api/main.ts', 'dist/api/main.js', opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : []);
  const edge = node('edge', 'realtime/main.ts', 'dist/realtime/main.js');
  const bare = startProcess('bare-koa', process.execPath, ['--import', 'tsx', join(root, 'bench/api/bare-koa.ts')], {
    cwd: root,
    env: { ...env, PORT: String(barePort) },
    output: { file: join(logs, 'bare-koa.log') },
  });
  cleanups.push({ what: 'bare-koa', run: () => bare.stop('SIGTERM', 5_000) });
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  await waitUntil('api', async () => {
    const res = await fetch(`${apiUrl}/v1/readyz`);
    if (!res.ok) throw new Error(`readyz ${res.status}: ${await res.text()}`);
  }, 180_000, api.exited);
  await waitUntil('edge', async () => {
    const res = await fetch(`http://127.0.0.1:${edgePort}/healthz`);
    if (!res.ok) throw new Error(`healthz ${res.status}`);
  }, 60_000, edge.exited);
  await waitUntil('bare-koa', () => fetch(`http://127.0.0.1:${barePort}/`), 30_000, bare.exited);
  log(`API pid ${api.child.pid} (${opts.fromSource ? 'tsx' : 'dist/'}), edge pid ${edge.child.pid}, worker pid ${worker.child.pid}`);

  // --- provisioning: users, wallets, the gift, rooms and their members ---
  const redisClient = createRedis(redis.url, { name: 'bench-gifts' });
  cleanups.push({ what: 'orchestrator redis', run: () => redisClient.disconnect() });
  const tokens = accessTokensFromConfig(config);
  const { rooms } = createRoomService({ config, dataSource, redis: redisClient });
  // Members made here are leased for an hour: they never lapse mid-run.
  const seeder = new RoomLiveState(redisClient, { ...liveStateSettingsFromConfig(config), leaseMs: 3_600_000 });
  const newUsers = async (n: number, label: string): Promise<string[]> => {
    const rows = (await dataSource.query(
      `WITH u AS (INSERT INTO users (display_name, time_zone) SELECT $2 || ' ' || g, 'UTC' FROM generate_series(1, $1::int) g RETURNING id),
            w AS (INSERT INTO wallets (user_id) SELECT id FROM u)
       SELECT id FROM u`,
      [n, label],
    )) as { id: string }[];
    return rows.map((r) => r.id);
  };
  const ledger = new Ledger(dataSource);
  const fund = async (users: string[]) => {
    for (let i = 0; i < users.length; i += 16) {
      await Promise.all(users.slice(i, i + 16).map((userId) => ledger.creditCoins({ userId, amount: 1_000_000, reason: 'recharge', idempotencyKey: `bench-fund:${userId}` })));
    }
  };
  const join_ = async (roomId: string, users: string[]) => {
    for (let i = 0; i < users.length; i += 200) await Promise.all(users.slice(i, i + 200).map((u) => seeder.join(roomId, u, `bench-${u}`)));
  };
  const sign = (users: string[]) => Promise.all(users.map((userId) => tokens.sign({ userId }, 3600)));
  const giftTask = (roomId: string, token: string, to: string): LoadTask => ({
    method: 'POST',
    path: `/v1/rooms/${roomId}/gifts`,
    token,
    body: JSON.stringify({ giftId, quantity: 1, to: [to] }),
  });

  const tasksA: LoadTask[] = [];
  if (opts.scenarios.includes('a')) {
    const senders = await newUsers(opts.senders, 'sender a');
    const receivers = await newUsers(opts.senders, 'receiver a');
    await fund(senders);
    const senderTokens = await sign(senders);
    const perRoom = Math.ceil(opts.senders / opts.roomsA);
    for (let r = 0; r < opts.roomsA; r++) {
      const [owner] = await newUsers(1, 'owner a');
      const room = await rooms.create(owner!, { type: 'voice', name: `bench gifts ${r}`, seatCount: 9, seatMode: 'free' });
      const idx = Array.from({ length: perRoom }, (_, k) => r * perRoom + k).filter((k) => k < opts.senders);
      await join_(room.id, [...idx.map((k) => senders[k]!), ...idx.map((k) => receivers[k]!)]);
      for (const k of idx) tasksA.push(giftTask(room.id, senderTokens[k]!, receivers[k]!));
    }
    log(`(a): ${senders.length} senders funded, ${receivers.length} receivers, ${opts.roomsA} rooms`);
  }
  const tasksB: LoadTask[] = [];
  let roomB = '';
  let listenerTokens: string[] = [];
  if (opts.scenarios.includes('b')) {
    const [host] = await newUsers(1, 'host b');
    const senders = await newUsers(opts.senders, 'sender b');
    const listeners = await newUsers(opts.listeners, 'listener b');
    await fund(senders);
    const room = await rooms.create(host!, { type: 'voice', name: 'bench gifts hot host', seatCount: 9, seatMode: 'free' });
    roomB = room.id;
    // Listeners are members before their sockets join: a join then sends the joiner its
    // snapshot, not a member.joined to the thousand others (see bench/README.md, "Joins").
    await join_(room.id, [host!, ...senders, ...listeners]);
    const senderTokens = await sign(senders);
    listenerTokens = await sign(listeners);
    for (const token of senderTokens) tasksB.push(giftTask(room.id, token, host!));
    log(`(b): ${senders.length} senders funded, one host, ${listeners.length} listeners to connect`);
  }
  const claimTasks: LoadTask[] = [];
  if (opts.scenarios.includes('claims')) {
    for (const token of await sign(await newUsers(opts.claimUsers, 'claimer'))) claimTasks.push({ method: 'POST', path: '/v1/rewards/daily/claim', token });
  }

  // --- load processes ---
  const childEnv = { ...appEnv, LOG_LEVEL: 'warn' };
  const senders = Array.from({ length: opts.senderProcesses }, () => forkTs('sender.ts', childEnv));
  const listeners = opts.scenarios.includes('b') ? Array.from({ length: opts.listenerProcesses }, () => forkTs('../realtime/listener.ts', childEnv)) : [];
  const roots: Record<string, number[]> = {
    api: [api.child.pid!],
    postgres: [postgres.process.child.pid!],
    redis: [redis.process.child.pid!],
    edge: [edge.child.pid!],
    temporal: [temporal.process.child.pid!],
    worker: [worker.child.pid!],
    bare: [bare.child.pid!],
    senders: senders.map((s) => s.pid!),
    listeners: listeners.map((l) => l.pid!),
  };
  const procs: Processes = {
    senders,
    listeners,
    roots,
    counters: async () => {
      const info = await redisClient.info('stats');
      const byCommand: Record<string, number> = {};
      for (const m of (await redisClient.info('commandstats')).matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) byCommand[m[1]!] = Number(m[2]);
      const [row] = (await dataSource.query(`SELECT xact_commit::bigint AS commits FROM pg_stat_database WHERE datname = current_database()`)) as { commits: string }[];
      return { redisCommands: Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0), pgCommits: Number(row?.commits ?? 0), byCommand };
    },
    apiConnections: async () => {
      const rows = (await dataSource.query(
        `SELECT CASE WHEN wait_event_type = 'Lock' THEN 'waiting on a lock' ELSE state END AS state, count(*)::int AS n
           FROM pg_stat_activity WHERE application_name LIKE 'aura-api%' GROUP BY 1`,
      )) as { state: string; n: number }[];
      return Object.fromEntries(rows.map((r) => [r.state, r.n]));
    },
  };
  const phases: Phase[] = [];
  const giftLoad = { once: false, idempotencyKey: true, okStatus: 201 } as const;

  if (tasksA.length) {
    for (const c of opts.concurrency) {
      const { phase: p } = await phase('(a) 1,000 → 1,000', procs, { ...giftLoad, recordSendTimes: false }, apiUrl, tasksA, c, opts.warmupSeconds, opts.seconds);
      logPhase(p);
      phases.push(p);
    }
  }

  if (tasksB.length) {
    // The send path alone first: the same room and host, no sockets to fan the events out to.
    for (const c of opts.concurrency) {
      const { phase: p } = await phase('(b) hot receiver, no listeners', procs, { ...giftLoad, recordSendTimes: false }, apiUrl, tasksB, c, opts.warmupSeconds, opts.seconds);
      logPhase(p);
      phases.push(p);
    }
  }
  if (tasksB.length && listenerTokens.length) {
    const share = Math.ceil(listenerTokens.length / listeners.length);
    const connected = await Promise.all(
      listeners.map((l, i) =>
        askListener(l, { type: 'connect', host: '127.0.0.1', port: edgePort, room: roomB, tokens: listenerTokens.slice(i * share, (i + 1) * share), concurrency: 64, timeoutMs: 60_000 }, 'connected', 180_000),
      ),
    );
    const joined = connected.reduce((s, c) => s + c.joined, 0);
    log(`(b): ${joined} listener sockets joined${connected.some((c) => c.failed) ? `, ${connected.reduce((s, c) => s + c.failed, 0)} failed: ${connected.flatMap((c) => c.errors).join('; ')}` : ''}`);
    for (const c of opts.concurrency) {
      await Promise.all(listeners.map((l) => askListener(l, { type: 'track', on: true }, 'tracking', 120_000)));
      const { phase: p, reports } = await phase(`(b) hot receiver, ${joined.toLocaleString('en')} listeners`, procs, { ...giftLoad, recordSendTimes: true }, apiUrl, tasksB, c, opts.warmupSeconds, opts.seconds);
      // The last sends' events: wait until the listeners stop receiving (a combo update goes out
      // within 500 ms; a backlog at the edge or in the listeners takes longer), at most 60 s.
      const drainStarted = nowMs();
      for (let last = -1; nowMs() - drainStarted < 60_000; ) {
        await sleep(1_000);
        const statuses = await Promise.all(listeners.map((l) => askListener(l, { type: 'status' }, 'status', 120_000)));
        const received = statuses.reduce((sum, x) => sum + x.received, 0);
        p.socketsOpen = statuses.reduce((sum, x) => sum + x.open, 0);
        if (received === last) break;
        last = received;
      }
      p.drainSeconds = (nowMs() - drainStarted) / 1000;
      const sendTimes = reports.flatMap((r) => r.sendTimes);
      const latencies = await Promise.all(listeners.map((l) => askListener(l, { type: 'sendLatency', sendTimes }, 'sendLatency', 120_000)));
      const types = [...new Set(latencies.flatMap((l) => Object.keys(l.byType)))];
      p.events = {};
      for (const type of types) {
        const parts = latencies.map((l) => l.byType[type]).filter((x): x is { latency: HistogramData; sends: number } => Boolean(x));
        const h = Histogram.merge(parts.map((x) => x.latency));
        // Every listener process sees every send; `sends` counts them once.
        p.events[type] = { sends: Math.max(...parts.map((x) => x.sends)), deliveries: h.count, p50: h.percentile(0.5), p99: h.percentile(0.99), p999: h.percentile(0.999), max: h.maxMs };
      }
      p.sendsWithoutEvent = Math.max(...latencies.map((l) => l.withoutEvent));
      logPhase(p);
      phases.push(p);
    }
    await Promise.all(listeners.map((l) => askListener(l, { type: 'track', on: false }, 'tracking', 120_000)));
    await Promise.all(listeners.map((l) => askListener(l, { type: 'disconnect' }, 'disconnected', 30_000)));
  }

  if (claimTasks.length) {
    const { phase: p } = await phase(
      'daily-reward first claim (Temporal)',
      procs,
      { once: true, idempotencyKey: false, okStatus: 200, recordSendTimes: false },
      apiUrl,
      claimTasks,
      opts.claimConcurrency,
      opts.warmupSeconds,
      opts.seconds,
    );
    logPhase(p);
    phases.push(p);
  }
  if (opts.scenarios.includes('bare')) {
    const bareTasks: LoadTask[] = [{ method: 'GET', path: '/' }];
    const { phase: p } = await phase('bare Koa (GET, no middleware)', procs, { once: false, idempotencyKey: false, okStatus: 200, recordSendTimes: false }, `http://127.0.0.1:${barePort}`, bareTasks, Math.max(...opts.concurrency), 3, 10);
    logPhase(p);
    phases.push(p);
  }

  // Every answered 201 is a committed send: the books must agree.
  const [books] = (await dataSource.query(
    `SELECT (SELECT count(*) FROM gift_sends)::int AS sends, (SELECT count(*) FROM gift_receipts)::int AS receipts,
            (SELECT count(*) FROM ledger_entries WHERE reason = 'gift_sent')::int AS debits,
            (SELECT count(*) FROM wallets WHERE coins < 0)::int AS negative`,
  )) as { sends: number; receipts: number; debits: number; negative: number }[];
  log(`books: ${books!.sends} sends, ${books!.receipts} receipts, ${books!.debits} debits, ${books!.negative} negative wallets`);

  const report = render(phases, { loadAtStart, loadAtEnd: loadavg(), books: books!, giftId });
  mkdirSync(resolve(opts.out, '..'), { recursive: true });
  writeFileSync(opts.out, report);
  writeFileSync(opts.out.replace(/\.md$/, '.json'), JSON.stringify({ options: opts, loadAtStart, loadAtEnd: loadavg(), books, phases }, null, 2) + '\n');
  console.log(`\n${report}`);
  log(`written to ${opts.out.replace(root + '/', '')}`);
}

async function createBenchGift(dataSource: DataSource): Promise<string> {
  const id = 'bench-rose';
  await dataSource.query(`INSERT INTO gift_categories (id, names) VALUES ('bench', '{"en":"Bench"}') ON CONFLICT (id) DO NOTHING`);
  await dataSource.query(
    `INSERT INTO gifts (id, category_id, names, price_coins, diamond_value, regions, min_vip_tier, enabled, animation)
     VALUES ($1, 'bench', '{"en":"Bench rose"}', $2, 7, NULL, 0, true, $3) ON CONFLICT (id) DO NOTHING`,
    [id, GIFT_PRICE, JSON.stringify({ format: 'svga', url: `https://cdn.aura.example/gifts/${id}.svga`, durationMs: 2000, display: 'banner' })],
  );
  return id;
}

function render(
  phases: Phase[],
  ctx: { loadAtStart: number[]; loadAtEnd: number[]; books: { sends: number; receipts: number; debits: number; negative: number }; giftId: string },
): string {
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
  const codes = (p: Phase) => Object.entries(p.errorCodes).map(([k, v]) => `${v}× ${k}`).join(', ') || '0';
  const a = phases.filter((p) => p.scenario.startsWith('(a)'));
  const b = phases.filter((p) => p.scenario.startsWith('(b)'));
  const bestA = a.filter((p) => p.p99 <= 100).sort((x, y) => y.perSecond - x.perSecond)[0];
  const verdicts: string[] = [];
  if (a.length) {
    const top = [...a].sort((x, y) => y.perSecond - x.perSecond)[0]!;
    const met = bestA !== undefined && bestA.perSecond >= 500;
    verdicts.push(
      `- (a) ≥ 500 gifts/s with p99 ≤ 100 ms: ${met ? 'met' : '**missed**'} — ` +
        (bestA ? `${bestA.perSecond.toFixed(0)}/s with p99 ${f1(bestA.p99)} ms at ${bestA.concurrency} in flight` : 'no level had p99 ≤ 100 ms') +
        `; most: ${top.perSecond.toFixed(0)}/s (p99 ${f1(top.p99)} ms) at ${top.concurrency} in flight`,
    );
  }
  for (const pb of b) {
    const pa = a.find((x) => x.concurrency === pb.concurrency);
    if (!pa) continue;
    const ratio = pb.perSecond / pa.perSecond;
    verdicts.push(
      `- ${pb.scenario} ≥ half of (a) at ${pb.concurrency} in flight: ${ratio >= 0.5 ? 'met' : '**missed**'} — ${pb.perSecond.toFixed(0)}/s = ${(ratio * 100).toFixed(0)}% of ${pa.perSecond.toFixed(0)}/s`,
    );
  }
  const cpuCols = ['api', 'postgres', 'redis', 'edge', 'listeners', 'senders', 'temporal', 'worker', 'bare', 'others'];
  const eventRows = b.flatMap((p) =>
    Object.entries(p.events ?? {}).map(
      ([type, e]) =>
        `| ${p.concurrency} | \`${type}\` | ${e.sends.toLocaleString('en')} | ${e.deliveries.toLocaleString('en')} | ${f1(e.p50)} | ${f1(e.p99)} | ${f1(e.p999)} | ${f1(e.max)} | ${p.sendsWithoutEvent} | ${f1(p.drainSeconds)} | ${p.socketsOpen} |`,
    ),
  );
  return [
    '# Gift send benchmark',
    '',
    `Run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC at commit ${commitOf(root)}, \`npm run bench:gifts\`, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}. ` +
      `API and edge ${opts.fromSource ? 'through tsx' : 'from dist/ (compiled)'}, LOG_LEVEL=info (one access-log line per request); per-IP and per-user rate limits raised to 10^8/min (still checked on every request). ` +
      `${opts.senderProcesses} sender processes, closed loop (each client sends its next request when the last answers), ${opts.warmupSeconds} s warm-up then ${opts.seconds} s measured per row; ` +
      `one gift (\`${ctx.giftId}\`, ${GIFT_PRICE} coins) to one receiver per send, a fresh Idempotency-Key each.`,
    `Load average (1/5/15 min) at the start ${la(ctx.loadAtStart)}, at the end ${la(ctx.loadAtEnd)}: the machine is shared, see the "others" column.`,
    '',
    '| scenario | in flight | ok/s | p50 ms | p99 ms | p99.9 ms | max ms | ok | refused / failed | load 1 min |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|---:|',
    ...phases.map(
      (p) =>
        `| ${p.scenario}${p.exhausted ? ' (ran out of users)' : ''} | ${p.concurrency} | **${p.perSecond.toFixed(1)}** | ${f1(p.p50)} | ${f1(p.p99)} | ${f1(p.p999)} | ${f1(p.max)} | ${p.ok.toLocaleString('en')} | ${codes(p)} | ${p.load.map((l) => l.toFixed(1)).join(' → ')} |`,
    ),
    '',
    ...(eventRows.length
      ? [
          '(b): send → room event at the listeners: from the moment the sender\'s request left to each socket\'s receipt of the event carrying its sendId (every socket, every send). ' +
            '`gift.sent` starts a combo; a later send of the same gift to the same receivers within the combo window is summed into a `gift.combo` update, sent at most every 500 ms (so its latency includes that hold).',
          '',
          '| in flight | event | sends | deliveries | p50 ms | p99 ms | p99.9 ms | max ms | sends without an event | drain s | sockets open after |',
          '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
          ...eventRows,
          '',
        ]
      : []),
    'Per success: Redis commands and PostgreSQL commits (all processes: the load dominates); the API\'s pooled PostgreSQL connections by state, mean of samples every 250 ms ' +
      `(DATABASE_POOL_SIZE ${env.DATABASE_POOL_SIZE ?? 20}; "idle in transaction" = PostgreSQL waits for the API's next statement):`,
    '',
    '| scenario | in flight | Redis cmds / ok | PG commits / ok | API connections |',
    '|---|---:|---:|---:|---|',
    ...phases.map(
      (p) =>
        `| ${p.scenario} | ${p.concurrency} | ${p.redisCommandsPerOk.toFixed(1)} | ${p.pgCommitsPerOk.toFixed(2)} | ${Object.entries(p.apiConnections).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')} |`,
    ),
    '',
    'CPU during the measured window, in cores (1 = one core busy; machine = busy share of all cores):',
    '',
    `| scenario | in flight | ${cpuCols.join(' | ')} | machine |`,
    `|---|---:|${cpuCols.map(() => '---:').join('|')}|---:|`,
    ...phases.map((p) => `| ${p.scenario} | ${p.concurrency} | ${cpuCols.map((k) => (p.cpu[k] === undefined ? '–' : p.cpu[k]!.toFixed(2))).join(' | ')} | ${pct(p.cpu.machine)} |`),
    '',
    `Books after the run: ${ctx.books.sends.toLocaleString('en')} gift_sends, ${ctx.books.receipts.toLocaleString('en')} receipts, ${ctx.books.debits.toLocaleString('en')} gift_sent debits (warm-up included), ${ctx.books.negative} negative wallets.`,
    '',
    ...verdicts,
    '',
  ].join('\n');
}

main()
  .catch((err: unknown) => {
    console.error(`[bench:gifts] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => void cleanup().then(() => process.exit()));
