import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEMO_USERS } from '../../db/seed';
import { DEV_SECRETS } from '../../config/dev-secrets';
import { describeError } from '../../platform/logging';
import { migrateAndSeed } from '../migrate';
import { startProcess, stopLiveChildren, waitUntil } from './child-process';
import { loadConfig } from '../../config';
import { DEV_YOUTUBE_API_KEY, pgCanUse, startFakeFcmServer, startFakeGooglePlayServer, startFakeYouTubeServer, startLiveKit, startPostgres, startRedis, startSeaweedFs, startTemporalDevServer, type RunningService } from './services';
import { DEFAULT_RESTART_POLICY, Supervisor } from './supervisor';

/**
 * The whole development stack in one command: PostgreSQL, Redis, the Temporal dev server
 * (with its Web UI), migrations and reference data, then the worker, the API and the
 * realtime edge, each supervised (restarted when it dies, within a limit). SIGINT, SIGTERM or
 * SIGHUP stops everything, newest first. Data persists in AURA_DATA_DIR.
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
  workerMetrics: num('WORKER_METRICS_PORT', 3002),
  googlePlay: num('AURA_GOOGLE_PLAY_PORT', 8085),
  youtube: num('AURA_YOUTUBE_PORT', 8086),
  fcm: num('AURA_FCM_PORT', 8087),
  // LiveKit: signalling and server API, then WebRTC over TCP and the one UDP port for media.
  livekit: num('AURA_LIVEKIT_PORT', 7880),
  livekitTcp: num('AURA_LIVEKIT_TCP_PORT', 7881),
  livekitUdp: num('AURA_LIVEKIT_UDP_PORT', 7882),
  // SeaweedFS: the S3 gateway, then its internal master, volume, filer and gRPC ports.
  s3: num('AURA_S3_PORT', 8333),
  seaweedInternal: [9333, 19333, 9334, 19334, 8888, 18888, 18333].map((p, i) => num(`AURA_SEAWEEDFS_PORT_${i}`, p)) as [number, number, number, number, number, number, number],
};

function postgresDataDir(dataDir: string): string {
  if (pgCanUse(dataDir)) return join(dataDir, 'postgres');
  // As root in a checkout the postgres account can't enter (under /root, say): keep the cluster
  // in a stable place of its own, one per checkout.
  const id = createHash('sha256').update(root).digest('hex').slice(0, 12);
  return join('/var/lib/aura', id, 'postgres');
}

/**
 * How each of our Node processes is launched: the one place to change it (to compiled
 * JavaScript, say).
 */
/** The processes run compiled JavaScript (`npm run build` at start), as in production: no TypeScript compiled at run time. */
function nodeCommand(entry: string): [command: string, args: string[]] {
  return [process.execPath, [join(root, 'dist', entry.replace(/\.ts$/, '.js'))]];
}

const dataDir = resolve(env.AURA_DATA_DIR ?? join(root, '.data'));
/** `<name>.pid` for the stack itself and each child while it runs. */
const pidDir = join(dataDir, 'run');

const supervisor = new Supervisor({
  // AURA_STACK_RESTART_DELAY_MS lengthens the first wait (a test watches the outage it leaves).
  policy: { ...DEFAULT_RESTART_POLICY, baseDelayMs: num('AURA_STACK_RESTART_DELAY_MS', DEFAULT_RESTART_POLICY.baseDelayMs) },
  pidDir,
  log: (line) => console.log(line),
  giveUp: (why) => void stopAll(why, 1),
});

let stopping = false;
async function stopAll(why: string, exitCode = 0): Promise<void> {
  if (stopping) {
    console.log(`[stack] still stopping (${why}); children that do not stop within 15 s are killed`);
    return;
  }
  stopping = true;
  console.log(`\n[stack] stopping (${why})`);
  try {
    await supervisor.stopAll((name) => console.log(`[stack] ${name} stopped`));
    await stopLiveChildren();
  } finally {
    rmSync(join(pidDir, 'stack.pid'), { force: true });
  }
  process.exit(exitCode);
}

/**
 * Stops the stack when whoever started it is gone without telling us (a parent killed hard,
 * or a shell wrapper that died on a signal meant for us), so no server is left behind.
 */
function stopWhenOrphaned(): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      void stopAll(`the parent process ${parent} is gone`);
    }
  }, 1_000);
  timer.unref();
}

/**
 * Starts a server under supervision. Its URL is fixed by its port, so a restart changes
 * nothing for its clients, which reconnect.
 */
async function supervised(name: string, start: () => Promise<RunningService>): Promise<string> {
  let url = '';
  await supervisor.add(name, async () => {
    const service = await start();
    url = service.url;
    return service.process;
  });
  return url;
}

async function main(): Promise<void> {
  mkdirSync(pidDir, { recursive: true });
  writeFileSync(join(pidDir, 'stack.pid'), `${process.pid}\n`);
  const cliPath = env.TEMPORAL_CLI_PATH;
  if (!cliPath) throw new Error('TEMPORAL_CLI_PATH is not set: start the stack with `npm run stack`');

  process.on('SIGINT', () => void stopAll('SIGINT'));
  process.on('SIGTERM', () => void stopAll('SIGTERM'));
  process.on('SIGHUP', () => void stopAll('SIGHUP'));
  stopWhenOrphaned();

  const pgDir = postgresDataDir(dataDir);
  const postgresUrl = await supervised('postgres', () =>
    startPostgres({ dataDir: pgDir, port: ports.postgres, database: 'aura', output: { prefix: '[postgres]' } }),
  );
  const redisUrl = await supervised('redis', () =>
    startRedis({ dataDir: join(dataDir, 'redis'), port: ports.redis, persist: true, output: { prefix: '[redis]' } }),
  );
  const temporalUrl = await supervised('temporal', () =>
    startTemporalDevServer({
      cliPath,
      port: ports.temporal,
      uiPort: ports.temporalUi,
      dbFile: join(dataDir, 'temporal.sqlite'),
      namespace: 'default',
      output: { prefix: '[temporal]' },
    }),
  );

  // Store recharges on the dev stack go to a local Google Play, unless a real service account is set.
  const googlePlayEnv: NodeJS.ProcessEnv = {};
  if (!env.GOOGLE_PLAY_SERVICE_ACCOUNT_FILE) {
    const serviceAccountFile = join(dataDir, 'google-play-service-account.json');
    const googlePlayUrl = await supervised('google-play', () =>
      startFakeGooglePlayServer({ root, port: ports.googlePlay, serviceAccountFile, output: { prefix: '[google-play]' } }),
    );
    Object.assign(googlePlayEnv, {
      GOOGLE_PLAY_API_URL: googlePlayUrl,
      GOOGLE_PLAY_TOKEN_URL: `${googlePlayUrl}/token`,
      GOOGLE_PLAY_SERVICE_ACCOUNT_FILE: serviceAccountFile,
    });
  }

  // Media: the LiveKit SFU (its webhooks come back to the API) and SeaweedFS's S3 gateway, with
  // the development keys the app's configuration defaults to (production refuses them).
  const media = loadConfig({ ...DEV_SECRETS, ...env });
  const livekitPath = env.LIVEKIT_SERVER_PATH;
  const weedPath = env.SEAWEEDFS_PATH;
  if (!livekitPath || !weedPath) throw new Error('LIVEKIT_SERVER_PATH / SEAWEEDFS_PATH are not set: start the stack with `npm run stack`');
  const livekitUrl = await supervised('livekit', () =>
    startLiveKit({
      serverPath: livekitPath,
      dir: join(dataDir, 'livekit'),
      port: ports.livekit,
      rtcTcpPort: ports.livekitTcp,
      rtcUdpPort: ports.livekitUdp,
      apiKey: media.LIVEKIT_API_KEY,
      apiSecret: media.LIVEKIT_API_SECRET,
      webhookUrls: [`http://127.0.0.1:${ports.api}/v1/media/livekit/webhook`],
      output: { prefix: '[livekit]' },
    }),
  );
  const s3Url = await supervised('seaweedfs', () =>
    startSeaweedFs({
      weedPath,
      dataDir: join(dataDir, 'seaweedfs'),
      s3Port: ports.s3,
      internalPorts: ports.seaweedInternal,
      bucket: media.S3_BUCKET,
      accessKeyId: media.S3_ACCESS_KEY_ID,
      secretAccessKey: media.S3_SECRET_ACCESS_KEY,
      output: { prefix: '[seaweedfs]' },
    }),
  );
  const mediaEnv: NodeJS.ProcessEnv = {
    LIVEKIT_URL: livekitUrl,
    LIVEKIT_API_URL: livekitUrl.replace(/^ws/, 'http'),
    S3_ENDPOINT: s3Url,
    MEDIA_CDN_BASE_URL: `${s3Url}/${media.S3_BUCKET}`,
  };
  // Videos in room playlists come from a local YouTube Data API, unless a real key is set.
  if (!env.YOUTUBE_API_KEY) {
    const youtubeUrl = await supervised('youtube', () => startFakeYouTubeServer({ root, port: ports.youtube, output: { prefix: '[youtube]' } }));
    Object.assign(mediaEnv, { YOUTUBE_API_URL: youtubeUrl, YOUTUBE_API_KEY: DEV_YOUTUBE_API_KEY });
  }

  // Push notifications go to a local FCM (its /__fake__/deliveries lists them), unless a real service account is set.
  const pushEnv: NodeJS.ProcessEnv = {};
  if (!env.FCM_SERVICE_ACCOUNT_FILE) {
    const serviceAccountFile = join(dataDir, 'fcm-service-account.json');
    const fcmUrl = await supervised('fcm', () => startFakeFcmServer({ root, port: ports.fcm, serviceAccountFile, output: { prefix: '[fcm]' } }));
    Object.assign(pushEnv, { FCM_API_URL: fcmUrl, FCM_TOKEN_URL: `${fcmUrl}/token`, FCM_SERVICE_ACCOUNT_FILE: serviceAccountFile });
  }

  const applied = await migrateAndSeed(postgresUrl, { seed: true });
  console.log(`[stack] migrations: ${applied.length ? applied.join(', ') : 'up to date'}; reference data loaded`);

  const appEnv: NodeJS.ProcessEnv = {
    ...env,
    NODE_ENV: env.NODE_ENV ?? 'development',
    DATABASE_URL: postgresUrl,
    REDIS_URL: redisUrl,
    TEMPORAL_ADDRESS: temporalUrl,
    API_PORT: String(ports.api),
    REALTIME_PORT: String(ports.realtime),
    WORKER_METRICS_PORT: String(ports.workerMetrics),
    ...googlePlayEnv,
    ...mediaEnv,
    ...pushEnv,
    ...DEV_SECRETS,
    ...Object.fromEntries(Object.keys(DEV_SECRETS).filter((k) => env[k]).map((k) => [k, env[k]])),
  };
  console.log('[stack] compiling (npm run build)');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  const node = (name: string, entry: string) =>
    supervisor.add(name, async () => {
      const [command, args] = nodeCommand(entry);
      return startProcess(name, command, args, { cwd: root, env: appEnv, output: { prefix: `[${name}]` } });
    });
  await node('worker', 'workers/main.ts');
  await node('api', 'api/main.ts');
  await node('realtime', 'realtime/main.ts');

  // Ready means serving: readyz answers 200 only once a worker polls the task queue. A child
  // that dies meanwhile is restarted, or stops the stack if it keeps dying. Once a second:
  // readyz counts against the per-IP rate limit like any other route.
  await waitUntil('api', async () => {
    const res = await fetch(`http://127.0.0.1:${ports.api}/v1/readyz`);
    if (!res.ok) throw new Error(`readyz ${res.status}: ${await res.text()}`);
  }, 120_000, undefined, 1_000);
  await waitUntil('realtime', async () => {
    const res = await fetch(`http://127.0.0.1:${ports.realtime}/healthz`);
    if (!res.ok) throw new Error(`healthz ${res.status}`);
  }, 60_000);

  console.log(`
[stack] Aura is up. Ctrl-C stops everything; a child that dies is restarted; pids in ${pidDir}; data stays in ${dataDir}${pgDir.startsWith(dataDir) ? '' : ` (postgres: ${pgDir})`}
  API              http://127.0.0.1:${ports.api}/v1        (try /v1/readyz)
  WebSocket edge   ws://127.0.0.1:${ports.realtime}/v1/ws
  Temporal Web UI  http://127.0.0.1:${ports.temporalUi}
  Temporal gRPC    ${temporalUrl}
  PostgreSQL       ${postgresUrl.replace(/:[^:@/]+@/, ':•••@')}
  Redis            ${redisUrl}
  Google Play      ${googlePlayEnv.GOOGLE_PLAY_API_URL ?? 'the real one (GOOGLE_PLAY_SERVICE_ACCOUNT_FILE)'}
  LiveKit (SFU)    ${livekitUrl}   (media tokens come with each room join)
  YouTube API      ${mediaEnv.YOUTUBE_API_URL ?? 'the real one (YOUTUBE_API_KEY)'}
  Push (FCM)       ${pushEnv.FCM_API_URL ? `${pushEnv.FCM_API_URL}   (pushes sent: ${pushEnv.FCM_API_URL}/__fake__/deliveries)` : 'the real one (FCM_SERVICE_ACCOUNT_FILE)'}
  Object store     ${s3Url}   (S3, bucket ${media.S3_BUCKET}; public URLs ${mediaEnv.MEDIA_CDN_BASE_URL}/<key>)
  A token for a demo user:  npx tsx scripts/dev-token.ts ${DEMO_USERS[0].id}
`);
}

process.on('uncaughtException', (err) => {
  console.error(`[stack] unexpected error: ${describeError(err)}`);
  void stopAll('unexpected error', 1);
});
main().catch((err: unknown) => {
  console.error(`[stack] ${describeError(err)}`);
  void stopAll('start-up failed', 1);
});
