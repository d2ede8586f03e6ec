import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { DEMO_USERS } from '../../db/seed';
import { AccessTokens } from '../../platform/auth/access-tokens';
import { DEV_SECRETS } from '../../config/dev-secrets';
import { freePorts } from '../support/ports';

/**
 * `npm run stack` end to end, through npm itself (the layer a terminal, an IDE or a process
 * manager signals): everything starts, a claim works, a killed API and a killed Redis come
 * back, SIGINT or SIGTERM sent to the npm process alone stops every child, and a second start
 * keeps the data: the ledger and the running workflow survive.
 */
const root = resolve(__dirname, '../..');
const dataDir = mkdtempSync('/tmp/aura-stack-test-');
chmodSync(dataDir, 0o755);
let ports: Record<string, number>;
let stack: NpmStack | undefined;

interface NpmStack {
  npm: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when output written from now on matches; fails with the output after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}

/** Every process on the machine started for this stack: they all carry its data directory. */
function stackProcesses(): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'latin1').replace(/\0/g, ' ').trim();
      if (environ.includes(`AURA_DATA_DIR=${dataDir}\0`) || cmd.includes(dataDir)) found.push({ pid: Number(entry), cmd });
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return found;
}

const pidOf = (name: string) => Number(readFileSync(join(dataDir, 'run', `${name}.pid`), 'utf8'));

beforeAll(async () => {
  // Distinct: one free port after another can repeat (the OS may hand a closed one out again).
  const names = [
    'AURA_PG_PORT', 'AURA_REDIS_PORT', 'AURA_TEMPORAL_PORT', 'AURA_TEMPORAL_UI_PORT', 'API_PORT', 'REALTIME_PORT', 'AURA_GOOGLE_PLAY_PORT', 'WORKER_METRICS_PORT',
    'AURA_YOUTUBE_PORT', 'AURA_FCM_PORT', 'AURA_LIVEKIT_PORT', 'AURA_LIVEKIT_TCP_PORT', 'AURA_LIVEKIT_UDP_PORT', 'AURA_S3_PORT',
    ...Array.from({ length: 7 }, (_, i) => `AURA_SEAWEEDFS_PORT_${i}`),
  ];
  const picked = await freePorts(names.length);
  ports = Object.fromEntries(names.map((name, i) => [name, picked[i]!]));
});

afterAll(async () => {
  if (stack && stack.npm.exitCode === null && stack.npm.signalCode === null) {
    stack.npm.kill('SIGTERM');
    await stack.exited;
  }
  for (const { pid } of stackProcesses()) process.kill(pid, 'SIGKILL'); // only after a failed test
  rmSync(dataDir, { recursive: true, force: true });
});

/** `npm run stack` in a process group of its own, as a terminal would run it. */
async function startStack(): Promise<NpmStack> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AURA_DATA_DIR: dataDir,
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_IP_PER_MINUTE: '100000', // this test polls readyz
    AURA_STACK_RESTART_DELAY_MS: '3000', // long enough to watch readyz while a dead child is down
    ...DEV_SECRETS,
  };
  for (const [k, v] of Object.entries(ports)) env[k] = String(v);
  // The jest setup's own servers are not this stack's.
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'TEMPORAL_ADDRESS']) delete env[k];
  for (const k of Object.keys(env)) if (/^(LIVEKIT_(URL|API_URL|API_KEY|API_SECRET)|S3_|MEDIA_CDN_BASE_URL|YOUTUBE_|FCM_)/.test(k)) delete env[k];
  const npm = spawn('npm', ['run', 'stack'], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const listeners = new Set<() => void>();
  for (const stream of [npm.stdout, npm.stderr]) {
    stream.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      for (const l of listeners) l();
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    npm.once('exit', (code, signal) => res({ code, signal })),
  );
  const s: NpmStack = {
    npm,
    output: () => output,
    exited,
    waitFor: (pattern, timeoutMs = 120_000) =>
      new Promise((resolveLine, reject) => {
        const from = output.length; // only lines written from now on
        const timer = setTimeout(() => {
          if (listeners.delete(check)) reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${output}`));
        }, timeoutMs);
        const check = () => {
          if (pattern.test(output.slice(from))) {
            listeners.delete(check);
            clearTimeout(timer);
            resolveLine();
          }
        };
        listeners.add(check);
        check();
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          if (listeners.delete(check)) reject(new Error(`npm run stack exited (${code ?? signal}) before ${pattern}:\n${output}`));
        });
      }),
  };
  stack = s;
  await s.waitFor(/Aura is up/, 240_000);
  return s;
}

/** Sends `signal` to the npm process only (not its group) and checks nothing is left. */
async function stopWith(s: NpmStack, signal: 'SIGINT' | 'SIGTERM'): Promise<void> {
  process.kill(s.npm.pid!, signal);
  expect(await s.exited).toEqual({ code: 0, signal: null });
  expect(s.output()).toContain(`[stack] stopping (${signal})`);
  for (const port of Object.values(ports)) expect(await portIsFree(port)).toBe(true);
  expect(stackProcesses()).toEqual([]);
}

/** Polls readyz until `accept` says yes (each answer is an event; no fixed sleeps). */
async function readyzUntil(
  url: string,
  accept: (status: number, body: { checks?: Record<string, string>; error?: { details?: Record<string, string> } }) => boolean,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    // Refused while a restarted API is still starting.
    const answer = await fetch(`${url}/readyz`).then(
      async (res) => ({ status: res.status, body: (await res.json()) as never }),
      (err: Error) => ({ failed: err.message }),
    );
    if ('failed' in answer) last = answer.failed;
    else if (accept(answer.status, answer.body)) return;
    else last = `${answer.status} ${JSON.stringify(answer.body)}`;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`readyz never gave the expected answer; last: ${last}\n${stack?.output()}`);
}

/** The pushes the stack's local FCM accepted for `token`, once there is one (the worker drains its outbox each second). */
async function pushesTo(fcm: string, token: string): Promise<{ data?: Record<string, string> }> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { deliveries } = (await (await fetch(`${fcm}/__fake__/deliveries`)).json()) as { deliveries: { token: string; message: { data?: Record<string, string> } }[] };
    const hit = deliveries.find((d) => d.token === token);
    if (hit) return hit.message;
    if (Date.now() > deadline) throw new Error(`no push reached the local FCM within 30 s\n${stack?.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

it('starts through npm, restarts a dead API and Redis, stops on SIGINT or SIGTERM to npm alone, and keeps data across a restart', async () => {
  const tokens = new AccessTokens({ secret: DEV_SECRETS.ACCESS_TOKEN_SECRET, issuer: 'aura', audience: 'aura-app', ttlSeconds: 900 });
  const userId = DEMO_USERS[1].id;
  const auth = { authorization: `Bearer ${await tokens.sign({ userId })}` };
  const api = `http://127.0.0.1:${ports.API_PORT}/v1`;

  const first = await startStack();
  expect(first.output()).toContain(`Temporal Web UI  http://127.0.0.1:${ports.AURA_TEMPORAL_UI_PORT}`);
  expect((await fetch(`http://127.0.0.1:${ports.AURA_TEMPORAL_UI_PORT}/`)).status).toBe(200);
  // The media servers: LiveKit answers, and the object store serves its bucket publicly.
  expect(first.output()).toContain(`LiveKit (SFU)    ws://127.0.0.1:${ports.AURA_LIVEKIT_PORT}`);
  expect((await fetch(`http://127.0.0.1:${ports.AURA_LIVEKIT_PORT}/`)).status).toBe(200);
  expect((await fetch(`http://127.0.0.1:${ports.AURA_S3_PORT}/aura-media/.ready`)).status).toBe(200);
  // The banner waited for a worker polling the task queue.
  const ready = await fetch(`${api}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({ checks: { worker: 'ok' } });
  // The worker's own metrics: what its activities count (the anti-fraud scan's flags).
  const workerMetrics = await fetch(`http://127.0.0.1:${ports.WORKER_METRICS_PORT}/metrics`);
  expect(workerMetrics.status).toBe(200);
  expect(await workerMetrics.text()).toContain('aura_gift_fraud_flags_total');
  // The app registers its FCM token; the claim's notice is pushed to the stack's own local FCM.
  const pushToken = `dev-stack-phone-${Date.now()}:APA91b`;
  const registered = await fetch(`${api}/me/push-tokens`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ token: pushToken, platform: 'android', deviceId: 'dev-stack-phone' }),
  });
  expect(registered.status).toBe(204);
  const claim = await fetch(`${api}/rewards/daily/claim`, { method: 'POST', headers: auth });
  expect(claim.status).toBe(200);
  expect(first.output()).toContain(`Push (FCM)       http://127.0.0.1:${ports.AURA_FCM_PORT}`);
  const pushed = await pushesTo(`http://127.0.0.1:${ports.AURA_FCM_PORT}`, pushToken);
  expect(pushed.data).toMatchObject({ kind: 'reward' });
  // A recharge against the stack's own local Google Play, as the README shows it.
  const purchaseToken = `dev-stack-${Date.now()}.AO-J1Oz`;
  const bought = await fetch(`http://127.0.0.1:${ports.AURA_GOOGLE_PLAY_PORT}/__fake__/purchases`, {
    method: 'POST',
    body: JSON.stringify({ token: purchaseToken, productId: 'coins_100', orderId: `GPA.3300-${Date.now()}`, accountId: userId }),
  });
  expect(bought.status).toBe(200);
  const recharge = await fetch(`${api}/wallet/recharges/google-play`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ productId: 'coins_100', purchaseToken }),
  });
  expect({ status: recharge.status, body: await recharge.json() }).toMatchObject({ status: 200, body: { status: 'credited', coins: 100 } });
  // A room's playlist asks the stack's own local YouTube Data API for a video's facts.
  const room = await fetch(`${api}/rooms`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'music', name: 'Dev stack radio', seatCount: 4 }),
  });
  expect(room.status).toBe(201);
  const roomId = ((await room.json()) as { id: string }).id;
  const added = await fetch(`${api}/rooms/${roomId}/playlist`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ url: 'https://youtu.be/dQw4w9WgXcQ' }),
  });
  expect({ status: added.status, body: await added.json() }).toMatchObject({ status: 201, body: { item: { videoId: 'dQw4w9WgXcQ', durationMs: 213_000 } } });

  // The API dies: the supervisor starts it again and the rest keeps running.
  const apiPid = pidOf('api');
  const apiBack = first.waitFor(/\[stack\] api restarted \(pid \d+\)/);
  process.kill(apiPid, 'SIGKILL');
  await apiBack;
  expect(pidOf('api')).not.toBe(apiPid);
  await readyzUntil(api, (status) => status === 200);
  expect((await fetch(`${api}/rewards/daily`, { headers: auth })).status).toBe(200);

  // Redis dies: readyz names it while it is down, then the supervisor brings it back.
  const redisPid = pidOf('redis');
  const redisBack = first.waitFor(/\[stack\] redis restarted \(pid \d+\)/);
  process.kill(redisPid, 'SIGKILL');
  await readyzUntil(api, (status, body) => status === 503 && body.error?.details?.redis !== 'ok');
  await redisBack;
  expect(pidOf('redis')).not.toBe(redisPid);
  await readyzUntil(api, (status) => status === 200);
  expect((await fetch(`${api}/rewards/daily`, { headers: auth })).status).toBe(200);

  await stopWith(first, 'SIGINT');

  const second = await startStack();
  expect(second.output()).toContain('migrations: up to date');
  const status = (await (await fetch(`${api}/rewards/daily`, { headers: auth })).json()) as Record<string, unknown>;
  expect(status).toMatchObject({ claimedToday: true, streak: 1, totalClaims: 1 }); // the workflow kept its state
  const history = (await (await fetch(`${api}/rewards/daily/claims`, { headers: auth })).json()) as { items: unknown[] };
  expect(history.items).toHaveLength(1); // and PostgreSQL its rows
  const again = await fetch(`${api}/rewards/daily/claim`, { method: 'POST', headers: auth });
  expect(again.status).toBe(409);
  await stopWith(second, 'SIGTERM');
  stack = undefined;
}, 400_000);
