import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * docker-compose.yml as docker-compose itself reads it. There is no Docker daemon here, so
 * `docker-compose config` (which validates, interpolates and normalises the file) is all that runs;
 * nothing is built or started. docker-compose 1.x has no JSON output and the project has no YAML
 * library, so the normalised YAML is read with the small structural reader at the bottom, which
 * knows only the block style PyYAML prints.
 */
const ROOT = resolve(__dirname, '../..');
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const SECRET = 'compose-test-secret-0123456789abcdef0123456789abcdef';
const APP_SERVICES = ['api', 'worker', 'realtime'] as const;
const EXPECTED_SERVICES = ['postgres', 'redis', 'temporal', 'temporal-ui', 'livekit', 'seaweedfs', 'media-bucket', 'migrate', ...APP_SERVICES];

let envFileDir: string;

/** The environment for docker-compose: nothing the compose file interpolates leaks in from the shell. */
function composeEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const interpolated = new Set([...readFileSync(COMPOSE_FILE, 'utf8').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!interpolated.has(name) && !name.startsWith('COMPOSE_')) env[name] = value;
  }
  return { ...env, ...extra };
}

function compose(args: string[], extraEnv: Record<string, string>): SpawnSyncReturns<string> {
  // An empty --env-file, so a developer's ./.env can't change what the test sees.
  const result = spawnSync('docker-compose', ['--env-file', join(envFileDir, '.env'), '-f', COMPOSE_FILE, ...args], {
    cwd: ROOT,
    env: composeEnv(extraEnv),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return result;
}

function requireDockerCompose(): void {
  const result = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8', timeout: 30_000 });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error('docker-compose is not on PATH: run scripts/provision.sh, which installs the Debian docker-compose package');
  }
  if (result.error) throw result.error;
  const version = result.stdout.trim();
  if (result.status !== 0 || !/^1\.\d+/.test(version)) {
    throw new Error(`this test reads the output of docker-compose 1.x (Debian's docker-compose package); \`docker-compose version --short\` gave ${JSON.stringify(version || result.stderr.trim())}`);
  }
}

/** Every variable the compose file requires (`${VAR:?...}`), as a deployment would set them. */
const REQUIRED_ENV = {
  ACCESS_TOKEN_SECRET: SECRET,
  OTP_SECRET: 'compose-test-otp-secret-0123456789abcdef',
  PHONE_ENCRYPTION_KEY: 'ab'.repeat(32),
  LIVEKIT_API_SECRET: 'compose-test-livekit-secret-0123456789abcdef',
  S3_SECRET_ACCESS_KEY: 'compose-test-s3-secret-0123456789',
  TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
  TWILIO_AUTH_TOKEN: 'compose-test-token',
  TWILIO_FROM: '+15005550006',
};

let configRun: SpawnSyncReturns<string>;
let services: Map<string, Mapping>;
let serviceNames: string[];
let volumeNames: string[];

beforeAll(() => {
  requireDockerCompose();
  envFileDir = mkdtempSync(join(tmpdir(), 'aura-compose-'));
  writeFileSync(join(envFileDir, '.env'), '');
  configRun = compose(['config'], REQUIRED_ENV);
  const top = configRun.status === 0 ? mapping(toLines(configRun.stdout)) : new Map<string, Entry>();
  services = new Map([...mapping(top.get('services')?.children ?? [])].map(([name, entry]) => [name, mapping(entry.children)]));
  serviceNames = nameList(compose(['config', '--services'], REQUIRED_ENV).stdout);
  volumeNames = nameList(compose(['config', '--volumes'], REQUIRED_ENV).stdout);
});

afterAll(() => {
  if (envFileDir) rmSync(envFileDir, { recursive: true, force: true });
});

function service(name: string): Mapping {
  const found = services.get(name);
  if (!found) throw new Error(`service ${name} is not in the docker-compose config output`);
  return found;
}

function hasHealthcheck(svc: Mapping): boolean {
  const healthcheck = svc.get('healthcheck');
  if (!healthcheck) return false;
  const fields = mapping(healthcheck.children);
  if (fields.get('disable')?.value === 'true') return false;
  const test = fields.get('test');
  if (!test) return false;
  const words = test.value !== undefined ? [scalar(test)] : sequence(test.children).map(itemScalar);
  return words.length > 0 && words[0] !== 'NONE';
}

/** Services others wait for with `service_completed_successfully`: the one-shot jobs. */
function dependencies(svc: Mapping): { target: string; condition: string }[] {
  const dependsOn = svc.get('depends_on');
  if (!dependsOn) return [];
  return [...mapping(dependsOn.children)].map(([target, entry]) => ({
    target,
    condition: mapping(entry.children).get('condition')?.value ?? 'service_started',
  }));
}

function command(svc: Mapping): string[] {
  const entry = svc.get('command');
  if (!entry) return [];
  return entry.value !== undefined ? scalar(entry).split(/\s+/) : sequence(entry.children).map(itemScalar);
}

function environment(svc: Mapping): Map<string, string> {
  const entry = svc.get('environment');
  return new Map([...mapping(entry?.children ?? [])].map(([name, value]) => [name, scalar(value)]));
}

/** Ports as {published, target}, from either the long form or the short `[ip:]host:container[/proto]` form. */
function ports(svc: Mapping): { published: string; target: string }[] {
  const entry = svc.get('ports');
  if (!entry) return [];
  return sequence(entry.children).map((item) => {
    if (item.length === 1 && !/^\w+:\s/.test(item[0]!.text)) {
      const parts = itemScalar(item).replace(/\/\w+$/, '').split(':');
      return { published: parts.at(-2) ?? '', target: parts.at(-1) ?? '' };
    }
    const fields = mapping(item);
    return { published: scalar(fields.get('published')), target: scalar(fields.get('target')) };
  });
}

describe('docker-compose.yml', () => {
  it('is valid for docker-compose with ACCESS_TOKEN_SECRET set', () => {
    expect({ status: configRun.status, stderr: configRun.stderr.trim() }).toMatchObject({ status: 0 });
    expect(services.size).toBeGreaterThan(0);
  });

  it('defines the data stores, Temporal, its Web UI, the migrations and the app processes', () => {
    expect(serviceNames).toEqual(expect.arrayContaining(EXPECTED_SERVICES));
    expect([...services.keys()].sort()).toEqual([...serviceNames].sort());
  });

  it('builds api, worker and realtime (and migrate) from the one Dockerfile into one image', () => {
    expect(existsSync(join(ROOT, 'Dockerfile'))).toBe(true);
    for (const name of [...APP_SERVICES, 'migrate']) {
      const build = service(name).get('build');
      expect({ service: name, build: build ? 'present' : 'missing' }).toEqual({ service: name, build: 'present' });
      const fields = build!.value !== undefined ? new Map([['context', build!]]) : mapping(build!.children);
      expect({
        service: name,
        context: resolve(ROOT, scalar(fields.get('context'))),
        dockerfile: fields.has('dockerfile') ? scalar(fields.get('dockerfile')) : 'Dockerfile',
        image: scalar(service(name).get('image')),
      }).toEqual({ service: name, context: ROOT, dockerfile: 'Dockerfile', image: scalar(service('api').get('image')) });
    }
  });

  it('runs each app service with its own compiled entry point', () => {
    const entryPoints = [...APP_SERVICES, 'migrate'].map((name) => {
      const [program, script, ...rest] = command(service(name));
      const source = script?.replace(/^dist\//, '').replace(/\.js$/, '.ts') ?? '';
      return { service: name, program, rest, source, sourceExists: existsSync(join(ROOT, source)) };
    });
    expect(entryPoints).toEqual([
      { service: 'api', program: 'node', rest: [], source: 'api/main.ts', sourceExists: true },
      { service: 'worker', program: 'node', rest: [], source: 'workers/main.ts', sourceExists: true },
      { service: 'realtime', program: 'node', rest: [], source: 'realtime/main.ts', sourceExists: true },
      { service: 'migrate', program: 'node', rest: [], source: 'scripts/migrate.ts', sourceExists: true },
    ]);
  });

  it('has a healthcheck on every long-running service except the worker, and one-shot jobs that do not restart', () => {
    const oneShot = new Set(
      [...services.values()].flatMap((svc) => dependencies(svc).filter((d) => d.condition === 'service_completed_successfully').map((d) => d.target)),
    );
    expect(oneShot).toContain('migrate');
    const longRunning = [...services.keys()].filter((name) => !oneShot.has(name));
    expect(longRunning).toEqual(expect.arrayContaining(['postgres', 'redis', 'temporal', 'temporal-ui', ...APP_SERVICES]));
    const withoutHealthcheck = longRunning.filter((name) => name !== 'worker' && !hasHealthcheck(service(name)));
    expect(withoutHealthcheck).toEqual([]);
    const restartingJobs = [...oneShot].filter((name) => (scalar(service(name).get('restart')) || 'no') !== 'no');
    expect(restartingJobs).toEqual([]);
    const notRestarting = longRunning.filter((name) => !['always', 'unless-stopped', 'on-failure'].includes(scalar(service(name).get('restart'))));
    expect(notRestarting).toEqual([]);
  });

  it('waits with service_healthy only on services that have a healthcheck', () => {
    const broken = [...services].flatMap(([name, svc]) =>
      dependencies(svc)
        .filter((d) => d.condition === 'service_healthy' && !(services.has(d.target) && hasHealthcheck(service(d.target))))
        .map((d) => `${name} -> ${d.target}`),
    );
    expect(broken).toEqual([]);
    const waitsFor = (name: string) => dependencies(service(name)).map((d) => `${d.target}:${d.condition}`);
    for (const name of APP_SERVICES) expect({ service: name, waitsFor: waitsFor(name) }).toEqual({ service: name, waitsFor: expect.arrayContaining(['redis:service_healthy']) });
    for (const name of ['api', 'worker']) {
      expect({ service: name, waitsFor: waitsFor(name) }).toEqual({ service: name, waitsFor: expect.arrayContaining(['migrate:service_completed_successfully']) });
    }
  });

  it('maps the Temporal Web UI to host port 8233', () => {
    expect(ports(service('temporal-ui'))).toContainEqual({ published: '8233', target: '8080' });
  });

  it('runs the LiveKit SFU with its webhooks going to the API, and SeaweedFS as the object store the app uses', () => {
    const livekit = environment(service('livekit')).get('LIVEKIT_CONFIG') ?? '';
    expect(livekit).toContain('http://api:3000/v1/media/livekit/webhook');
    expect(livekit).toContain(REQUIRED_ENV.LIVEKIT_API_SECRET);
    expect(ports(service('livekit'))).toContainEqual({ published: '7882', target: '7882' });
    expect(ports(service('seaweedfs'))).toContainEqual({ published: '8333', target: '8333' });
    for (const name of APP_SERVICES) {
      const env = environment(service(name));
      expect({ service: name, s3: env.get('S3_ENDPOINT'), livekit: env.get('LIVEKIT_API_URL') }).toEqual({ service: name, s3: 'http://seaweedfs:8333', livekit: 'http://livekit:7880' });
    }
  });

  it('keeps PostgreSQL data in a named volume', () => {
    const mounts = sequence(service('postgres').get('volumes')?.children ?? []).map(itemScalar);
    const named = mounts.filter((m) => m.split(':')[1] === '/var/lib/postgresql/data' && volumeNames.includes(m.split(':')[0]!));
    expect(named).toHaveLength(1);
  });

  it('listens on all interfaces in the containers and gives the worker the prebuilt workflow bundle', () => {
    expect(environment(service('api')).get('API_HOST')).toBe('0.0.0.0');
    expect(environment(service('realtime')).get('REALTIME_HOST')).toBe('0.0.0.0');
    expect(environment(service('worker')).get('WORKFLOW_BUNDLE_PATH')).toBe('/app/dist/workflow-bundle.js');
    for (const name of APP_SERVICES) expect(environment(service(name)).get('ACCESS_TOKEN_SECRET')).toBe(SECRET);
  });

  it('refuses to run without ACCESS_TOKEN_SECRET, naming the variable', () => {
    const { ACCESS_TOKEN_SECRET: _omitted, ...withoutSecret } = REQUIRED_ENV;
    const result = compose(['config', '-q'], withoutSecret);
    expect(result.status).not.toBe(0);
    // docker-compose: 'Missing mandatory value for "environment" option interpolating {...} in service "api": <our message>'
    expect(result.stderr).toMatch(/Missing mandatory value/);
    expect(result.stderr).toMatch(/in service "[^"]+": [^\n]*ACCESS_TOKEN_SECRET/);
  });
});

// ---- A structural reader for the block-style YAML `docker-compose config` (PyYAML) prints ----

interface Line {
  indent: number;
  text: string;
}
/** A mapping key: its inline value (if any) and the deeper lines that belong to it. */
interface Entry {
  value?: string;
  children: Line[];
}
type Mapping = Map<string, Entry>;

function nameList(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

function toLines(yaml: string): Line[] {
  return yaml
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => ({ indent: l.length - l.trimStart().length, text: l.trim() }));
}

function mapping(block: Line[]): Mapping {
  const result: Mapping = new Map();
  if (block.length === 0) return result;
  const level = Math.min(...block.map((l) => l.indent));
  let current: Entry | undefined;
  for (const line of block) {
    if (line.indent === level && !line.text.startsWith('- ')) {
      const match = /^([^\s'"][^:]*?|'[^']*'|"[^"]*"):(?:\s+(.*))?$/.exec(line.text);
      if (!match) throw new Error(`unexpected line in docker-compose config output: ${line.text}`);
      current = { value: match[2], children: [] };
      result.set(unquote(match[1]!), current);
    } else if (current) {
      current.children.push(line);
    } else {
      throw new Error(`unexpected line in docker-compose config output: ${line.text}`);
    }
  }
  return result;
}

/** Block sequence items (`- ...`), each re-indented as if the dash were a space. */
function sequence(block: Line[]): Line[][] {
  if (block.length === 0) return [];
  const level = Math.min(...block.map((l) => l.indent));
  const items: Line[][] = [];
  for (const line of block) {
    if (line.indent === level && line.text.startsWith('- ')) items.push([{ indent: level + 2, text: line.text.slice(2) }]);
    else if (items.length) items.at(-1)!.push(line);
    else throw new Error(`unexpected line in docker-compose config output: ${line.text}`);
  }
  return items;
}

/** A plain or quoted scalar, folded back onto one line. */
function scalar(entry: Entry | undefined): string {
  if (!entry || entry.value === undefined) return '';
  return unquote([entry.value, ...entry.children.map((l) => l.text)].join(' '));
}

function itemScalar(item: Line[]): string {
  return unquote(item.map((l) => l.text).join(' '));
}

function unquote(text: string): string {
  if (text.length >= 2 && text.startsWith("'") && text.endsWith("'")) return text.slice(1, -1).replace(/''/g, "'");
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) {
    try {
      return JSON.parse(text) as string;
    } catch {
      return text.slice(1, -1); // escapes JSON does not share (folded lines): not needed by the checks above
    }
  }
  return text;
}
