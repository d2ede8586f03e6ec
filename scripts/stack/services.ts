import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { Client as PgClient } from 'pg';
import { searchAttributeRegistrations } from '../../domain/flows';
import { startProcess, waitUntil, type ManagedProcess, type StartOptions } from './child-process';

/**
 * Starts the real servers the stack needs, each on loopback with a data directory the
 * project owns. Used by the dev stack (`npm run stack`) and by the test setup.
 */
export interface RunningService {
  process: ManagedProcess;
  url: string;
}

type Output = StartOptions['output'];

const isRoot = process.getuid?.() === 0;
/** PostgreSQL refuses to run as root; Debian's package creates this account. */
const PG_OS_USER = 'postgres';

function pgBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
  }
  throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql: run scripts/provision.sh');
}

/**
 * Runs a command as the PostgreSQL account when we are root. setpriv execs in place (unlike
 * runuser, which stays as a parent and doesn't pass SIGINT on), so signals reach postgres itself.
 */
function asPgUser(command: string, args: string[]): [string, string[]] {
  return isRoot
    ? ['setpriv', ['--reuid', PG_OS_USER, '--regid', PG_OS_USER, '--init-groups', '--', command, ...args]]
    : [command, args];
}

/** Whether the PostgreSQL account can reach `dir` (a checkout under /root, say, it can't). */
export function pgCanUse(dir: string): boolean {
  if (!isRoot) return true;
  try {
    execFileSync('runuser', ['-u', PG_OS_USER, '--', 'test', '-x', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function startPostgres(options: {
  dataDir: string;
  port: number;
  database: string;
  output: Output;
  user?: string;
  password?: string;
}): Promise<RunningService> {
  const bin = pgBinDir();
  const user = options.user ?? 'aura';
  const password = options.password ?? 'aura';
  mkdirSync(options.dataDir, { recursive: true });
  if (isRoot) execFileSync('chown', [PG_OS_USER, options.dataDir]);
  chmodSync(options.dataDir, 0o700);

  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) {
    const pwfile = join(options.dataDir, '..', `.pg-pw-${process.pid}`);
    writeFileSync(pwfile, `${password}\n`, { mode: 0o644 });
    try {
      const [cmd, args] = asPgUser(join(bin, 'initdb'), [
        '-D', options.dataDir, '-U', user, `--pwfile=${pwfile}`,
        '--auth-host=scram-sha-256', '--auth-local=peer', '-E', 'UTF8', '--locale=C.UTF-8',
      ]);
      execFileSync(cmd, args, { stdio: 'pipe' });
    } finally {
      execFileSync('rm', ['-f', pwfile]);
    }
  }

  const [cmd, args] = asPgUser(join(bin, 'postgres'), [
    '-D', options.dataDir,
    '-p', String(options.port),
    '-c', 'listen_addresses=127.0.0.1',
    '-c', `unix_socket_directories=${options.dataDir}`,
    '-c', 'max_connections=200',
    '-c', 'fsync=on',
  ]);
  const proc = startProcess('postgres', cmd, args, { output: options.output });
  const url = `postgres://${user}:${password}@127.0.0.1:${options.port}/${options.database}`;
  const adminUrl = `postgres://${user}:${password}@127.0.0.1:${options.port}/postgres`;
  await waitUntil('postgres', () => withPg(adminUrl, (c) => c.query('SELECT 1')), 60_000, proc.exited);
  await withPg(adminUrl, async (c) => {
    const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [options.database]);
    if (exists.rowCount === 0) await c.query(`CREATE DATABASE "${options.database.replace(/"/g, '')}"`);
  });
  // Postgres stops fast (rolls back open transactions, then checkpoints) on SIGINT.
  return { process: { ...proc, stop: (_s, grace) => proc.stop('SIGINT', grace) }, url };
}

async function withPg<T>(url: string, fn: (c: PgClient) => Promise<T>): Promise<T> {
  const client = new PgClient({ connectionString: url, connectionTimeoutMillis: 2_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function startRedis(options: {
  dataDir: string;
  port: number;
  output: Output;
  persist: boolean;
  /** fsync the append-only file before every reply, so a killed Redis keeps every write it acknowledged. */
  fsyncEveryWrite?: boolean;
}): Promise<RunningService> {
  mkdirSync(options.dataDir, { recursive: true });
  const proc = startProcess(
    'redis',
    'redis-server',
    [
      '--bind', '127.0.0.1',
      '--port', String(options.port),
      '--dir', options.dataDir,
      '--protected-mode', 'yes',
      '--daemonize', 'no',
      '--save', '',
      '--appendonly', options.persist ? 'yes' : 'no',
      ...(options.fsyncEveryWrite ? ['--appendfsync', 'always'] : []),
    ],
    { output: options.output },
  );
  const url = `redis://127.0.0.1:${options.port}/0`;
  await waitUntil(
    'redis',
    async () => {
      const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined); // connect() rejects with it; without a listener ioredis also prints it
      try {
        await r.connect();
        await r.ping();
      } finally {
        r.disconnect();
      }
    },
    30_000,
    proc.exited,
  );
  return { process: proc, url };
}

/**
 * SQLite settings of the dev server. Its defaults (a rollback journal, a sync at every commit)
 * make each workflow step wait for the disk; with a write-ahead log and syncs at checkpoints only,
 * the dev server serves 3-5× the claims (bench/results/claims-*.md). A power cut can lose the last
 * moments of a dev stack's history, never corrupt it; production runs on PostgreSQL, not this.
 */
export const TEMPORAL_SQLITE_PRAGMAS: readonly string[] = ['journal_mode=wal', 'synchronous=normal'];

export async function startTemporalDevServer(options: {
  cliPath: string;
  port: number;
  /** Omit for a headless server. */
  uiPort?: number;
  /** SQLite file that keeps workflows across restarts; omit for an in-memory server. */
  dbFile?: string;
  namespace: string;
  output: Output;
  /** `PRAGMA=VALUE` settings for the server's SQLite (`--sqlite-pragma`); defaults to TEMPORAL_SQLITE_PRAGMAS. */
  sqlitePragmas?: readonly string[];
}): Promise<RunningService> {
  if (!existsSync(options.cliPath)) throw new Error(`Temporal CLI not found at ${options.cliPath}: run scripts/provision.sh`);
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(options.port),
    '--namespace', options.namespace,
    '--log-level', 'warn',
    ...searchAttributeRegistrations.flatMap((sa) => ['--search-attribute', sa]),
    ...(options.uiPort ? ['--ui-port', String(options.uiPort)] : ['--headless']),
    ...(options.dbFile ? ['--db-filename', options.dbFile] : []),
    ...(options.sqlitePragmas ?? TEMPORAL_SQLITE_PRAGMAS).flatMap((p) => ['--sqlite-pragma', p]),
  ];
  const proc = startProcess('temporal', options.cliPath, args, { output: options.output });
  const address = `127.0.0.1:${options.port}`;
  await waitUntil(
    'temporal',
    async () => {
      const connection = await Connection.connect({ address, connectTimeout: 2_000 });
      try {
        const attrs = await connection.operatorService.listSearchAttributes({ namespace: options.namespace });
        const registered = Object.keys(attrs.customAttributes ?? {});
        const missing = searchAttributeRegistrations.map((r) => r.split('=')[0]!).filter((n) => !registered.includes(n));
        if (missing.length) throw new Error(`search attributes not registered yet: ${missing.join(', ')}`);
      } finally {
        await connection.close();
      }
    },
    90_000,
    proc.exited,
  );
  return { process: proc, url: address };
}

/**
 * A local provider (a scripts/stack/fake-*.ts script, run from source with tsx: a test tool the
 * production build leaves out) on `port`. Ready once it answers its control route and, when it
 * writes a service-account key file for the app, once that file exists.
 */
async function startLocalProvider(options: {
  name: string;
  root: string;
  port: number;
  output: Output;
  /** The key file the script writes (`--service-account`), for the app to read. */
  serviceAccountFile?: string;
  args?: string[];
}): Promise<RunningService> {
  const script = join(options.root, 'scripts', 'stack', `fake-${options.name}.ts`);
  const keyArgs = options.serviceAccountFile ? ['--service-account', options.serviceAccountFile] : [];
  const proc = startProcess(
    options.name,
    process.execPath,
    ['--import', 'tsx', script, '--port', String(options.port), ...keyArgs, ...(options.args ?? [])],
    { cwd: options.root, output: options.output },
  );
  const url = `http://127.0.0.1:${options.port}`;
  await waitUntil(
    options.name,
    async () => {
      const res = await fetch(`${url}/__fake__/calls`, { signal: AbortSignal.timeout(1_000) });
      if (!res.ok) throw new Error(`answered ${res.status}`);
      if (options.serviceAccountFile && !existsSync(options.serviceAccountFile)) throw new Error('no service-account file yet');
    },
    30_000,
    proc.exited,
  );
  return { process: proc, url };
}

/** The local Google Play, with its service-account key file for the worker. */
export async function startFakeGooglePlayServer(options: { root: string; port: number; serviceAccountFile: string; output: Output }): Promise<RunningService> {
  return startLocalProvider({ name: 'google-play', ...options });
}

/**
 * A local Firebase Cloud Messaging (token endpoint and HTTP v1 send API) for pushes on the dev
 * stack; it writes the service-account file the app reads (FCM_SERVICE_ACCOUNT_FILE).
 */
export async function startFakeFcmServer(options: { root: string; port: number; serviceAccountFile: string; output: Output }): Promise<RunningService> {
  return startLocalProvider({ name: 'fcm', ...options });
}

/**
 * The LiveKit media server (SFU) that carries rooms' audio and video, from a config file written
 * here: loopback only (node IP 127.0.0.1, one UDP port and one TCP port for media), the API key
 * that signs join tokens and server calls, and where its webhooks go. Ready once it answers HTTP.
 */
export async function startLiveKit(options: {
  serverPath: string;
  /** Where the config file is written. */
  dir: string;
  /** Signalling and server API (HTTP + WebSocket). */
  port: number;
  /** WebRTC over TCP, and the single UDP port all media shares. */
  rtcTcpPort: number;
  rtcUdpPort: number;
  apiKey: string;
  apiSecret: string;
  /** LiveKit POSTs signed participant and track events here (the API's /v1/media/livekit/webhook). */
  webhookUrls?: string[];
  output: Output;
}): Promise<RunningService & { apiUrl: string }> {
  if (!existsSync(options.serverPath)) throw new Error(`LiveKit server not found at ${options.serverPath}: run scripts/provision.sh`);
  mkdirSync(options.dir, { recursive: true });
  const configFile = join(options.dir, 'livekit.yaml');
  // YAML is a superset of JSON: the file is written as JSON so nothing needs quoting by hand.
  const config = {
    port: options.port,
    bind_addresses: ['127.0.0.1'],
    rtc: { tcp_port: options.rtcTcpPort, udp_port: options.rtcUdpPort, use_external_ip: false, node_ip: '127.0.0.1', enable_loopback_candidate: true },
    keys: { [options.apiKey]: options.apiSecret },
    logging: { level: 'warn' },
    room: { auto_create: true, empty_timeout: 300, departure_timeout: 20 },
    ...(options.webhookUrls?.length ? { webhook: { api_key: options.apiKey, urls: options.webhookUrls } } : {}),
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  const proc = startProcess('livekit', options.serverPath, ['--config', configFile], { output: options.output });
  const apiUrl = `http://127.0.0.1:${options.port}`;
  await waitUntil(
    'livekit',
    async () => {
      const res = await fetch(apiUrl, { signal: AbortSignal.timeout(1_000) });
      if (!res.ok) throw new Error(`answered ${res.status}`);
    },
    30_000,
    proc.exited,
  );
  return { process: proc, url: `ws://127.0.0.1:${options.port}`, apiUrl };
}

/**
 * SeaweedFS (Apache-2.0) as the S3-compatible object store for media assets: master, volume,
 * filer and S3 gateway in one `weed server` process on loopback ports, with one access key for the
 * app and anonymous read on the bucket (public URLs, as a CDN in front of it would serve them).
 * The bucket is created once the gateway answers. `ports` are 8 distinct free ports (SeaweedFS's
 * gRPC ports are set explicitly rather than left at port + 10000, which may be taken).
 */
export async function startSeaweedFs(options: {
  weedPath: string;
  dataDir: string;
  /** The S3 gateway's port; the other 7 are internal. */
  s3Port: number;
  internalPorts: [number, number, number, number, number, number, number];
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  output: Output;
}): Promise<RunningService> {
  if (!existsSync(options.weedPath)) throw new Error(`SeaweedFS not found at ${options.weedPath}: run scripts/provision.sh`);
  mkdirSync(join(options.dataDir, 'data'), { recursive: true });
  const s3Config = join(options.dataDir, 's3.json');
  writeFileSync(
    s3Config,
    JSON.stringify({
      identities: [
        { name: 'aura', credentials: [{ accessKey: options.accessKeyId, secretKey: options.secretAccessKey }], actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'] },
        { name: 'anonymous', actions: [`Read:${options.bucket}`] },
      ],
    }),
    { mode: 0o600 },
  );
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3Grpc] = options.internalPorts;
  const proc = startProcess(
    'seaweedfs',
    options.weedPath,
    [
      'server',
      `-dir=${join(options.dataDir, 'data')}`,
      '-ip=127.0.0.1', '-ip.bind=127.0.0.1',
      `-master.port=${master}`, `-master.port.grpc=${masterGrpc}`,
      `-volume.port=${volume}`, `-volume.port.grpc=${volumeGrpc}`,
      `-filer.port=${filer}`, `-filer.port.grpc=${filerGrpc}`, `-filer.localSocket=${join(options.dataDir, 'filer.sock')}`,
      '-s3', `-s3.port=${options.s3Port}`, `-s3.port.grpc=${s3Grpc}`, '-s3.port.iceberg=0', '-s3.port.lance=0',
      `-s3.config=${s3Config}`,
      // Small volumes: a dev stack and a test run hold megabytes, not the 30 GB default.
      '-master.volumeSizeLimitMB=64', '-volume.max=16', '-master.telemetry=false',
    ],
    { cwd: options.dataDir, output: options.output },
  );
  const url = `http://127.0.0.1:${options.s3Port}`;
  const s3 = new S3Client({
    endpoint: url,
    region: 'us-east-1',
    forcePathStyle: true,
    // SeaweedFS checks only the checksums S3 requires; the SDK's optional CRC headers are left out.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    maxAttempts: 1,
  });
  try {
    await waitUntil(
      'seaweedfs',
      async () => {
        try {
          await s3.send(new CreateBucketCommand({ Bucket: options.bucket }), { abortSignal: AbortSignal.timeout(2_000) });
        } catch (err) {
          if ((err as { name?: string }).name !== 'BucketAlreadyOwnedByYou') throw err;
        }
        // Writes need a volume, which the master grows a moment after the gateway answers.
        await s3.send(new PutObjectCommand({ Bucket: options.bucket, Key: '.ready', Body: 'ok' }), { abortSignal: AbortSignal.timeout(2_000) });
      },
      60_000,
      proc.exited,
    );
  } finally {
    s3.destroy();
  }
  return { process: proc, url };
}

/** The dev stack's YouTube Data API key: the local fake checks it like YouTube would. */
export const DEV_YOUTUBE_API_KEY = 'AIzaSyDevStackYouTubeKey-0123456789abcd';

/**
 * The local YouTube Data API (scripts/stack/fake-youtube.ts, from source with tsx, with a few demo
 * videos), for rooms' playlists on the dev stack. Ready once it answers.
 */
export async function startFakeYouTubeServer(options: { root: string; port: number; output: Output }): Promise<RunningService> {
  const service = await startLocalProvider({ name: 'youtube', ...options, args: ['--key', DEV_YOUTUBE_API_KEY] });
  // The API base, as YOUTUBE_API_URL names Google's (https://www.googleapis.com/youtube/v3).
  return { ...service, url: `${service.url}/youtube/v3` };
}
