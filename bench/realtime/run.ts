import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import WebSocket from 'ws';
import type { DataSource } from 'typeorm';
import { loadConfig, type Config } from '../../config';
import { createDataSource } from '../../db/data-source';
import { RoomLiveState } from '../../db/live/room-live-state';
import { UserDirectory } from '../../db/repositories/users';
import { accessTokensFromConfig } from '../../platform/auth/access-tokens';
import { createRedis } from '../../platform/redis';
import { migrateAndSeed } from '../../scripts/migrate';
import { startProcess, waitUntil, type ManagedProcess } from '../../scripts/stack/child-process';
import { startPostgres, startRedis } from '../../scripts/stack/services';
import { createRoomService, liveStateSettingsFromConfig } from '../../services/rooms';
import type { RoomService } from '../../services/rooms/room-service';
import { freePort } from '../../test/support/ports';
import type { ListenerCommand, ListenerReply, ListenerReport, PublisherCommand, PublisherReply } from './ipc';
import { calibrate, type Calibration } from './calibrate';
import { Histogram } from './stats';

/**
 * `npm run bench`: the realtime fan-out benchmark. One edge process, one room, 1,000 / 5,000 /
 * 10,000 listeners held by separate client processes, events emitted through Redis the way
 * production emits them. For each size, the uWebSockets.js edge (realtime/main.ts, the
 * production entry point) and then the `ws` baseline (ws-baseline-edge.ts) get the same
 * listeners and the same offered load, stepped up until the edge can't keep up. See README.md.
 */

const root = resolve(__dirname, '../..');
const env = process.env;
const list = (name: string, fallback: number[]) => (env[name] ? env[name]!.split(',').map(Number) : fallback);
const opts = {
  sizes: list('BENCH_SIZES', [1000, 5000, 10000]),
  edges: (env.BENCH_EDGES ?? 'uws,ws').split(',') as EdgeKind[],
  /** Offered deliveries per second (events/s × listeners), tried in order until the edge can't keep up. */
  levels: list('BENCH_LEVELS', [25_000, 50_000, 100_000, 150_000, 200_000, 300_000, 400_000, 500_000, 650_000, 800_000, 1_000_000]),
  stepSeconds: Number(env.BENCH_STEP_SECONDS ?? 4),
  listenerProcesses: Number(env.BENCH_LISTENER_PROCESSES ?? 2),
  payloadBytes: Number(env.BENCH_PAYLOAD_BYTES ?? 160),
  p99LimitMs: 50,
  maxMinutes: Number(env.BENCH_MAX_MINUTES ?? 15),
  resultsDir: resolve(root, env.BENCH_RESULTS_DIR ?? 'bench/results'),
};
type EdgeKind = 'uws' | 'ws';
const ENTRY: Record<EdgeKind, string> = { uws: 'realtime/main.ts', ws: 'bench/realtime/ws-baseline-edge.ts' };

const log = (message: string) => console.log(`[bench ${((performance.now() - T0) / 1000).toFixed(1).padStart(6)}s] ${message}`);
const T0 = performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => performance.timeOrigin + performance.now();

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms);
    }),
  ]);
}

// Everything started is stopped on the way out, newest first, whatever the way out is.
const cleanups: { what: string; run: () => Promise<unknown> | unknown }[] = [];
let cleaningUp: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaningUp ??= (async () => {
    for (const { what, run } of cleanups.reverse()) {
      try {
        await withTimeout(Promise.resolve().then(run), 20_000, `cleanup: ${what}`);
      } catch (err) {
        console.error(`[bench] cleanup of ${what} failed: ${(err as Error).message}`);
      }
    }
  })();
  return cleaningUp;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n[bench] ${signal}: stopping everything`);
    void cleanup().finally(() => process.exit(130));
  });
}

// --- child processes --------------------------------------------------------------------

function forkTs(file: string, childEnv: NodeJS.ProcessEnv): ChildProcess {
  const child = fork(resolve(__dirname, file), [], { cwd: root, env: childEnv, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  cleanups.push({
    what: file,
    run: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await withTimeout(exited, 5_000, `${file} exit`).catch(() => child.kill('SIGKILL'));
    },
  });
  return child;
}

/** Sends a command and waits for the reply of the given type (one question at a time per child). */
function ask<R extends { type: string }, T extends R['type']>(child: ChildProcess, command: object, replyType: T, timeoutMs: number): Promise<Extract<R, { type: T }>> {
  return withTimeout(
    new Promise<Extract<R, { type: T }>>((resolveReply, reject) => {
      const onMessage = (message: R) => {
        if (message.type !== replyType) return;
        done();
        resolveReply(message as Extract<R, { type: T }>);
      };
      const onExit = (code: number | null) => {
        done();
        reject(new Error(`child ${child.pid} exited (${code}) while we waited for ${replyType}`));
      };
      const done = () => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(command);
    }),
    timeoutMs,
    `${replyType} from child ${child.pid}`,
  );
}

const askListener = <T extends ListenerReply['type']>(child: ChildProcess, command: ListenerCommand, type: T, ms: number) =>
  ask<ListenerReply, T>(child, command, type, ms);

// --- /proc readings ---------------------------------------------------------------------

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

/** CPU seconds a process has used (user + system, all threads), and the system (kernel) part. */
function cpuOf(pid: number | undefined): { all: number; sys: number } {
  if (!pid) return { all: 0, sys: 0 };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const user = Number(fields[11]) / CLK_TCK;
    const sys = Number(fields[12]) / CLK_TCK;
    return { all: user + sys, sys };
  } catch {
    return { all: 0, sys: 0 };
  }
}

/** CPU time of the whole machine (all cores), from /proc/stat. */
function machineCpu(): { busy: number; total: number; softirq: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK, softirq: (v[6] ?? 0) / CLK_TCK, steal: (v[7] ?? 0) / CLK_TCK };
}

/** CPU seconds of every user-space process on the machine, with its parent. */
function allProcesses(): Map<number, { ppid: number; cpu: number }> {
  const out = new Map<number, { ppid: number; cpu: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(fields[1]);
      if (ppid === 2 || Number(name) === 2) continue; // kernel threads
      out.set(Number(name), { ppid, cpu: (Number(fields[11]) + Number(fields[12])) / CLK_TCK });
    } catch {
      // it exited while we looked
    }
  }
  return out;
}

/** Pids of this process and all its descendants (the edge, clients, Redis, PostgreSQL…). */
function ours(procs: Map<number, { ppid: number }>): Set<number> {
  const mine = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of procs) {
      if (!mine.has(pid) && mine.has(p.ppid)) {
        mine.add(pid);
        grew = true;
      }
    }
  }
  return mine;
}

/**
 * Cores used by processes that are not the benchmark's over a window: the machine is shared
 * (other people's test runs), and that load would be charged to the edge.
 */
function othersMeter(): () => number {
  const before = allProcesses();
  const started = performance.now();
  return () => {
    const after = allProcesses();
    const mine = ours(after);
    let cpu = 0;
    for (const [pid, p] of after) {
      if (mine.has(pid)) continue;
      cpu += p.cpu - (before.get(pid)?.cpu ?? 0);
    }
    return cpu / ((performance.now() - started) / 1000);
  };
}

/** Waits (up to `maxMs`) until other processes use under a quarter of a core. */
async function quietMachine(what: string, maxMs = 20_000): Promise<number> {
  const deadline = performance.now() + maxMs;
  for (let waited = false; ; waited = true) {
    const meter = othersMeter();
    await sleep(1_000);
    const others = meter();
    if (others < 0.25 || performance.now() > deadline) {
      if (waited) log(`${what}: other processes now use ${others.toFixed(2)} cores; going on`);
      return others;
    }
    if (!waited) log(`${what}: other processes use ${others.toFixed(2)} cores; waiting for a quiet machine`);
  }
}

function fdLimit(): { soft: number; hard: number } {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))!;
  const [soft, hard] = line.replace('Max open files', '').trim().split(/\s+/).map((s) => (s === 'unlimited' ? Infinity : Number(s)));
  return { soft: soft!, hard: hard! };
}

// --- the stack --------------------------------------------------------------------------

interface Stack {
  config: Config;
  childEnv: NodeJS.ProcessEnv;
  dataSource: DataSource;
  redis: Redis;
  rooms: RoomService;
  seeder: RoomLiveState;
  ownerId: string;
  redisPid: number | undefined;
  logs: string;
}

async function startStack(): Promise<Stack> {
  const dir = mkdtempSync('/tmp/aura-bench-');
  chmodSync(dir, 0o755); // the postgres account must reach its data dir
  cleanups.push({ what: 'temp dir', run: () => (env.BENCH_KEEP_DATA === '1' ? log(`kept ${dir}`) : rmSync(dir, { recursive: true, force: true })) });
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const [pgPort, redisPort] = [await freePort(), await freePort()];
  const track = <T extends { process: ManagedProcess }>(service: T): T => {
    cleanups.push({ what: service.process.name, run: () => service.process.stop(undefined, 10_000) });
    return service;
  };
  const [postgres, redisService] = await withTimeout(
    Promise.all([
      startPostgres({ dataDir: join(dir, 'postgres'), port: pgPort, database: 'aura_bench', output: { file: join(logs, 'postgres.log') } }).then(track),
      startRedis({ dataDir: join(dir, 'redis'), port: redisPort, persist: false, output: { file: join(logs, 'redis.log') } }).then(track),
    ]),
    120_000,
    'starting PostgreSQL and Redis',
  );
  await withTimeout(migrateAndSeed(postgres.url, { seed: false }), 120_000, 'migrations');
  const childEnv: NodeJS.ProcessEnv = {
    ...env,
    NODE_ENV: 'development',
    LOG_LEVEL: env.BENCH_EDGE_LOG_LEVEL ?? 'warn',
    DATABASE_URL: postgres.url,
    REDIS_URL: redisService.url,
    ACCESS_TOKEN_SECRET: randomBytes(32).toString('hex'),
    OTP_SECRET: randomBytes(32).toString('hex'),
    PHONE_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    ACCESS_TOKEN_TTL_SECONDS: '3600',
    REALTIME_HOST: '127.0.0.1',
    // Every simulated phone connects from the one loopback address, and one owner makes the rooms.
    REALTIME_MAX_SOCKETS_PER_IP: '1000000',
    REALTIME_UPGRADES_PER_IP_PER_MINUTE: '1000000',
    ROOM_CREATES_PER_USER_PER_HOUR: '1000000',
  };
  const config = loadConfig(childEnv);
  const dataSource = await createDataSource({ url: config.DATABASE_URL, poolSize: 4, applicationName: 'aura-bench' }).initialize();
  cleanups.push({ what: 'orchestrator database pool', run: () => dataSource.destroy() });
  const redis = createRedis(config.REDIS_URL, { name: 'aura-bench' });
  cleanups.push({ what: 'orchestrator redis', run: () => redis.disconnect() });
  const { rooms } = createRoomService({ config, dataSource, redis });
  // Memberships made before an edge starts are leased for an hour: they never lapse mid-run.
  const seeder = new RoomLiveState(redis, { ...liveStateSettingsFromConfig(config), leaseMs: 3_600_000 });
  const owner = await new UserDirectory(dataSource).create({ displayName: 'bench owner' });
  return { config, childEnv, dataSource, redis, rooms, seeder, ownerId: owner.id, redisPid: redisService.process.child.pid, logs };
}

/**
 * A fresh room whose listeners are already members. Joining then sends each its snapshot and
 * nothing to the others: a first join emits `member.joined` to everyone already in the room,
 * and 10,000 cold joins would fan out ~50 million of those before the measurement starts.
 */
async function prepareRoom(stack: Stack, listeners: number): Promise<{ roomId: string; tokens: string[]; warmup: string[] }> {
  const room = await stack.rooms.create(stack.ownerId, { type: 'voice', name: `bench ${listeners}`, seatCount: 9, seatMode: 'free' });
  const users = Array.from({ length: listeners + WARMUP_SOCKETS }, () => randomUUID());
  const tokens = accessTokensFromConfig(stack.config);
  for (let i = 0; i < users.length; i += 500) {
    await Promise.all(users.slice(i, i + 500).map((userId) => stack.seeder.join(room.id, userId, `bench-seed-${userId}`)));
  }
  const signed = await Promise.all(users.map((userId) => tokens.sign({ userId })));
  return { roomId: room.id, tokens: signed.slice(WARMUP_SOCKETS), warmup: signed.slice(0, WARMUP_SOCKETS) };
}

/** Sockets that join and leave before the "before" memory reading, so lazy one-time costs (the
 * database pool filling, JIT, Redis buffers) are not charged to connections. */
const WARMUP_SOCKETS = 100;

/**
 * The edge runs with the inspector on a loopback port, used for one thing: a full garbage
 * collection before each memory reading, so RSS counts what connections keep, not garbage
 * that the next GC would free (both readings are reported).
 */
async function startEdge(stack: Stack, kind: EdgeKind, port: number, inspectPort: number): Promise<ManagedProcess> {
  const proc = startProcess(`${kind} edge`, process.execPath, [`--inspect=127.0.0.1:${inspectPort}`, '--import', 'tsx', resolve(root, ENTRY[kind])], {
    cwd: root,
    env: { ...stack.childEnv, REALTIME_PORT: String(port) },
    output: { file: join(stack.logs, `edge-${kind}-${port}.log`) },
  });
  cleanups.push({ what: `${kind} edge`, run: () => proc.stop('SIGTERM', 10_000) });
  await waitUntil(
    `${kind} edge`,
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (!res.ok) throw new Error(`healthz ${res.status}`);
    },
    60_000,
    proc.exited,
  );
  return proc;
}

/** Two full GCs in the edge, through the inspector protocol (HeapProfiler.collectGarbage). */
async function collectGarbage(inspectPort: number): Promise<void> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`, { signal: AbortSignal.timeout(5_000) })).json()) as { webSocketDebuggerUrl: string }[];
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl, { perMessageDeflate: false });
  try {
    await withTimeout(new Promise((r, j) => socket.once('open', r).once('error', j)), 5_000, 'inspector connect');
    for (const id of [1, 2]) {
      const done = new Promise<void>((r) => {
        const onMessage = (data: WebSocket.RawData) => {
          if ((JSON.parse(data.toString()) as { id?: number }).id === id) {
            socket.off('message', onMessage);
            r();
          }
        };
        socket.on('message', onMessage);
      });
      socket.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }));
      await withTimeout(done, 30_000, 'inspector GC');
    }
  } finally {
    socket.close();
  }
  await sleep(500);
}

/** RSS once it stops moving (≤ 0.5% change per second, at most 8 s). */
async function settledRss(pid: number): Promise<number> {
  let rss = rssBytes(pid);
  for (let i = 0; i < 8; i++) {
    await sleep(1_000);
    const next = rssBytes(pid);
    const stable = Math.abs(next - rss) < rss * 0.005;
    rss = next;
    if (stable) break;
  }
  return rss;
}

// --- one measured step ------------------------------------------------------------------

interface Step {
  rate: number;
  offeredPerSec: number;
  emitted: number;
  listeners: number;
  expected: number;
  received: number;
  deliveriesPerSec: number;
  windowMs: number;
  drainMs: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  lost: number;
  behind: number;
  duplicates: number;
  closes: Record<string, number>;
  /** Cores used (1 = one core busy); machine is the busy share of all cores; others = processes not ours. */
  cpu: {
    edge: number;
    edgeSys: number;
    listeners: number;
    listenersSys: number;
    redis: number;
    publisher: number;
    machine: number;
    softirq: number;
    steal: number;
    others: number;
  };
  publisherMaxLagMs: number;
  eventBytes: number;
  /** Every event reached every socket, no socket closed, deliveries/s ≥ 95% of offered. */
  keptUp: boolean;
  /** …and p99 ≤ 50 ms. */
  sustained: boolean;
  why: string;
}

interface Run {
  edge: EdgeKind;
  listeners: number;
  joined: number;
  joinFailed: number;
  joinErrors: string[];
  joinSeconds: number;
  /** RSS as read (raw), and after a full GC in the edge (gc). */
  rssBeforeBytes: { raw: number; gc: number };
  rssIdleBytes: { raw: number; gc: number };
  bytesPerIdleConnection: { raw: number; gc: number };
  rssAfterLoadBytes: number;
  steps: Step[];
  /** The step with the most deliveries/s that kept up (all delivered, no closes, ≥ 95% of offered). */
  capacity: Step | null;
  /** The step with the most deliveries/s that kept up with p99 ≤ 50 ms. */
  best: Step | null;
  peak: Step | null;
}

interface Clients {
  listeners: ChildProcess[];
  publisher: ChildProcess;
}

async function measureStep(edge: ManagedProcess, stack: Stack, clients: Clients, rate: number, listeners: number, eventType: string, seconds: number): Promise<Step> {
  await quietMachine(`${eventType} at ${rate} ev/s`, 10_000);
  await Promise.all(clients.listeners.map((l) => askListener(l, { type: 'step' }, 'stepped', 10_000)));
  const others = othersMeter();
  const pids = { edge: edge.child.pid, redis: stack.redisPid, publisher: clients.publisher.pid };
  const sample = () => {
    const edgeCpu = cpuOf(pids.edge);
    const clientCpu = clients.listeners.map((l) => cpuOf(l.pid));
    return {
      edge: edgeCpu.all,
      edgeSys: edgeCpu.sys,
      redis: cpuOf(pids.redis).all,
      publisher: cpuOf(pids.publisher).all,
      listeners: clientCpu.reduce((s, c) => s + c.all, 0),
      listenersSys: clientCpu.reduce((s, c) => s + c.sys, 0),
      machine: machineCpu(),
    };
  };
  const cpu0 = sample();
  const started = nowMs();
  const command: PublisherCommand = { type: 'run', room: currentRoom, eventType, rate, durationMs: seconds * 1000, payloadBytes: opts.payloadBytes };
  const published = await ask<PublisherReply, 'done'>(clients.publisher, command, 'done', seconds * 1000 + 30_000);
  const publishedAt = nowMs();

  // Drain: every open socket has the last event, or nothing moves any more.
  let lastTotal = -1;
  let lastMove = nowMs();
  for (;;) {
    const statuses = await Promise.all(clients.listeners.map((l) => askListener(l, { type: 'status' }, 'status', 10_000)));
    const total = statuses.reduce((s, x) => s + x.received, 0);
    if (statuses.every((s) => s.open === 0 || s.minSeq >= published.lastSeq)) break;
    if (total !== lastTotal) {
      lastTotal = total;
      lastMove = nowMs();
    }
    if (nowMs() - lastMove > 3_000 || nowMs() - publishedAt > 30_000) break;
    await sleep(100);
  }
  const drainMs = nowMs() - publishedAt;
  const wall = (nowMs() - started) / 1000;
  const cpu1 = sample();
  const machineTotal = cpu1.machine.total - cpu0.machine.total;
  const cpu = {
    edge: (cpu1.edge - cpu0.edge) / wall,
    edgeSys: (cpu1.edgeSys - cpu0.edgeSys) / wall,
    redis: (cpu1.redis - cpu0.redis) / wall,
    publisher: (cpu1.publisher - cpu0.publisher) / wall,
    listeners: (cpu1.listeners - cpu0.listeners) / wall,
    listenersSys: (cpu1.listenersSys - cpu0.listenersSys) / wall,
    machine: (cpu1.machine.busy - cpu0.machine.busy) / machineTotal,
    softirq: (cpu1.machine.softirq - cpu0.machine.softirq) / machineTotal,
    steal: (cpu1.machine.steal - cpu0.machine.steal) / machineTotal,
    others: others(),
  };

  const reports: ListenerReport[] = await Promise.all(clients.listeners.map((l) => askListener(l, { type: 'report', targetSeq: published.lastSeq }, 'report', 10_000)));
  const latency = Histogram.merge(reports.map((r) => r.latency));
  const received = reports.reduce((s, r) => s + r.received, 0);
  const active = reports.filter((r) => r.received > 0);
  const windowMs = active.length ? Math.max(...active.map((r) => r.lastAt)) - Math.min(...active.map((r) => r.firstAt)) : 0;
  const closes: Record<string, number> = {};
  for (const r of reports) for (const [code, n] of Object.entries(r.closes)) closes[code] = (closes[code] ?? 0) + n;
  const closed = Object.values(closes).reduce((a, b) => a + b, 0);
  const lost = reports.reduce((s, r) => s + r.lost, 0);
  const p99 = latency.percentile(0.99);
  const deliveriesPerSec = windowMs > 0 ? received / (windowMs / 1000) : 0;
  const behindRate = deliveriesPerSec < 0.95 * rate * listeners;
  const failures = [
    lost > 0 ? `${lost} events lost` : '',
    closed > 0 ? `${closed} sockets closed` : '',
    published.failed > 0 ? `${published.failed} emits failed` : '',
    behindRate ? `delivered ${fmtK(deliveriesPerSec)}/s < 95% of offered` : '',
  ].filter(Boolean);
  const keptUp = failures.length === 0;
  const why = [...failures, !(p99 <= opts.p99LimitMs) ? `p99 ${p99.toFixed(1)} ms > ${opts.p99LimitMs} ms` : ''].filter(Boolean);
  if (cpu.others > 0.25) why.push(`(other processes used ${cpu.others.toFixed(2)} cores meanwhile)`);
  return {
    rate,
    offeredPerSec: rate * listeners,
    emitted: published.emitted,
    listeners,
    expected: published.emitted * listeners,
    received,
    deliveriesPerSec,
    windowMs,
    drainMs,
    p50Ms: latency.percentile(0.5),
    p99Ms: p99,
    p999Ms: latency.percentile(0.999),
    maxMs: latency.maxMs,
    lost,
    behind: reports.reduce((s, r) => s + r.behind, 0),
    duplicates: reports.reduce((s, r) => s + r.duplicates, 0),
    closes,
    cpu,
    publisherMaxLagMs: published.maxLagMs,
    eventBytes: published.eventBytes,
    keptUp,
    sustained: keptUp && p99 <= opts.p99LimitMs,
    why: why.join('; ') || 'kept up, p99 ≤ 50 ms',
  };
}

let currentRoom = '';

async function runOne(stack: Stack, clients: Clients, kind: EdgeKind, listeners: number): Promise<Run> {
  log(`${kind} × ${listeners}: preparing the room and ${listeners} tokens`);
  const { roomId, tokens, warmup } = await withTimeout(prepareRoom(stack, listeners), 120_000, 'room preparation');
  currentRoom = roomId;
  const [port, inspectPort] = [await freePort(), await freePort()];
  const edge = await startEdge(stack, kind, port, inspectPort);
  const pid = edge.child.pid!;
  const warm = await askListener(
    clients.listeners[0]!,
    { type: 'connect', host: '127.0.0.1', port, room: roomId, tokens: warmup, concurrency: 32, timeoutMs: 30_000 },
    'connected',
    60_000,
  );
  if (warm.failed) log(`${kind} × ${listeners}: warm-up: ${warm.failed} of ${warmup.length} failed (${warm.errors.join('; ')})`);
  await askListener(clients.listeners[0]!, { type: 'disconnect' }, 'disconnected', 30_000);
  await sleep(2_000);
  await quietMachine('edge start');
  const beforeRaw = await settledRss(pid);
  await collectGarbage(inspectPort);
  const rssBeforeBytes = { raw: beforeRaw, gc: rssBytes(pid) };

  log(`${kind} × ${listeners}: edge pid ${pid} ready on ${port} (RSS ${(rssBeforeBytes.raw / 2 ** 20).toFixed(1)} MiB, ${(rssBeforeBytes.gc / 2 ** 20).toFixed(1)} after GC); connecting`);
  const share = Math.ceil(tokens.length / clients.listeners.length);
  const connectStarted = nowMs();
  const connected = await Promise.all(
    clients.listeners.map((l, i) =>
      askListener(
        l,
        { type: 'connect', host: '127.0.0.1', port, room: roomId, tokens: tokens.slice(i * share, (i + 1) * share), concurrency: 64, timeoutMs: 60_000 },
        'connected',
        180_000,
      ),
    ),
  );
  const joinSeconds = (nowMs() - connectStarted) / 1000;
  const joined = connected.reduce((s, c) => s + c.joined, 0);
  const joinFailed = connected.reduce((s, c) => s + c.failed, 0);
  const joinErrors = connected.flatMap((c) => c.errors);
  log(`${kind} × ${listeners}: ${joined} joined, ${joinFailed} failed in ${joinSeconds.toFixed(1)} s${joinErrors.length ? ` (${joinErrors.join('; ')})` : ''}`);

  // Idle memory: let the joins' garbage settle, then wait for RSS to stop moving.
  await sleep(2_000);
  await quietMachine('idle memory');
  const idleRaw = await settledRss(pid);
  await collectGarbage(inspectPort);
  const rssIdleBytes = { raw: idleRaw, gc: rssBytes(pid) };
  const bytesPerIdleConnection = {
    raw: joined > 0 ? (rssIdleBytes.raw - rssBeforeBytes.raw) / joined : NaN,
    gc: joined > 0 ? (rssIdleBytes.gc - rssBeforeBytes.gc) / joined : NaN,
  };
  log(
    `${kind} × ${listeners}: idle RSS ${(rssIdleBytes.raw / 2 ** 20).toFixed(1)} MiB (${(rssIdleBytes.gc / 2 ** 20).toFixed(1)} after GC) → ` +
      `${kib(bytesPerIdleConnection.raw)} per connection (${kib(bytesPerIdleConnection.gc)} after GC)`,
  );

  const steps: Step[] = [];
  if (joined > 0) {
    const rates = [...new Set(opts.levels.map((level) => Math.max(1, Math.round(level / joined))))];
    // Warm-up at the first rate (JIT, socket buffers), not counted.
    await measureStep(edge, stack, clients, rates[0]!, joined, 'bench.warmup', 1.5);
    for (let i = 0; i < rates.length; i++) {
      const rate = rates[i]!;
      const step = await measureStep(edge, stack, clients, rate, joined, 'bench.tick', opts.stepSeconds);
      steps.push(step);
      log(
        `${kind} × ${listeners}: ${rate} ev/s (offered ${fmtK(step.offeredPerSec)}/s) → ${fmtK(step.deliveriesPerSec)}/s, ` +
          `p50 ${step.p50Ms.toFixed(2)} ms, p99 ${step.p99Ms.toFixed(2)} ms, lost ${step.lost}, closes ${JSON.stringify(step.closes)}, ` +
          `cpu edge ${pct(step.cpu.edge)} (sys ${pct(step.cpu.edgeSys)}) clients ${pct(step.cpu.listeners)} (sys ${pct(step.cpu.listenersSys)}) softirq ${pct(step.cpu.softirq * cpus().length)} steal ${pct(step.cpu.steal * cpus().length)} redis ${pct(step.cpu.redis)} others ${pct(step.cpu.others)} machine ${pct(step.cpu.machine * cpus().length)} — ${step.why}`,
      );
      if (step.keptUp) continue;
      // Too much from the start: halve the rate (up to 3 times) to find what this edge does keep
      // up with. After a socket closed (4008: too slow), the room is no longer whole: stop.
      const closedAny = Object.keys(step.closes).length > 0;
      if (steps.some((s) => s.keptUp) || closedAny || steps.length > 3 || rate <= 1) break;
      rates.splice(i + 1, rates.length, Math.max(1, Math.floor(rate / 2)));
    }
  }
  const rssAfterLoadBytes = rssBytes(pid);

  await Promise.all(clients.listeners.map((l) => askListener(l, { type: 'disconnect' }, 'disconnected', 30_000)));
  await edge.stop('SIGTERM', 10_000);
  const byRate = (a: Step, b: Step) => b.deliveriesPerSec - a.deliveriesPerSec;
  return {
    edge: kind,
    listeners,
    joined,
    joinFailed,
    joinErrors,
    joinSeconds,
    rssBeforeBytes,
    rssIdleBytes,
    bytesPerIdleConnection,
    rssAfterLoadBytes,
    steps,
    capacity: steps.filter((s) => s.keptUp).sort(byRate)[0] ?? null,
    best: steps.filter((s) => s.sustained).sort(byRate)[0] ?? null,
    peak: [...steps].sort(byRate)[0] ?? null,
  };
}

// --- report -----------------------------------------------------------------------------

const fmtK = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : n.toFixed(0));
const kib = (n: number) => `${(n / 1024).toFixed(2)} KiB`;
const pct = (n: number) => `${(n * 100).toFixed(0)}%`;
const ms = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '—' : n < 10 ? n.toFixed(2) : n.toFixed(1));
const num = (n: number | undefined) => (n === undefined ? '—' : Math.round(n).toLocaleString('en'));
const closesText = (c: Record<string, number>) => Object.entries(c).map(([code, n]) => `${n}×${code}`).join(' ') || '0';

interface Verdict {
  target: string;
  value: string;
  met: boolean;
}

const findRun = (runs: Run[], edge: EdgeKind, n: number) => runs.find((r) => r.edge === edge && r.listeners === n);

/** uws capacity ÷ ws capacity (most deliveries/s each kept up with). */
function ratioOf(u: Run, w: Run): number {
  const a = u.capacity?.deliveriesPerSec ?? 0;
  const b = w.capacity?.deliveriesPerSec ?? 0;
  return b > 0 ? a / b : NaN;
}

function verdicts(runs: Run[]): Verdict[] {
  const out: Verdict[] = [];
  for (const n of opts.sizes) {
    const u = findRun(runs, 'uws', n);
    if (!u) continue;
    out.push({
      target: `≥ 300,000 deliveries/s (uws, ${n.toLocaleString('en')} listeners, kept up)`,
      value: `${num(u.capacity?.deliveriesPerSec ?? 0)}/s (p99 ${ms(u.capacity?.p99Ms)} ms); with p99 ≤ 50 ms: ${num(u.best?.deliveriesPerSec ?? 0)}/s`,
      met: (u.capacity?.deliveriesPerSec ?? 0) >= 300_000,
    });
  }
  const u5 = findRun(runs, 'uws', 5000);
  if (u5) {
    const at300 = u5.steps.find((s) => s.offeredPerSec >= 300_000);
    const lowest = u5.steps[0];
    out.push({
      target: 'p99 ≤ 50 ms at 5,000 listeners (uws, at ≥ 300k deliveries/s offered)',
      value: at300
        ? `p99 ${ms(at300.p99Ms)} ms at ${at300.rate} ev/s (${num(at300.deliveriesPerSec)}/s delivered)`
        : `not reached (the edge fell behind below 300k/s; lowest step: p99 ${ms(lowest?.p99Ms)} ms at ${lowest?.rate} ev/s)`,
      met: Boolean(at300 && at300.p99Ms <= 50 && at300.keptUp),
    });
  }
  for (const n of opts.sizes) {
    const u = findRun(runs, 'uws', n);
    const w = findRun(runs, 'ws', n);
    if (!u || !w) continue;
    const ratio = ratioOf(u, w);
    out.push({
      target: `≥ 4× the ws baseline (${n.toLocaleString('en')} listeners)`,
      value: `${Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a'}× (${num(u.capacity?.deliveriesPerSec ?? 0)} vs ${num(w.capacity?.deliveriesPerSec ?? 0)}/s)`,
      met: ratio >= 4,
    });
  }
  for (const n of opts.sizes) {
    const u = findRun(runs, 'uws', n);
    // Under 5,000 sockets the per-connection share is within V8's and malloc's noise (MiBs).
    if (!u || n < 5000) continue;
    out.push({
      target: `≤ 4 KiB per idle connection (uws, ${n.toLocaleString('en')} listeners)`,
      value: `${kib(u.bytesPerIdleConnection.gc)} after a full GC (${kib(u.bytesPerIdleConnection.raw)} as read)`,
      met: u.bytesPerIdleConnection.gc <= 4096,
    });
  }
  return out;
}

function markdown(meta: { [k: string]: unknown; calibration: Calibration }, runs: Run[], command: string): string {
  const lines: string[] = [];
  const c = meta.calibration;
  lines.push(`# Realtime fan-out benchmark — ${String(meta.date)}`, '');
  lines.push(`Command: \`${command}\``, '');
  lines.push(
    `Machine: ${String(meta.cpus)} × ${String(meta.cpuModel)}, ${String(meta.memoryGiB)} GiB, Node ${String(meta.node)}, commit ${String(meta.commit)}. ` +
      `One edge process; ${opts.listenerProcesses} listener processes; events of ${String(meta.eventBytes)} bytes emitted through ` +
      `RoomLiveState.emit (Redis Lua: XADD + PUBLISH) by a publisher process; steps of ${opts.stepSeconds} s. ` +
      `Loopback floor on this machine: a plain \`net\` server spends ${c.usPerWrite.toFixed(1)} µs of CPU per 300-byte socket write ` +
      `(${c.sysUsPerWrite.toFixed(1)} µs in the kernel), measured by calibrate.ts in the same run.`,
    '',
  );
  lines.push(
    '"Kept up": every event reached every socket, no socket closed, and deliveries/s (received ÷ time from first to last receipt) ≥ 95% of offered. ' +
      'Latency = receipt time − the publisher\'s timestamp in the event (so it includes Redis and the edge), every event measured.',
    '',
  );
  lines.push('## Summary', '');
  lines.push('| edge | listeners | capacity: deliveries/s kept up | at ev/s | p50 ms | p99 ms | deliveries/s with p99 ≤ 50 ms | lost | closes | memory / idle conn (after GC; as read) |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of runs) {
    const cap = r.capacity;
    const closes: Record<string, number> = {};
    for (const s of r.steps) for (const [code, n] of Object.entries(s.closes)) closes[code] = (closes[code] ?? 0) + n;
    lines.push(
      `| ${r.edge} | ${r.joined.toLocaleString('en')}${r.joinFailed ? ` (+${r.joinFailed} failed to join)` : ''} | ${cap ? num(cap.deliveriesPerSec) : 'none'} | ${cap?.rate ?? '—'} | ` +
        `${ms(cap?.p50Ms)} | ${ms(cap?.p99Ms)} | ${r.best ? `${num(r.best.deliveriesPerSec)} (${r.best.rate} ev/s)` : 'none'} | ${r.steps.reduce((s, x) => s + x.lost, 0)} | ${closesText(closes)} | ` +
        `${kib(r.bytesPerIdleConnection.gc)}; ${kib(r.bytesPerIdleConnection.raw)} |`,
    );
  }
  lines.push(
    '',
    '## uws ÷ ws',
    '',
    'Capacity = the most deliveries/s kept up with, so it is only as fine as the steps; peak = the most deliveries/s received at any step, kept up or not.',
    '',
    '| listeners | uws capacity | ws capacity | ratio | uws peak | ws peak | peak ratio |',
    '|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const n of opts.sizes) {
    const u = findRun(runs, 'uws', n);
    const w = findRun(runs, 'ws', n);
    if (!u || !w) continue;
    const up = u.peak?.deliveriesPerSec ?? 0;
    const wp = w.peak?.deliveriesPerSec ?? 0;
    lines.push(
      `| ${n.toLocaleString('en')} | ${num(u.capacity?.deliveriesPerSec ?? 0)} | ${num(w.capacity?.deliveriesPerSec ?? 0)} | ${ratioOf(u, w).toFixed(2)}× | ` +
        `${num(up)} | ${num(wp)} | ${wp > 0 ? (up / wp).toFixed(2) : 'n/a'}× |`,
    );
  }
  lines.push('', '## Targets', '', '| target | measured | met |', '|---|---|---|');
  for (const v of verdicts(runs)) lines.push(`| ${v.target} | ${v.value} | ${v.met ? 'yes' : '**no**'} |`);
  lines.push('', '## Every step', '');
  lines.push('CPU columns are cores (100% = one core); "others" = processes outside the benchmark (the machine is shared); sys = kernel part.', '');
  lines.push('| edge | listeners | ev/s | offered/s | delivered/s | p50 ms | p99 ms | p99.9 ms | max ms | lost | closes | drain ms | edge CPU (sys) | clients CPU (sys) | redis | softirq | others | verdict |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of runs) {
    for (const s of r.steps) {
      lines.push(
        `| ${r.edge} | ${r.joined} | ${s.rate} | ${fmtK(s.offeredPerSec)} | ${fmtK(s.deliveriesPerSec)} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ${ms(s.p999Ms)} | ${ms(s.maxMs)} | ${s.lost} | ${closesText(s.closes)} | ` +
          `${s.drainMs.toFixed(0)} | ${pct(s.cpu.edge)} (${pct(s.cpu.edgeSys)}) | ${pct(s.cpu.listeners)} (${pct(s.cpu.listenersSys)}) | ${pct(s.cpu.redis)} | ` +
          `${pct(s.cpu.softirq * Number(meta.cpus))} | ${pct(s.cpu.others)} | ${s.why} |`,
      );
    }
  }
  lines.push('', '## Memory', '');
  lines.push('| edge | listeners | RSS before (after GC) | RSS idle, all joined (after GC) | per idle connection (after GC) | as read, no GC | RSS after load | join time | join failures |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of runs) {
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    lines.push(
      `| ${r.edge} | ${r.joined} | ${mib(r.rssBeforeBytes.gc)} | ${mib(r.rssIdleBytes.gc)} | ${kib(r.bytesPerIdleConnection.gc)} | ${kib(r.bytesPerIdleConnection.raw)} | ` +
        `${mib(r.rssAfterLoadBytes)} | ${r.joinSeconds.toFixed(1)} s | ${r.joinErrors.join('; ') || '—'} |`,
    );
  }
  lines.push('');
  return lines.join('\n');
}

// --- main -------------------------------------------------------------------------------

async function main(): Promise<void> {
  const deadline = setTimeout(() => {
    console.error(`[bench] over ${opts.maxMinutes} minutes: giving up`);
    void cleanup().finally(() => process.exit(1));
  }, opts.maxMinutes * 60_000);
  deadline.unref();

  const fds = fdLimit();
  const largest = Math.max(...opts.sizes);
  log(`open-file limit ${fds.soft} (hard ${fds.hard}); the edge needs ~${largest + 100}, each of ${opts.listenerProcesses} listener processes ~${Math.ceil(largest / opts.listenerProcesses) + 100}`);
  if (fds.soft < largest + 200) {
    throw new Error(`the open-file limit (${fds.soft}) is below what ${largest} sockets need: run \`ulimit -n ${largest + 1000}\` first (hard limit ${fds.hard}), or use npm run bench which raises it`);
  }

  await quietMachine('calibration');
  const calibration = await withTimeout(calibrate(), 90_000, 'calibration');
  log(`loopback floor: ${calibration.usPerWrite.toFixed(1)} µs CPU per socket write (${calibration.sysUsPerWrite.toFixed(1)} µs kernel)`);

  const stack = await startStack();
  log(`PostgreSQL and Redis up, migrated (logs in ${stack.logs})`);
  const clients: Clients = {
    listeners: Array.from({ length: opts.listenerProcesses }, () => forkTs('listener.ts', stack.childEnv)),
    publisher: forkTs('publisher.ts', stack.childEnv),
  };
  await withTimeout(new Promise((r) => clients.publisher.once('message', r)), 30_000, 'publisher start');

  const runs: Run[] = [];
  for (const n of opts.sizes) {
    for (const kind of opts.edges) runs.push(await runOne(stack, clients, kind, n));
  }

  const command = 'npm run bench';
  const first = runs.flatMap((r) => r.steps)[0];
  const meta = {
    date: new Date().toISOString(),
    node: process.versions.node,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 2 ** 20),
    commit: (() => {
      try {
        return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
      } catch {
        return 'unknown';
      }
    })(),
    eventBytes: first?.eventBytes ?? 0,
    calibration,
    options: opts,
  };
  mkdirSync(opts.resultsDir, { recursive: true });
  const md = markdown(meta, runs, command);
  writeFileSync(join(opts.resultsDir, 'latest.md'), md);
  writeFileSync(join(opts.resultsDir, 'latest.json'), JSON.stringify({ meta, runs, verdicts: verdicts(runs) }, null, 2));
  console.log(`\n${md}`);
  log(`results written to ${join(opts.resultsDir, 'latest.md')} and latest.json`);
}

// `tsx bench/realtime/run.ts --render [results.json]`: rewrites latest.md from a results file.
if (process.argv[2] === '--render') {
  const file = resolve(process.argv[3] ?? join(opts.resultsDir, 'latest.json'));
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { meta: { calibration: Calibration; options: typeof opts }; runs: Run[] };
  Object.assign(opts, saved.meta.options);
  const md = markdown(saved.meta, saved.runs, 'npm run bench');
  writeFileSync(join(opts.resultsDir, 'latest.md'), md);
  console.log(md);
  process.exit(0);
}

main().then(
  () => cleanup().then(() => process.exit(0)),
  (err: unknown) => {
    console.error('[bench] failed:', err instanceof Error ? err.stack ?? err.message : err);
    void cleanup().finally(() => process.exit(1));
  },
);
