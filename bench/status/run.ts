import 'reflect-metadata';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { DataSource } from 'typeorm';
import { loadConfig } from '../../config';
import { createDataSource } from '../../db/data-source';
import { Ledger } from '../../db/repositories/ledger';
import { accessTokensFromConfig } from '../../platform/auth/access-tokens';
import { connectTemporalClient } from '../../platform/temporal';
import { startProcess, waitUntil } from '../../scripts/stack/child-process';
import { freePorts } from '../../test/support/ports';
import { vipWorkflowId } from '../../workflows/vip/definitions';
import { benchAppEnv, benchRun, commitOf, startBenchStores } from '../support/bench-run';
import type { LoadCommand, LoadReport, LoadTask } from '../gifts/ipc';
import { ask, cpuBetween, cpuSample, forkTs } from '../gifts/processes';
import { Histogram } from '../realtime/stats';

/**
 * `npm run bench:status`: the status and belonging paths against real services, each beside a
 * bare Koa handler measured in the same run. Starts a throwaway PostgreSQL, Redis and Temporal
 * dev server, the API (compiled, dist/) and the worker as their own processes, seeds users,
 * follows, displayed medals, CP pairs and notifications with SQL, then drives from separate
 * load processes (bench/gifts/sender.ts: closed loop over keep-alive HTTP):
 *
 *  - GET /v1/users/:id, GET /v1/users/:id/followers: many distinct viewer → target pairs;
 *  - GET /v1/notifications (first page of 20) and /v1/notifications/unread-count, users with
 *    ~200 notifications each;
 *  - POST /v1/me/vip/purchases: one purchase per funded user, each signalling `vip:<userId>`.
 *
 * See README.md.
 */

const root = resolve(__dirname, '../..');
const env = process.env;
const opts = {
  users: Number(env.BENCH_STATUS_USERS ?? 1000),
  followsPerUser: Number(env.BENCH_STATUS_FOLLOWS_PER_USER ?? 20),
  cpPairs: Number(env.BENCH_STATUS_CP_PAIRS ?? 100),
  notifiedUsers: Number(env.BENCH_STATUS_NOTIFIED_USERS ?? 500),
  notificationsPerUser: Number(env.BENCH_STATUS_NOTIFICATIONS_PER_USER ?? 200),
  /** Distinct viewer → target pairs the profile and followers rows cycle through. */
  pairs: Number(env.BENCH_STATUS_PAIRS ?? 5000),
  readConcurrency: Number(env.BENCH_STATUS_READ_CONCURRENCY ?? 32),
  warmupSeconds: Number(env.BENCH_STATUS_WARMUP_SECONDS ?? 2),
  seconds: Number(env.BENCH_STATUS_SECONDS ?? 8),
  purchases: Number(env.BENCH_STATUS_PURCHASES ?? 200),
  /** Purchases by other users before the measured ones: JIT, pools, the first flows. */
  warmupPurchases: Number(env.BENCH_STATUS_WARMUP_PURCHASES ?? 20),
  purchaseConcurrency: Number(env.BENCH_STATUS_PURCHASE_CONCURRENCY ?? 8),
  senderProcesses: Number(env.BENCH_STATUS_SENDER_PROCESSES ?? 2),
  keepData: env.BENCH_KEEP_DATA === '1',
  out: resolve(root, env.BENCH_STATUS_OUT ?? 'bench/results/status-latest.md'),
};
/** Tier 1 (Bronze) costs 3,000 coins a period; each buyer gets enough for one. */
const VIP_TIER = 1;
const BUYER_COINS = 10_000;
/** Medals seeded by the migrations that a profile can show (user_medals references medals). */
const SHOWN_MEDALS = ['streak-7', 'first-gift', 'first-recharge', 'wealth-10', 'charm-10', 'gifts-100'];
/** A purchase whose signal Temporal didn't take in time still answers 201; the API logs this. */
const SIGNAL_TIMEOUT_LOG = 'the vip flow did not take the purchase in time';

const nowMs = () => performance.timeOrigin + performance.now();

// Everything started is stopped on the way out, newest first, whatever the way out is.
const { log, cleanups, cleanup } = benchRun('status');

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32): the same graph every run. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// --- one measured row -----------------------------------------------------------------------

interface Row {
  name: string;
  /** The row whose req/s this one is compared with. */
  baseline: string | null;
  concurrency: number;
  ok: number;
  perSecond: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** Answers other than the expected status, by error code (and transport errors). */
  failures: Record<string, number>;
  seconds: number;
  /** Cores used per process tree over the measured window; `others` = processes outside the bench. */
  cpu: Record<string, number>;
  load: [number, number];
}

interface Load {
  concurrency: number;
  warmupSeconds: number;
  /** The measured window; with `once`, the most it may last (the row ends when the tasks run out). */
  seconds: number;
  /** Each task is made once (a purchase per user). */
  once: boolean;
  idempotencyKey: boolean;
  okStatus: number;
}

async function measure(name: string, baseline: string | null, senders: ChildProcess[], roots: Record<string, number[]>, baseUrl: string, tasks: LoadTask[], load: Load): Promise<Row> {
  const n = senders.length;
  const perProcess = Math.max(1, Math.round(load.concurrency / n));
  const measureFrom = nowMs() + load.warmupSeconds * 1000;
  const measureUntil = measureFrom + load.seconds * 1000;
  const loadBefore = loadavg()[0]!;
  // CPU is read when the measured window opens, not at the start of the warm-up.
  let cpuAtStart: Record<string, number> | undefined;
  const cpuTimer = setTimeout(() => (cpuAtStart = cpuSample(roots)), Math.max(0, measureFrom - nowMs()));
  const reports = await Promise.all(
    senders.map((child, i) =>
      ask<LoadReport>(
        child,
        {
          type: 'run',
          baseUrl,
          // Each process its own share of the tasks (a one-task list is shared).
          tasks: tasks.length < n ? tasks : tasks.filter((_, j) => j % n === i),
          concurrency: perProcess,
          measureFrom,
          measureUntil,
          once: load.once,
          idempotencyKey: load.idempotencyKey,
          okStatus: load.okStatus,
          recordSendTimes: false,
        } satisfies LoadCommand,
        'done',
        (load.warmupSeconds + load.seconds) * 1000 + 60_000,
      ),
    ),
  );
  clearTimeout(cpuTimer);
  const cpuAtEnd = cpuSample(roots);
  const windowMs = Math.max(...reports.map((r) => r.windowMs));
  const latency = Histogram.merge(reports.map((r) => r.latency));
  const ok = reports.reduce((s, r) => s + r.ok, 0);
  const failures: Record<string, number> = {};
  for (const r of reports) for (const [code, count] of Object.entries(r.errorCodes)) failures[code] = (failures[code] ?? 0) + count;
  const row: Row = {
    name,
    baseline,
    concurrency: perProcess * n,
    ok,
    perSecond: ok / (windowMs / 1000),
    p50: latency.percentile(0.5),
    p99: latency.percentile(0.99),
    p999: latency.percentile(0.999),
    max: latency.maxMs,
    failures,
    seconds: windowMs / 1000,
    cpu: cpuAtStart ? cpuBetween(cpuAtStart, cpuAtEnd, (nowMs() - measureFrom) / 1000) : {},
    load: [loadBefore, loadavg()[0]!],
  };
  const failed = Object.entries(failures).map(([k, v]) => `${v}× ${k}`).join(', ');
  log(
    `${name} c=${row.concurrency}: ${row.perSecond.toFixed(1)}/s, p50 ${f1(row.p50)} p99 ${f1(row.p99)} ms, ${ok} ok${failed ? `, failed: ${failed}` : ''}; ` +
      `CPU ${Object.entries(row.cpu).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}; load ${row.load.map((l) => l.toFixed(1)).join('→')}`,
  );
  return row;
}

const f1 = (v: number) => (Number.isNaN(v) ? '–' : v < 10 ? v.toFixed(1) : v.toFixed(0));

// --- seeding (SQL, in bulk) -----------------------------------------------------------------

interface Seeded {
  /** Users the profile, followers and notification rows read as (and about). */
  users: string[];
  /** user index → its CP partner's index, for the pre-flight check. */
  cpPartnerOf: Map<number, number>;
  follows: number;
  shownMedals: number;
  notifications: number;
}

async function insertUsers(dataSource: DataSource, count: number, label: string, withStatus: boolean): Promise<string[]> {
  // Every tenth status user is VIP (tier 1–3, not expired); levels vary, as a profile shows them.
  const status = withStatus
    ? `g % 31, (g * 7) % 29, CASE WHEN g % 10 = 0 THEN 1 + g % 3 ELSE 0 END, CASE WHEN g % 10 = 0 THEN now() + interval '20 days' END`
    : `0, 0, 0, NULL::timestamptz`;
  const rows = (await dataSource.query(
    `WITH u AS (
       INSERT INTO users (display_name, time_zone, wealth_level, charm_level, vip_tier, vip_expires_at)
       SELECT $2 || ' ' || g, 'UTC', ${status} FROM generate_series(1, $1::int) g RETURNING id),
     w AS (INSERT INTO wallets (user_id) SELECT id FROM u)
     SELECT id FROM u`,
    [count, label],
  )) as { id: string }[];
  return rows.map((r) => r.id);
}

async function seedStatus(dataSource: DataSource): Promise<Seeded> {
  const random = seededRandom(11);
  const users = await insertUsers(dataSource, opts.users, 'status user', true);

  // Each user follows `followsPerUser` others at random (so ~that many followers each, a full first page).
  const followers: string[] = [];
  const followees: string[] = [];
  const agesSeconds: number[] = [];
  for (let i = 0; i < users.length; i++) {
    const picked = new Set<number>();
    while (picked.size < Math.min(opts.followsPerUser, users.length - 1)) {
      const j = Math.floor(random() * users.length);
      if (j !== i) picked.add(j);
    }
    for (const j of picked) {
      followers.push(users[i]!);
      followees.push(users[j]!);
      agesSeconds.push(Math.floor(random() * 30 * 86_400));
    }
  }
  // The follow-count trigger runs per row, as it does for a real follow.
  await dataSource.query(
    `INSERT INTO user_follows (follower_id, followee_id, created_at)
     SELECT f, e, now() - s * interval '1 second' FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS t(f, e, s)`,
    [followers, followees, agesSeconds],
  );

  // 0–3 shown medals per user (announced already: the worker's re-check must not notify them now).
  const medalUsers: string[] = [];
  const medalIds: string[] = [];
  const slots: number[] = [];
  users.forEach((userId, i) => {
    for (let slot = 1; slot <= i % 4; slot++) {
      medalUsers.push(userId);
      medalIds.push(SHOWN_MEDALS[(i + slot) % SHOWN_MEDALS.length]!);
      slots.push(slot);
    }
  });
  await dataSource.query(
    `INSERT INTO user_medals (user_id, medal_id, display_slot, announced_at)
     SELECT u, m, s, now() FROM unnest($1::uuid[], $2::text[], $3::int[]) AS t(u, m, s)`,
    [medalUsers, medalIds, slots],
  );

  // CP pairs between users 2k and 2k+1 (the trigger fills cp_open_partners).
  const cpPartnerOf = new Map<number, number>();
  const pairA: string[] = [];
  const pairB: string[] = [];
  for (let k = 0; k < Math.min(opts.cpPairs, Math.floor(users.length / 2)); k++) {
    pairA.push(users[2 * k]!);
    pairB.push(users[2 * k + 1]!);
    cpPartnerOf.set(2 * k, 2 * k + 1).set(2 * k + 1, 2 * k);
  }
  await dataSource.query(
    `INSERT INTO cp_pairs (user_a, user_b, formed_at)
     SELECT least(a, b), greatest(a, b), now() - interval '3 days' FROM unnest($1::uuid[], $2::uuid[]) AS t(a, b)`,
    [pairA, pairB],
  );

  // ~200 notifications for each of the first `notifiedUsers` users, a minute apart; the older
  // half read, the newer half unread.
  const notified = users.slice(0, opts.notifiedUsers);
  await dataSource.query(
    `INSERT INTO notifications (user_id, kind, title, body, data, idempotency_key, read_at, created_at)
     SELECT u, (ARRAY['follow', 'gift_received', 'medal', 'level_up', 'reward'])[1 + g % 5],
            'Bench notice ' || g, 'Something happened to you in the bench, number ' || g, jsonb_build_object('n', g),
            'bench-status:' || u || ':' || g,
            CASE WHEN g > $2 / 2 THEN now() END, now() - g * interval '1 minute'
       FROM unnest($1::uuid[]) AS t(u) CROSS JOIN generate_series(1, $2::int) g`,
    [notified, opts.notificationsPerUser],
  );
  // Planner statistics, as a database that has been running would have them.
  await dataSource.query('ANALYZE');
  return { users, cpPartnerOf, follows: followers.length, shownMedals: medalUsers.length, notifications: notified.length * opts.notificationsPerUser };
}

// --- the run --------------------------------------------------------------------------------

async function main(): Promise<void> {
  const cliPath = env.TEMPORAL_CLI_PATH;
  if (!cliPath) throw new Error('TEMPORAL_CLI_PATH is unset: run through `npm run bench:status`');
  const loadAtStart = loadavg();
  log('npm run build');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });

  const [pgPort, redisPort, temporalPort, apiPort, barePort] = (await freePorts(5)) as [number, number, number, number, number];
  const stores = await startBenchStores({
    name: 'status',
    cliPath,
    ports: { postgres: pgPort, redis: redisPort, temporal: temporalPort },
    cleanups,
    log,
    keep: opts.keepData,
  });
  const { logs, postgres, redis, temporal } = stores;

  const appEnv = benchAppEnv(env, stores, apiPort);
  const config = loadConfig(appEnv);
  const startNode = (name: string, args: string[], processEnv: NodeJS.ProcessEnv) => {
    const p = startProcess(name, process.execPath, args, { cwd: root, env: processEnv, output: { file: join(logs, `${name}.log`) } });
    cleanups.push({ what: name, run: () => p.stop('SIGTERM', 10_000) });
    return p;
  };
  // The worker first: it bundles the workflows at start (tens of seconds of CPU), which then
  // overlaps the seeding instead of the measurements.
  const worker = startNode('worker', ['--import', 'tsx', join(root, 'workers/main.ts')], appEnv);
  const api = startNode('api', [join(root, 'dist/api/main.js')], appEnv);
  const bare = startNode('bare-koa', ['--import', 'tsx', join(root, 'bench/api/bare-koa.ts')], { ...env, PORT: String(barePort) });

  const dataSource = await createDataSource({ url: postgres.url, poolSize: 8, applicationName: 'bench-status' }).initialize();
  cleanups.push({ what: 'orchestrator pool', run: () => dataSource.destroy() });
  log('seeding');
  const seeded = await seedStatus(dataSource);
  const buyers = await insertUsers(dataSource, opts.warmupPurchases + opts.purchases, 'vip buyer', false);
  const ledger = new Ledger(dataSource);
  for (let i = 0; i < buyers.length; i += 16) {
    await Promise.all(
      buyers.slice(i, i + 16).map((userId) => ledger.creditCoins({ userId, amount: BUYER_COINS, reason: 'recharge', idempotencyKey: `bench-status-fund:${userId}` })),
    );
  }
  log(
    `seeded ${seeded.users.length} users, ${seeded.follows} follows, ${seeded.shownMedals} shown medals, ${seeded.cpPartnerOf.size / 2} CP pairs, ` +
      `${seeded.notifications} notifications (${opts.notifiedUsers} users), ${buyers.length} funded VIP buyers`,
  );

  const tokens = accessTokensFromConfig(config);
  const tokenOf = new Map<string, string>();
  for (const userId of [...seeded.users, ...buyers]) tokenOf.set(userId, await tokens.sign({ userId }, 3600));

  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const bareUrl = `http://127.0.0.1:${barePort}`;
  // Every check green, the worker's included: the purchases' flows need it, and its start-up
  // must be over before anything is measured.
  await waitUntil('api and worker', async () => {
    const res = await fetch(`${apiUrl}/v1/readyz`);
    if (!res.ok) throw new Error(`readyz ${res.status}: ${await res.text()}`);
  }, 180_000, Promise.race([api.exited, worker.exited]));
  await waitUntil('bare-koa', () => fetch(`${bareUrl}/`), 30_000, bare.exited);
  log(`API pid ${api.child.pid} (dist/), worker pid ${worker.child.pid}, bare Koa pid ${bare.child.pid}`);

  // --- tasks: distinct viewer → target pairs, each as the viewer ---
  const random = seededRandom(23);
  const pick = () => Math.floor(random() * seeded.users.length);
  const asUser = (userId: string, path: string): LoadTask => ({ method: 'GET', path, token: tokenOf.get(userId)! });
  const pairTasks = (path: (target: string) => string) =>
    Array.from({ length: opts.pairs }, () => {
      const viewer = pick();
      let target = pick();
      if (target === viewer) target = (target + 1) % seeded.users.length;
      return asUser(seeded.users[viewer]!, path(seeded.users[target]!));
    });
  const notified = seeded.users.slice(0, opts.notifiedUsers);
  const targets = {
    profile: pairTasks((id) => `/v1/users/${id}`),
    followers: pairTasks((id) => `/v1/users/${id}/followers`),
    notifications: notified.map((u) => asUser(u, '/v1/notifications')),
    unread: notified.map((u) => asUser(u, '/v1/notifications/unread-count')),
  };
  const purchaseBody = JSON.stringify({ tier: VIP_TIER, periods: 1 });
  const purchaseTask = (userId: string): LoadTask => ({ method: 'POST', path: '/v1/me/vip/purchases', token: tokenOf.get(userId)!, body: purchaseBody });

  await preflight(apiUrl, seeded, tokenOf);

  // --- load processes and the measured rows ---
  const senders = Array.from({ length: opts.senderProcesses }, () => {
    const { child, stop } = forkTs(join(root, 'bench/gifts/sender.ts'), { cwd: root, env: { ...appEnv, LOG_LEVEL: 'warn' } });
    cleanups.push({ what: 'sender', run: stop });
    return child;
  });
  const roots: Record<string, number[]> = {
    api: [api.child.pid!],
    postgres: [postgres.process.child.pid!],
    redis: [redis.process.child.pid!],
    temporal: [temporal.process.child.pid!],
    worker: [worker.child.pid!],
    bare: [bare.child.pid!],
    senders: senders.map((s) => s.pid!),
  };
  const reads: Load = { concurrency: opts.readConcurrency, warmupSeconds: opts.warmupSeconds, seconds: opts.seconds, once: false, idempotencyKey: false, okStatus: 200 };
  const row = (name: string, baseline: string | null, url: string, tasks: LoadTask[], load: Load) => measure(name, baseline, senders, roots, url, tasks, load);
  const BARE_GET = 'bare Koa (GET)';
  const BARE_GET_AGAIN = 'bare Koa (GET, again, last)';
  const BARE_POST = 'bare Koa (POST)';

  const rows: Row[] = [];
  rows.push(await row(BARE_GET, null, bareUrl, [{ method: 'GET', path: '/' }], reads));
  rows.push(await row('GET /v1/users/:id', BARE_GET, apiUrl, targets.profile, reads));
  rows.push(await row('GET /v1/users/:id/followers', BARE_GET, apiUrl, targets.followers, reads));
  rows.push(await row('GET /v1/notifications', BARE_GET, apiUrl, targets.notifications, reads));
  rows.push(await row('GET /v1/notifications/unread-count', BARE_GET, apiUrl, targets.unread, reads));
  // Again at the end of the reads: on a shared machine the ceiling moves, so ratios use the mean of the two.
  rows.push(await row(BARE_GET_AGAIN, null, bareUrl, [{ method: 'GET', path: '/' }], reads));

  const purchases = { concurrency: opts.purchaseConcurrency, warmupSeconds: 0, seconds: 120, once: true, idempotencyKey: true, okStatus: 201 };
  rows.push(await row(BARE_POST, null, bareUrl, [{ method: 'POST', path: '/', body: purchaseBody }], { ...purchases, once: false, okStatus: 200, seconds: 5 }));
  const warmupBuyers = buyers.slice(0, opts.warmupPurchases);
  const measuredBuyers = buyers.slice(opts.warmupPurchases);
  const warmup = await row('VIP purchase warm-up', null, apiUrl, warmupBuyers.map(purchaseTask), purchases);
  rows.push(await row('POST /v1/me/vip/purchases', BARE_POST, apiUrl, measuredBuyers.map(purchaseTask), purchases));

  const vip = await checkPurchases(dataSource, temporal.url, buyers, join(logs, 'api.log'));
  log(`purchases: ${vip.purchaseRows} vip_purchases rows, ${vip.buyersAtTier} buyers at tier ${VIP_TIER}, flows ${JSON.stringify(vip.flows)}, ${vip.signalTimeouts} signals not taken in time`);

  const loadAtEnd = loadavg();
  const report = render(rows, { loadAtStart, loadAtEnd, seeded, vip, buyers: measuredBuyers.length });
  mkdirSync(resolve(opts.out, '..'), { recursive: true });
  writeFileSync(opts.out, report);
  const seededCounts = { users: seeded.users.length, follows: seeded.follows, shownMedals: seeded.shownMedals, cpPairs: seeded.cpPartnerOf.size / 2, notifications: seeded.notifications };
  writeFileSync(
    opts.out.replace(/\.md$/, '.json'),
    JSON.stringify({ commit: commitOf(root), options: opts, loadAtStart, loadAtEnd, seeded: seededCounts, rows, warmup, vip }, null, 2) + '\n',
  );
  console.log(`\n${report}`);
  log(`written to ${opts.out.replace(root + '/', '')}`);
  const allPurchased = vip.purchaseRows === buyers.length && vip.buyersAtTier === buyers.length && (vip.flows.RUNNING ?? 0) === buyers.length;
  if (rows.some((r) => Object.keys(r.failures).length > 0) || !allPurchased) {
    console.error('[bench:status] some requests failed or a purchase is missing its row or flow: the figures are not comparable');
    process.exitCode = 1;
  }
}

/** One request per path, checked for what the seed put there: a row that measures errors or empty pages is worthless. */
async function preflight(apiUrl: string, seeded: Seeded, tokenOf: Map<string, string>): Promise<void> {
  const get = async <T>(userId: string, path: string): Promise<T> => {
    const res = await fetch(`${apiUrl}${path}`, { headers: { authorization: `Bearer ${tokenOf.get(userId)!}` } });
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as T;
  };
  const [viewer, paired] = [seeded.users[seeded.users.length - 1]!, seeded.users[3]!];
  const profile = await get<{ medals: unknown[]; cpPartner: { userId: string } | null; followerCount: number }>(viewer, `/v1/users/${paired}`);
  const partner = seeded.users[seeded.cpPartnerOf.get(3) ?? -1];
  if (profile.medals.length !== 3 || profile.cpPartner?.userId !== partner || profile.followerCount === 0) {
    throw new Error(`the profile of a seeded user is not what was seeded: ${JSON.stringify(profile)}`);
  }
  const followers = await get<{ items: unknown[] }>(viewer, `/v1/users/${paired}/followers`);
  if (followers.items.length === 0) throw new Error('a seeded user has no followers');
  const notifications = await get<{ items: unknown[]; nextCursor: string | null }>(paired, '/v1/notifications');
  if (opts.notifiedUsers > 3 && (notifications.items.length !== Math.min(20, opts.notificationsPerUser) || (opts.notificationsPerUser > 20 && !notifications.nextCursor))) {
    throw new Error(`the first notifications page has ${notifications.items.length} items`);
  }
  const unread = await get<{ unread: number }>(paired, '/v1/notifications/unread-count');
  if (opts.notifiedUsers > 3 && unread.unread !== Math.floor(opts.notificationsPerUser / 2)) throw new Error(`unread count ${unread.unread}`);
}

/** Every buyer's purchase committed and its `vip:<userId>` flow exists (signal-with-start was taken). */
async function checkPurchases(dataSource: DataSource, temporalAddress: string, buyers: string[], apiLog: string) {
  const [rows] = (await dataSource.query(
    `SELECT (SELECT count(*) FROM vip_purchases WHERE user_id = ANY($1::uuid[]))::int AS purchases,
            (SELECT count(*) FROM users WHERE id = ANY($1::uuid[]) AND vip_tier = $2)::int AS at_tier`,
    [buyers, VIP_TIER],
  )) as { purchases: number; at_tier: number }[];
  const client = await connectTemporalClient({ address: temporalAddress, namespace: 'default' });
  const flows: Record<string, number> = {};
  try {
    for (let i = 0; i < buyers.length; i += 16) {
      const statuses = await Promise.all(
        buyers.slice(i, i + 16).map((userId) =>
          client.workflow
            .getHandle(vipWorkflowId(userId))
            .describe()
            .then((d) => d.status.name as string, () => 'NOT FOUND'),
        ),
      );
      for (const s of statuses) flows[s] = (flows[s] ?? 0) + 1;
    }
  } finally {
    await client.connection.close();
  }
  const signalTimeouts = readFileSync(apiLog, 'utf8').split(SIGNAL_TIMEOUT_LOG).length - 1;
  return { purchaseRows: rows!.purchases, buyersAtTier: rows!.at_tier, flows, signalTimeouts };
}

function render(
  rows: Row[],
  ctx: { loadAtStart: number[]; loadAtEnd: number[]; seeded: Seeded; vip: Awaited<ReturnType<typeof checkPurchases>>; buyers: number },
): string {
  const byName = new Map(rows.map((r) => [r.name, r]));
  const bareGets = rows.filter((r) => r.name.startsWith('bare Koa (GET'));
  const bareGetMean = bareGets.reduce((s, r) => s + r.perSecond, 0) / bareGets.length;
  const baselineOf = (r: Row) => (r.baseline === null ? null : r.baseline.startsWith('bare Koa (GET') ? bareGetMean : byName.get(r.baseline)?.perSecond ?? null);
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
  const failures = (r: Row) => Object.entries(r.failures).map(([k, v]) => `${v}× ${k}`).join(', ') || '0';
  const cpuCols = ['api', 'postgres', 'redis', 'temporal', 'worker', 'bare', 'senders', 'others'];
  const purchase = byName.get('POST /v1/me/vip/purchases');
  return [
    '# Status and belonging benchmark',
    '',
    `Run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC at commit ${commitOf(root)}, \`npm run bench:status\`, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}. ` +
      `API from dist/ (compiled), LOG_LEVEL=info; per-IP and per-user rate limits raised to 10^8/min (still checked). ` +
      `${opts.senderProcesses} load processes, closed loop over keep-alive HTTP; reads ${opts.warmupSeconds} s warm-up then ${opts.seconds} s measured at ${opts.readConcurrency} in flight; ` +
      `${ctx.buyers} VIP purchases (tier ${VIP_TIER}, one per user, a fresh Idempotency-Key each) at ${opts.purchaseConcurrency} in flight after ${opts.warmupPurchases} warm-up purchases.`,
    `Seeded with SQL: ${ctx.seeded.users.length.toLocaleString('en')} users (every tenth VIP), ${ctx.seeded.follows.toLocaleString('en')} follows, ${ctx.seeded.shownMedals.toLocaleString('en')} shown medals, ` +
      `${ctx.seeded.cpPartnerOf.size / 2} CP pairs, ${ctx.seeded.notifications.toLocaleString('en')} notifications (${opts.notificationsPerUser} each for ${opts.notifiedUsers} users, half unread); ` +
      `profile and followers rows cycle through ${opts.pairs.toLocaleString('en')} distinct viewer → target pairs.`,
    `Load average (1/5/15 min) at the start ${la(ctx.loadAtStart)}, at the end ${la(ctx.loadAtEnd)}: the machine is shared, see the "others" column below.`,
    '',
    '| path | in flight | ok/s | p50 ms | p99 ms | p99.9 ms | × bare Koa | ok | failed |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map((r) => {
      const base = baselineOf(r);
      return `| ${r.name} | ${r.concurrency} | **${r.perSecond.toFixed(r.perSecond < 100 ? 1 : 0)}** | ${f1(r.p50)} | ${f1(r.p99)} | ${f1(r.p999)} | ${base ? `${(r.perSecond / base).toFixed(3)}×` : '–'} | ${r.ok.toLocaleString('en')} | ${failures(r)} |`;
    }),
    '',
    `× bare Koa: reads against the mean of the two bare GET rows (${Math.round(bareGetMean).toLocaleString('en')}/s), the purchase against bare POST at the same concurrency.`,
    '',
    'CPU during the measured window, in cores (1 = one core busy; others = processes outside the benchmark; machine = busy share of all cores):',
    '',
    `| path | ${cpuCols.join(' | ')} | machine |`,
    `|---|${cpuCols.map(() => '---:').join('|')}|---:|`,
    ...rows.map((r) => `| ${r.name} | ${cpuCols.map((k) => (r.cpu[k] === undefined ? '–' : r.cpu[k]!.toFixed(2))).join(' | ')} | ${r.cpu.machine === undefined ? '–' : `${(r.cpu.machine * 100).toFixed(0)}%`} |`),
    '',
    `Purchases after the run (warm-up included): ${ctx.vip.purchaseRows} \`vip_purchases\` rows, ${ctx.vip.buyersAtTier} buyers at tier ${VIP_TIER}, ` +
      `\`vip:<userId>\` flows by status: ${Object.entries(ctx.vip.flows).map(([k, v]) => `${v} ${k}`).join(', ')}; ${ctx.vip.signalTimeouts} purchases answered before Temporal took their signal (3 s deadline).` +
      (purchase ? ` Purchase window ${purchase.seconds.toFixed(1)} s.` : ''),
    '',
  ].join('\n');
}

main()
  .catch((err: unknown) => {
    console.error(`[bench:status] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => void cleanup().then(() => process.exit()));
