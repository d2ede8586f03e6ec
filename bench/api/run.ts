import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import ts from 'typescript';
import { loadConfig } from '../../config';
import { DEV_SECRETS } from '../../config/dev-secrets';
import { createDataSource } from '../../db/data-source';
import { UserDirectory } from '../../db/repositories/users';
import { accessTokensFromConfig } from '../../platform/auth/access-tokens';
import { migrateAndSeed } from '../../scripts/migrate';
import { startProcess, waitUntil, type ManagedProcess } from '../../scripts/stack/child-process';
import { startPostgres, startRedis, startTemporalDevServer } from '../../scripts/stack/services';
import { freePort } from '../../test/support/ports';

/**
 * `npm run bench:api`: what one HTTP request costs. Starts a throwaway PostgreSQL, Redis and
 * Temporal dev server, the API from compiled JavaScript (dist/, `npm run build`) as its own
 * process, and a bare Koa handler (bench/api/bare-koa.ts, compiled the same way) as another;
 * then, in the same run, drives each target with autocannon at 50 concurrent keep-alive
 * clients and reports req/s, p50/p99 latency, the ratio to bare Koa and the server's CPU.
 */
const root = resolve(__dirname, '../..');
const env = process.env;
const opts = {
  connections: Number(env.BENCH_API_CONNECTIONS ?? 50),
  warmupSeconds: Number(env.BENCH_API_WARMUP_SECONDS ?? 3),
  seconds: Number(env.BENCH_API_SECONDS ?? 10),
  /** Run api/main.ts through tsx (how the dev stack ran it before it ran dist/): for the "before" figures. */
  fromSource: env.BENCH_API_FROM_SOURCE === '1',
  /** Write a V8 CPU profile of the API process (node --cpu-prof) into this folder. */
  profileDir: env.BENCH_API_PROFILE_DIR ? resolve(env.BENCH_API_PROFILE_DIR) : undefined,
  out: resolve(root, env.BENCH_API_OUT ?? 'bench/results/api-latest.md'),
  label: env.BENCH_API_LABEL ?? '',
  only: env.BENCH_API_ONLY,
};
const CLK_TCK = 100;
const T0 = performance.now();
const log = (message: string) => console.log(`[bench:api ${((performance.now() - T0) / 1000).toFixed(1).padStart(5)}s] ${message}`);

const running: ManagedProcess[] = [];
async function stopAll(): Promise<void> {
  for (const p of running.splice(0).reverse()) await p.stop('SIGTERM', 5_000).catch(() => undefined);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void stopAll().finally(() => process.exit(130)));
}

/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** The bare handler, compiled to JavaScript like the API, so both run on plain Node. */
function compileBareKoa(): string {
  const source = readFileSync(join(__dirname, 'bare-koa.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } });
  const dir = join(root, 'dist', 'bench-api');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'bare-koa.js');
  writeFileSync(file, outputText);
  return file;
}

interface Target {
  name: string;
  url: string;
  headers?: Record<string, string>;
  pid: number;
}

interface Measured {
  name: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  serverCpu: number;
  cpuMsPerRequest: number;
}

async function drive(target: Target, seconds: number): Promise<autocannon.Result> {
  return autocannon({ url: target.url, connections: opts.connections, duration: seconds, headers: target.headers ?? {} });
}

async function measure(target: Target): Promise<Measured> {
  await drive(target, opts.warmupSeconds);
  const cpuBefore = cpuSeconds(target.pid);
  const started = performance.now();
  const result = await drive(target, opts.seconds);
  const elapsed = (performance.now() - started) / 1000;
  const serverCpu = (cpuSeconds(target.pid) - cpuBefore) / elapsed;
  const m: Measured = {
    name: target.name,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    serverCpu,
    cpuMsPerRequest: result.requests.average > 0 ? (serverCpu * 1000) / result.requests.average : NaN,
  };
  log(`${m.name}: ${Math.round(m.requestsPerSecond)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, server CPU ${(serverCpu * 100).toFixed(0)}% of a core, non-2xx ${m.non2xx}, errors ${m.errors}`);
  return m;
}

async function main(): Promise<void> {
  const cliPath = env.TEMPORAL_CLI_PATH;
  if (!cliPath) throw new Error('TEMPORAL_CLI_PATH is unset: run `npm run bench:api`');
  if (!opts.fromSource) {
    log('npm run build');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  }
  const bareKoaJs = compileBareKoa();

  const dir = mkdtempSync('/tmp/aura-bench-api-');
  chmodSync(dir, 0o755); // the postgres account must reach its data dir
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const [pgPort, redisPort, temporalPort, apiPort, barePort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const track = <T extends { process: ManagedProcess }>(s: T): T => {
    running.push(s.process);
    return s;
  };
  log('starting PostgreSQL, Redis and Temporal');
  const [postgres, redis, temporal] = await Promise.all([
    startPostgres({ dataDir: join(dir, 'postgres'), port: pgPort, database: 'aura_bench', output: { file: join(logs, 'postgres.log') } }).then(track),
    startRedis({ dataDir: join(dir, 'redis'), port: redisPort, persist: false, output: { file: join(logs, 'redis.log') } }).then(track),
    startTemporalDevServer({ cliPath, port: temporalPort, namespace: 'default', output: { file: join(logs, 'temporal.log') } }).then(track),
  ]);
  await migrateAndSeed(postgres.url, { seed: false });

  const apiEnv: NodeJS.ProcessEnv = {
    ...env,
    NODE_ENV: 'development',
    LOG_LEVEL: 'info', // one access-log line per request, as in production
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    TEMPORAL_ADDRESS: temporal.url,
    API_HOST: '127.0.0.1',
    API_PORT: String(apiPort),
    // The limits stay on (every request still pays for them) but never refuse the benchmark's
    // one IP and one user.
    RATE_LIMIT_IP_PER_MINUTE: '100000000',
    RATE_LIMIT_USER_PER_MINUTE: '100000000',
    ...DEV_SECRETS,
  };
  const config = loadConfig(apiEnv);
  const profileArgs = opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : [];
  const apiArgs = opts.fromSource ? [...profileArgs, '--import', 'tsx', join(root, 'api/main.ts')] : [...profileArgs, join(root, 'dist/api/main.js')];
  log(`starting the API: node ${apiArgs.map((a) => a.replace(root + '/', '')).join(' ')}`);
  const api = startProcess('api', process.execPath, apiArgs, { cwd: root, env: apiEnv, output: { file: join(logs, 'api.log') } });
  running.push(api);
  const bare = startProcess('bare-koa', process.execPath, [bareKoaJs], { cwd: root, env: { ...env, PORT: String(barePort) }, output: { file: join(logs, 'bare-koa.log') } });
  running.push(bare);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  // Ready but for a worker: the benchmark runs none (the reads it measures start no flow).
  await waitUntil('api', async () => {
    const res = await fetch(`${apiUrl}/v1/readyz`);
    const body = (await res.json()) as { checks?: Record<string, string>; error?: { details?: Record<string, string> } };
    const checks = body.checks ?? body.error?.details ?? {};
    const failing = Object.entries(checks).filter(([name, state]) => name !== 'worker' && state !== 'ok');
    if (failing.length || !checks.postgres) throw new Error(`readyz ${res.status}: ${JSON.stringify(checks)}`);
  }, 60_000, api.exited);
  await waitUntil('bare-koa', () => fetch(`http://127.0.0.1:${barePort}/`), 20_000, bare.exited);

  // A signed-in reader, and rooms for the discovery list (each by its own owner).
  const dataSource = await createDataSource({ url: postgres.url, poolSize: 2, applicationName: 'bench-api' }).initialize();
  const users = new UserDirectory(dataSource);
  const tokens = accessTokensFromConfig(config);
  const reader = await users.create({ displayName: 'bench reader', timeZone: 'UTC' });
  const auth = { authorization: `Bearer ${await tokens.sign({ userId: reader.id }, 3600)}` };
  for (let i = 0; i < 20; i++) {
    const owner = await users.create({ displayName: `bench owner ${i}`, timeZone: 'UTC' });
    const res = await fetch(`${apiUrl}/v1/rooms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await tokens.sign({ userId: owner.id }, 3600)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'voice', name: `Bench room ${i}`, seatCount: 9 }),
    });
    if (res.status !== 201) throw new Error(`creating a room answered ${res.status}: ${await res.text()}`);
  }
  await dataSource.destroy();
  for (const [path, headers] of [['/v1/me', auth], ['/v1/rooms?sort=popular', auth], ['/v1/healthz', {}]] as const) {
    const res = await fetch(`${apiUrl}${path}`, { headers });
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
  }

  const apiPid = api.child.pid!;
  const results: Measured[] = [];
  const loadBefore = loadavg()[0]!;
  const targets: Target[] = [
    { name: 'bare Koa', url: `http://127.0.0.1:${barePort}/`, pid: bare.child.pid! },
    { name: '/v1/healthz', url: `${apiUrl}/v1/healthz`, pid: apiPid },
    { name: '/v1/me', url: `${apiUrl}/v1/me`, headers: auth, pid: apiPid },
    { name: '/v1/rooms?sort=popular', url: `${apiUrl}/v1/rooms?sort=popular`, headers: auth, pid: apiPid },
  ];
  // BENCH_API_ONLY=/v1/me (say) measures bare Koa and that one target, for a profile of it alone.
  for (const target of targets) {
    if (opts.only && target.name !== 'bare Koa' && target.name !== opts.only) continue;
    results.push(await measure(target));
  }
  // Bare Koa again at the end: on a shared machine the ceiling moves during a run, so ratios use
  // the mean of the two.
  const bareAgain = await measure({ ...targets[0]!, name: 'bare Koa (again, last)' });
  const loadAfter = loadavg()[0]!;

  await stopAll(); // SIGTERM lets the API write its CPU profile
  rmSync(dir, { recursive: true, force: true });

  const commit = (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
    } catch {
      return 'unknown';
    }
  })();
  results.push(bareAgain);
  const baseline = (results[0]!.requestsPerSecond + bareAgain.requestsPerSecond) / 2;
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${Math.round(r.requestsPerSecond).toLocaleString('en')} | ${r.p50} / ${r.p99} ms | ${(r.requestsPerSecond / baseline).toFixed(2)}× | ${(r.serverCpu * 100).toFixed(0)}% | ${r.cpuMsPerRequest.toFixed(3)} ms | ${r.non2xx} / ${r.errors} |`,
  );
  const health = results.find((r) => r.name === '/v1/healthz');
  const reads = results.filter((r) => r.name.startsWith('/v1/') && r !== health);
  // Each row's ratio is to the mean of the two bare Koa runs.
  const verdict = [
    ...(health ? [`- health ≥ 70% of bare Koa: ${health.requestsPerSecond / baseline >= 0.7 ? 'met' : '**missed**'} (${((health.requestsPerSecond / baseline) * 100).toFixed(0)}%)`] : []),
    ...reads.map((r) => {
      const ratio = r.requestsPerSecond / baseline;
      const ok = ratio >= 0.3 && r.p99 <= 25;
      return `- ${r.name} ≥ 30% of bare Koa with p99 ≤ 25 ms: ${ok ? 'met' : '**missed**'} (${(ratio * 100).toFixed(0)}%, p99 ${r.p99} ms)`;
    }),
  ];
  const report = [
    `# API request cost${opts.label ? `: ${opts.label}` : ''}`,
    '',
    `Run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC at commit ${commit}, API ${opts.fromSource ? 'from TypeScript through tsx' : 'from compiled JavaScript (dist/)'}, Node ${process.version}, ` +
      `${opts.connections} concurrent keep-alive clients (autocannon, in the runner's process), ${opts.warmupSeconds} s warm-up then ${opts.seconds} s measured per target. ` +
      `Load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after (2 cores, shared: figures are noisy).`,
    '',
    '| target | req/s | p50 / p99 | × bare Koa (mean of both runs) | server CPU (of one core) | server CPU per request | non-2xx / errors |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    ...verdict,
    '',
  ].join('\n');
  mkdirSync(resolve(opts.out, '..'), { recursive: true });
  writeFileSync(opts.out, report);
  writeFileSync(opts.out.replace(/\.md$/, '.json'), JSON.stringify({ commit, options: opts, loadBefore, loadAfter, results }, null, 2) + '\n');
  console.log(`\n${report}`);
  log(`written to ${opts.out.replace(root + '/', '')}`);
  if (results.some((r) => r.errors > 0 || r.non2xx > 0)) {
    console.error('[bench:api] some requests failed: the figures are not comparable');
    process.exitCode = 1;
  }
}

main().catch(async (err: unknown) => {
  console.error(`[bench:api] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  await stopAll();
  process.exit(1);
});
