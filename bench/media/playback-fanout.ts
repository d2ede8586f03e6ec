import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../../config';
import { createDataSource } from '../../db/data-source';
import { RoomLiveState } from '../../db/live/room-live-state';
import { UserDirectory } from '../../db/repositories/users';
import { accessTokensFromConfig } from '../../platform/auth/access-tokens';
import type { VideoCatalog, VideoMeta } from '../../platform/media/video-catalog';
import { createRedis } from '../../platform/redis';
import { migrateAndSeed } from '../../scripts/migrate';
import { startProcess, waitUntil, type ManagedProcess } from '../../scripts/stack/child-process';
import { startPostgres, startRedis } from '../../scripts/stack/services';
import { createPlaybackService } from '../../services/playback';
import { createRoomService, liveStateSettingsFromConfig } from '../../services/rooms';
import { freePort } from '../../test/support/ports';
import type { ListenerCommand, ListenerReply } from '../realtime/ipc';
import { Histogram, type HistogramData } from '../realtime/stats';

/**
 * Playback-state fan-out: 1,000 listener sockets in one room on the production edge
 * (realtime/main.ts, its own process), a controller issuing seeks through PlaybackService (the
 * PostgreSQL transaction with the room's row lock, then the room script storing the state and
 * emitting playback.updated), and, in the same run, the bare baseline: the same number of plain
 * room events through RoomLiveState.emit (Redis only). Latency is from the controller's call to
 * each socket's receipt (listener processes from bench/realtime, keyed by the playback version
 * or the baseline's sendId), so the difference between the two rows is what the record costs.
 *
 *   source scripts/toolchain.sh && npx tsx bench/media/playback-fanout.ts
 *
 * BENCH_LISTENERS (1000), BENCH_SEEKS (100), BENCH_RATE (seeks/s, 20), BENCH_LISTENER_PROCESSES (2).
 */

const root = resolve(__dirname, '../..');
const env = process.env;
const opts = {
  listeners: Number(env.BENCH_LISTENERS ?? 1000),
  seeks: Number(env.BENCH_SEEKS ?? 100),
  rate: Number(env.BENCH_RATE ?? 20),
  listenerProcesses: Number(env.BENCH_LISTENER_PROCESSES ?? 2),
};

const T0 = performance.now();
const log = (message: string) => console.log(`[bench:media ${((performance.now() - T0) / 1000).toFixed(1).padStart(5)}s] ${message}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => performance.timeOrigin + performance.now();

const cleanups: { what: string; run: () => Promise<unknown> | unknown }[] = [];
async function cleanup(): Promise<void> {
  for (const { what, run } of cleanups.splice(0).reverse()) {
    try {
      await run();
    } catch (err) {
      console.error(`[bench:media] cleanup of ${what} failed: ${(err as Error).message}`);
    }
  }
}

function ask<T extends ListenerReply['type']>(child: ChildProcess, command: ListenerCommand, type: T, timeoutMs: number): Promise<Extract<ListenerReply, { type: T }>> {
  return new Promise((resolveReply, reject) => {
    const timer = setTimeout(() => reject(new Error(`${type}: no answer after ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: ListenerReply) => {
      if (message.type !== type) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolveReply(message as Extract<ListenerReply, { type: T }>);
    };
    child.on('message', onMessage);
    child.send(command);
  });
}

/** One video, always there: the bench measures fan-out, not YouTube. */
const video: VideoMeta = {
  id: 'benchVideo1',
  title: 'Bench video',
  channelTitle: 'Bench',
  durationMs: 3_600_000,
  thumbnails: [],
  embeddable: true,
  regionsAllowed: null,
  regionsBlocked: null,
  liveBroadcastContent: 'none',
  ageRestricted: false,
};
const catalog: VideoCatalog = { lookup: async () => video };

interface PhaseResult {
  name: string;
  events: number;
  deliveries: number;
  missing: number;
  deliveriesPerSecond: number;
  p50: number;
  p99: number;
  max: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync('/tmp/aura-bench-media-');
  chmodSync(dir, 0o755);
  cleanups.push({ what: 'temp dir', run: () => rmSync(dir, { recursive: true, force: true }) });
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const [pgPort, redisPort, edgePort] = [await freePort(), await freePort(), await freePort()];
  const [postgres, redisService] = await Promise.all([
    startPostgres({ dataDir: join(dir, 'postgres'), port: pgPort, database: 'aura_bench', output: { file: join(logs, 'postgres.log') } }),
    startRedis({ dataDir: join(dir, 'redis'), port: redisPort, persist: false, output: { file: join(logs, 'redis.log') } }),
  ]);
  cleanups.push({ what: 'postgres', run: () => postgres.process.stop(undefined, 10_000) });
  cleanups.push({ what: 'redis', run: () => redisService.process.stop(undefined, 10_000) });
  await migrateAndSeed(postgres.url, { seed: false });
  const childEnv: NodeJS.ProcessEnv = {
    ...env,
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    DATABASE_URL: postgres.url,
    REDIS_URL: redisService.url,
    ACCESS_TOKEN_SECRET: randomBytes(32).toString('hex'),
    OTP_SECRET: randomBytes(32).toString('hex'),
    PHONE_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    ACCESS_TOKEN_TTL_SECONDS: '3600',
    REALTIME_HOST: '127.0.0.1',
    REALTIME_MAX_SOCKETS_PER_IP: '1000000',
    REALTIME_UPGRADES_PER_IP_PER_MINUTE: '1000000',
  };
  const config = loadConfig(childEnv);
  const dataSource = await createDataSource({ url: config.DATABASE_URL, poolSize: 4, applicationName: 'aura-bench-media' }).initialize();
  cleanups.push({ what: 'pool', run: () => dataSource.destroy() });
  const redis = createRedis(config.REDIS_URL, { name: 'aura-bench-media' });
  cleanups.push({ what: 'redis client', run: () => redis.disconnect() });
  const { rooms, live } = createRoomService({ config, dataSource, redis });
  const playback = createPlaybackService({ config, dataSource, live, rooms, catalog });

  const owner = await new UserDirectory(dataSource).create({ displayName: 'bench owner' });
  const room = await rooms.create(owner.id, { type: 'voice', name: 'bench playback', seatCount: 9, seatMode: 'free' });
  // Members before the edge starts (leased for an hour), so joining sends no member.joined storm.
  const seeder = new RoomLiveState(redis, { ...liveStateSettingsFromConfig(config), leaseMs: 3_600_000 });
  const users = Array.from({ length: opts.listeners }, () => randomUUID());
  for (let i = 0; i < users.length; i += 500) await Promise.all(users.slice(i, i + 500).map((u) => seeder.join(room.id, u, `seed-${u}`)));
  const tokens = accessTokensFromConfig(config);
  const signed = await Promise.all(users.map((userId) => tokens.sign({ userId })));
  await playback.add(owner.id, room.id, video.id); // starts playing (version 1)

  const edge: ManagedProcess = startProcess('edge', process.execPath, ['--import', 'tsx', resolve(root, 'realtime/main.ts')], {
    cwd: root,
    env: { ...childEnv, REALTIME_PORT: String(edgePort), PLAYBACK_SWEEP_MS: '60000' },
    output: { file: join(logs, 'edge.log') },
  });
  cleanups.push({ what: 'edge', run: () => edge.stop('SIGTERM', 10_000) });
  await waitUntil('edge', async () => {
    const res = await fetch(`http://127.0.0.1:${edgePort}/healthz`, { signal: AbortSignal.timeout(1_000) });
    if (!res.ok) throw new Error(`healthz ${res.status}`);
  }, 60_000, edge.exited);

  const listeners = Array.from({ length: opts.listenerProcesses }, () => {
    const child = fork(resolve(root, 'bench/realtime/listener.ts'), [], { cwd: root, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    cleanups.push({ what: 'listener', run: () => child.kill('SIGTERM') });
    return child;
  });
  const share = Math.ceil(signed.length / listeners.length);
  const connected = await Promise.all(
    listeners.map((child, i) =>
      ask(child, { type: 'connect', host: '127.0.0.1', port: edgePort, room: room.id, tokens: signed.slice(i * share, (i + 1) * share), concurrency: 50, timeoutMs: 30_000 }, 'connected', 120_000),
    ),
  );
  const joined = connected.reduce((s, c) => s + c.joined, 0);
  log(`${joined} listeners joined (${connected.flatMap((c) => c.errors).join('; ') || 'no errors'})`);

  /** Sends `count` events at the rate, then waits until every socket got them all; latency by key. */
  async function phase(name: string, key: string | undefined, send: (i: number) => Promise<string>): Promise<PhaseResult> {
    await Promise.all(listeners.map((c) => ask(c, { type: 'track', on: true, ...(key ? { key } : {}) }, 'tracking', 10_000)));
    await Promise.all(listeners.map((c) => ask(c, { type: 'step' }, 'stepped', 10_000)));
    const sendTimes: [string, number][] = [];
    const started = nowMs();
    for (let i = 0; i < opts.seeks; i++) {
      const due = started + (i * 1000) / opts.rate;
      const wait = due - nowMs();
      if (wait > 0) await sleep(wait);
      const at = nowMs();
      sendTimes.push([await send(i), at]);
    }
    const expected = opts.seeks * joined;
    let received = 0;
    const deadline = nowMs() + 30_000;
    while (nowMs() < deadline) {
      received = (await Promise.all(listeners.map((c) => ask(c, { type: 'status' }, 'status', 10_000)))).reduce((s, r) => s + r.received, 0);
      if (received >= expected) break;
      await sleep(20);
    }
    const seconds = (nowMs() - started) / 1000;
    const parts: HistogramData[] = [];
    for (const c of listeners) {
      const r = await ask(c, { type: 'sendLatency', sendTimes }, 'sendLatency', 60_000);
      for (const entry of Object.values(r.byType)) parts.push(entry.latency);
    }
    const latency = Histogram.merge(parts);
    const deliveries = latency.count;
    await Promise.all(listeners.map((c) => ask(c, { type: 'track', on: false }, 'tracking', 10_000)));
    const result = {
      name,
      events: opts.seeks,
      deliveries,
      missing: expected - deliveries,
      deliveriesPerSecond: Math.round(deliveries / seconds),
      p50: latency.percentile(0.5),
      p99: latency.percentile(0.99),
      max: latency.maxMs,
    };
    log(`${name}: ${deliveries} deliveries (${result.missing} missing), ${result.deliveriesPerSecond}/s, p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, max ${result.max.toFixed(1)} ms`);
    return result;
  }

  // Warm-up (not measured): the edge, the listeners and the pools reach their steady state first,
  // so neither measured phase pays for it.
  for (let i = 0; i < 50; i++) {
    await live.emit(room.id, 'bench.warmup', { i });
    await playback.seek(owner.id, room.id, i * 1_000);
    await sleep(10);
  }
  await sleep(1_000);

  const results = [
    await phase('baseline: RoomLiveState.emit (Redis only)', undefined, async () => {
      const sendId = randomUUID();
      await live.emit(room.id, 'bench.baseline', { sendId });
      return sendId;
    }),
    await phase('playback.updated: seek via PlaybackService (PostgreSQL + Redis)', 'version', async (i) => {
      const answer = await playback.seek(owner.id, room.id, (i + 1) * 1_000);
      return String(answer.playback.version);
    }),
  ];
  console.log(`\n${joined} listeners, ${opts.seeks} events per phase at ${opts.rate}/s\n`);
  console.log('| phase | deliveries | missing | deliveries/s | p50 ms | p99 ms | max ms |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.name} | ${r.deliveries} | ${r.missing} | ${r.deliveriesPerSecond} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} |`);
}

main()
  .then(cleanup, async (err: unknown) => {
    console.error(err);
    await cleanup();
    process.exitCode = 1;
  })
  .finally(() => setTimeout(() => process.exit(), 500).unref());
