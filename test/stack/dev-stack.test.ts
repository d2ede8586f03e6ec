import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { DEMO_USERS } from '../../db/seed';
import { AccessTokens } from '../../platform/auth/access-tokens';
import { DEV_SECRETS } from '../../config/dev-secrets';
import { runEntryPoint, type ChildService } from '../support/node-process';
import { freePort } from '../support/ports';


/**
 * `npm run stack` end to end: everything starts, a claim works, Ctrl-C (SIGINT) stops every
 * child, and a second start keeps the data: the ledger and the running workflow survive.
 */
async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const dataDir = mkdtempSync('/tmp/aura-stack-test-');
chmodSync(dataDir, 0o755);
let ports: Record<string, number>;
let stack: ChildService | undefined;

beforeAll(async () => {
  ports = {
    AURA_PG_PORT: await freePort(),
    AURA_REDIS_PORT: await freePort(),
    AURA_TEMPORAL_PORT: await freePort(),
    AURA_TEMPORAL_UI_PORT: await freePort(),
    API_PORT: await freePort(),
    REALTIME_PORT: await freePort(),
  };
});

afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function startStack(): Promise<ChildService> {
  const env: NodeJS.ProcessEnv = { AURA_DATA_DIR: dataDir, NODE_ENV: 'development', LOG_LEVEL: 'warn', ...DEV_SECRETS };
  for (const [k, v] of Object.entries(ports)) env[k] = String(v);
  // The jest setup's own servers are not this stack's.
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'TEMPORAL_ADDRESS']) env[k] = undefined;
  stack = runEntryPoint('scripts/stack/dev.ts', env);
  await stack.waitFor(/Aura is up/);
  return stack;
}

async function stopWithCtrlC(s: ChildService): Promise<void> {
  s.child.kill('SIGINT');
  expect(await s.exited).toEqual({ code: 0, signal: null });
  for (const port of Object.values(ports)) expect(await portIsFree(port)).toBe(true);
}

it('starts everything, stops cleanly on Ctrl-C, and keeps rows and running workflows across a restart', async () => {
  const tokens = new AccessTokens({ secret: DEV_SECRETS.ACCESS_TOKEN_SECRET, issuer: 'aura', audience: 'aura-app', ttlSeconds: 900 });
  const userId = DEMO_USERS[1].id;
  const auth = { authorization: `Bearer ${await tokens.sign({ userId })}` };
  const api = () => `http://127.0.0.1:${ports.API_PORT}/v1`;

  const first = await startStack();
  expect(first.output()).toContain(`Temporal Web UI  http://127.0.0.1:${ports.AURA_TEMPORAL_UI_PORT}`);
  expect((await fetch(`http://127.0.0.1:${ports.AURA_TEMPORAL_UI_PORT}/`)).status).toBe(200);
  expect((await fetch(`${api()}/readyz`)).status).toBe(200);
  const claim = await fetch(`${api()}/rewards/daily/claim`, { method: 'POST', headers: auth });
  expect(claim.status).toBe(200);
  await stopWithCtrlC(first);

  const second = await startStack();
  expect(second.output()).toContain('migrations: up to date');
  const status = (await (await fetch(`${api()}/rewards/daily`, { headers: auth })).json()) as Record<string, unknown>;
  expect(status).toMatchObject({ claimedToday: true, streak: 1, totalClaims: 1 }); // the workflow kept its state
  const history = (await (await fetch(`${api()}/rewards/daily/claims`, { headers: auth })).json()) as { items: unknown[] };
  expect(history.items).toHaveLength(1); // and PostgreSQL its rows
  const again = await fetch(`${api()}/rewards/daily/claim`, { method: 'POST', headers: auth });
  expect(again.status).toBe(409);
  await stopWithCtrlC(second);
  stack = undefined;
}, 300_000);
