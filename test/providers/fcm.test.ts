import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CircuitState } from 'cockatiel';
import { loadConfig } from '../../config';
import { DEV_SECRETS } from '../../config/dev-secrets';
import { FcmClient, type FcmSettings } from '../../platform/push/fcm';
import { fcmFromConfig } from '../../platform/push/from-config';
import { PushRejected, PushTokenInvalid, PushUnavailable, type PushMessage } from '../../platform/push/push-sender';
import { startFakeFcm, type FakeFcm } from '../support/fake-fcm';

/**
 * The FCM HTTP v1 client against a local server speaking FCM's wire format
 * (test/support/fake-fcm.ts): a service-account JWT exchanged for an access token, then
 * messages:send. Retries within a call for 5xx, 429 (after Retry-After) and timeouts; dead
 * tokens, refused messages and outages come out as distinct errors; the breaker fails fast.
 */
let fake: FakeFcm;

beforeAll(async () => {
  fake = await startFakeFcm();
});

afterAll(async () => {
  await fake?.close();
});

beforeEach(() => fake.controls.clear());

/** Retry waits are recorded, not slept: the tests assert what the client waited for. */
let waits: number[] = [];
const recordWait = (ms: number) => {
  waits.push(ms);
  return Promise.resolve(true);
};
beforeEach(() => (waits = []));

const client = (settings: Partial<FcmSettings> = {}) =>
  new FcmClient({ apiBaseUrl: fake.url, tokenUrl: fake.tokenUrl, projectId: fake.projectId, serviceAccount: fake.serviceAccount, wait: recordWait, ...settings });

let seq = 0;
function message(overrides: Partial<PushMessage> = {}): PushMessage {
  seq += 1;
  return {
    token: `fcm-registration-token-${seq}:APA91bH${'x'.repeat(120)}`,
    title: 'New follower',
    body: 'Asha started following you',
    data: { notificationId: `n-${seq}`, kind: 'follow', followerId: 'u-1' },
    priority: 'normal',
    collapseKey: 'follow',
    ...overrides,
  };
}

const apiCalls = () => fake.controls.calls.filter((c) => c.endpoint === 'api');
const tokenCalls = () => fake.controls.calls.filter((c) => c.endpoint === 'token');

describe('sending', () => {
  it('mints an access token with a signed assertion, then sends the message as FCM v1 takes it', async () => {
    const m = message({ priority: 'high', ttlSeconds: 3600 });
    const { messageId } = await client().send(m);
    expect(messageId).toMatch(new RegExp(`^projects/${fake.projectId}/messages/`));
    expect(fake.controls.calls).toEqual([
      { endpoint: 'token', method: 'POST', path: '/token', authorized: false },
      { endpoint: 'api', method: 'POST', path: `/v1/projects/${fake.projectId}/messages:send`, authorized: true, token: m.token },
    ]);
    expect(fake.controls.deliveries).toEqual([
      {
        name: messageId,
        token: m.token,
        message: {
          token: m.token,
          notification: { title: 'New follower', body: 'Asha started following you' },
          data: m.data,
          android: { priority: 'high', collapse_key: 'follow', ttl: '3600s', notification: { tag: 'follow' } },
        },
      },
    ]);
  });

  it('reuses the access token across sends, concurrent ones included', async () => {
    const fcm = client();
    await Promise.all([fcm.send(message()), fcm.send(message()), fcm.send(message())]);
    await fcm.send(message());
    expect(tokenCalls()).toHaveLength(1);
    expect(apiCalls()).toHaveLength(4);
  });

  it('mints a new access token after FCM refuses the old one (401), within the same send', async () => {
    const fcm = client();
    await fcm.send(message());
    fake.controls.revokeAccessTokens();
    await expect(fcm.send(message())).resolves.toEqual({ messageId: expect.any(String) });
    expect(tokenCalls()).toHaveLength(2);
    expect(apiCalls()).toHaveLength(3);
  });

  it('is refused at the token endpoint when the assertion is signed with another key (no send reaches FCM)', async () => {
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const fcm = client({ serviceAccount: { clientEmail: fake.serviceAccount.clientEmail, privateKeyPem: stranger }, attempts: 1 });
    const err = await fcm.send(message()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushUnavailable);
    expect((err as Error).message).toMatch(/token endpoint answered 400 \(invalid_grant\)/);
    expect(apiCalls()).toHaveLength(0);
  });
});

describe('dead tokens', () => {
  // UNREGISTERED: the app was uninstalled; SENDER_ID_MISMATCH: the token is another project's.
  it.each(['UNREGISTERED', 'SENDER_ID_MISMATCH'] as const)('reports %s as PushTokenInvalid, without retrying', async (reason) => {
    const m = message();
    if (reason === 'UNREGISTERED') fake.controls.unregister(m.token);
    else fake.controls.belongToOtherSender(m.token);
    const err = await client().send(m).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushTokenInvalid);
    expect(err).toMatchObject({ reason });
    expect(apiCalls()).toHaveLength(1);
  });

  it('reports a malformed token (INVALID_ARGUMENT on message.token) as PushTokenInvalid', async () => {
    const err = await client().send(message({ token: 'not a token!' })).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'PushTokenInvalid', reason: 'INVALID_ARGUMENT' });
  });

  it('never puts the token in an error message', async () => {
    const m = message();
    fake.controls.unregister(m.token);
    const err = (await client().send(m).catch((e: unknown) => e)) as Error;
    expect(`${err.message} ${err.stack}`).not.toContain(m.token);
  });

  it('logs a retried send with the token masked, never whole', async () => {
    const lines: unknown[] = [];
    const logger = { warn: (...args: unknown[]) => void lines.push(args), error: (...args: unknown[]) => void lines.push(args) };
    const m = message();
    fake.controls.failNext(1, { errorCode: 'UNAVAILABLE' });
    await client({ logger }).send(m);
    expect(lines).toHaveLength(1);
    expect(JSON.stringify(lines)).not.toContain(m.token);
    expect(lines[0]).toEqual([expect.objectContaining({ tokenHint: `${m.token.slice(0, 6)}…${m.token.slice(-4)}`, attempt: 1 }), expect.stringMatching(/503 UNAVAILABLE; retrying/)]);
  });

  it('does not let dead tokens trip the breaker', async () => {
    const fcm = client();
    for (let i = 0; i < 6; i++) {
      const m = message();
      fake.controls.unregister(m.token);
      await expect(fcm.send(m)).rejects.toBeInstanceOf(PushTokenInvalid);
    }
    expect(fcm.circuitState).toBe(CircuitState.Closed);
  });
});

describe('refused messages', () => {
  it('reports a payload FCM refuses (INVALID_ARGUMENT not about the token) as PushRejected, not retried', async () => {
    const err = await client()
      .send(message({ data: { blob: 'x'.repeat(5000) } }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushRejected);
    expect(err).toMatchObject({ status: 400, errorCode: 'INVALID_ARGUMENT' });
    expect(apiCalls()).toHaveLength(1);
  });

  it('reports THIRD_PARTY_AUTH_ERROR as PushRejected', async () => {
    fake.controls.failNext(1, { errorCode: 'THIRD_PARTY_AUTH_ERROR' });
    await expect(client().send(message())).rejects.toMatchObject({ name: 'PushRejected', status: 401, errorCode: 'THIRD_PARTY_AUTH_ERROR' });
  });

  it('reports a project it may not send for (403) as unavailable, without retrying now', async () => {
    const err = await client({ projectId: 'someone-else' })
      .send(message())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushUnavailable);
    expect((err as Error).message).toMatch(/403 PERMISSION_DENIED/);
    expect(apiCalls()).toHaveLength(1);
  });
});

describe('outages', () => {
  it.each(['UNAVAILABLE', 'INTERNAL'] as const)('retries %s (503, 500) with backoff, and succeeds', async (errorCode) => {
    fake.controls.failNext(2, { errorCode });
    await expect(client({ backoffMs: 400 }).send(message())).resolves.toEqual({ messageId: expect.any(String) });
    expect(apiCalls()).toHaveLength(3);
    expect(waits).toHaveLength(2);
    // Jittered exponential backoff: half to all of 400 ms, then of 800 ms.
    expect(waits[0]).toBeGreaterThanOrEqual(200);
    expect(waits[0]).toBeLessThanOrEqual(400);
    expect(waits[1]).toBeGreaterThanOrEqual(400);
    expect(waits[1]).toBeLessThanOrEqual(800);
  });

  it('waits out Retry-After on 429 QUOTA_EXCEEDED, then sends', async () => {
    fake.controls.failNext(1, { errorCode: 'QUOTA_EXCEEDED', retryAfterSeconds: 3 });
    await expect(client().send(message())).resolves.toEqual({ messageId: expect.any(String) });
    expect(waits).toEqual([3000]);
    expect(apiCalls()).toHaveLength(2);
  });

  it('honours Retry-After on a 503 too', async () => {
    fake.controls.failNext(1, { errorCode: 'UNAVAILABLE', retryAfterSeconds: 2 });
    await client().send(message());
    expect(waits).toEqual([2000]);
  });

  it('hands a Retry-After longer than it may wait back to the caller at once', async () => {
    fake.controls.failNext(1, { errorCode: 'QUOTA_EXCEEDED', retryAfterSeconds: 120 });
    const err = await client().send(message()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushUnavailable);
    expect(err).toMatchObject({ retryAfterMs: 120_000 });
    expect(waits).toEqual([]);
    expect(apiCalls()).toHaveLength(1);
  });

  it('gives up after its attempts with PushUnavailable', async () => {
    fake.controls.failNext(3, { errorCode: 'UNAVAILABLE' });
    const err = await client().send(message()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushUnavailable);
    expect((err as Error).message).toMatch(/FCM answered 503 UNAVAILABLE/);
    expect(apiCalls()).toHaveLength(3);
  });

  it('cuts an attempt FCM does not answer at the timeout, and retries it', async () => {
    fake.controls.stallNext(1);
    await expect(client({ timeoutMs: 200 }).send(message())).resolves.toEqual({ messageId: expect.any(String) });
    expect(apiCalls()).toHaveLength(2);
  });

  it('reports a send stalled on every attempt as unavailable (never a hang)', async () => {
    fake.controls.stallNext(2);
    const err = await client({ timeoutMs: 200, attempts: 2 })
      .send(message())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushUnavailable);
    expect((err as Error).message).toMatch(/did not answer in time/);
  });

  it('cuts a stalled token endpoint at the timeout', async () => {
    fake.controls.stallNext(1, { endpoint: 'token' });
    await expect(client({ timeoutMs: 200, attempts: 1 }).send(message())).rejects.toThrow(/token endpoint did not answer in time/);
    expect(apiCalls()).toHaveLength(0);
  });

  it('stops at once when the caller’s signal fires', async () => {
    fake.controls.stallNext(1);
    const controller = new AbortController();
    const arrived = fake.controls.nextCall('api');
    const settled = client({ timeoutMs: 60_000 })
      .send(message(), { signal: controller.signal })
      .catch((e: unknown) => e);
    await arrived;
    controller.abort();
    expect(await settled).toMatchObject({ name: 'PushUnavailable', message: 'push cancelled' });
    expect(apiCalls()).toHaveLength(1);
  });

  it('opens the circuit after 5 failures in 10 s, then fails fast without reaching FCM', async () => {
    const fcm = client({ attempts: 1 });
    fake.controls.failNext(5, { errorCode: 'INTERNAL' });
    for (let i = 0; i < 5; i++) await expect(fcm.send(message())).rejects.toBeInstanceOf(PushUnavailable);
    expect(fcm.circuitState).toBe(CircuitState.Open);
    const before = fake.controls.calls.length;
    const err = await fcm.send(message()).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'PushUnavailable', message: 'FCM circuit is open', retryAfterMs: 30_000 });
    expect(fake.controls.calls).toHaveLength(before);
  });
});

describe('from configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aura-fcm-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const configWith = (env: Record<string, string>) => loadConfig({ ...DEV_SECRETS, FCM_API_URL: fake.url, FCM_TOKEN_URL: fake.tokenUrl, ...env });

  it('builds the client from a service-account key file, taking the project from it', async () => {
    const file = join(dir, 'service-account.json');
    const { clientEmail, privateKeyPem } = fake.serviceAccount;
    writeFileSync(file, JSON.stringify({ type: 'service_account', project_id: fake.projectId, client_email: clientEmail, private_key: privateKeyPem }));
    const fcm = fcmFromConfig(configWith({ FCM_SERVICE_ACCOUNT_FILE: file }));
    await expect(fcm!.send(message())).resolves.toEqual({ messageId: expect.stringContaining(`projects/${fake.projectId}/`) });
  });

  it('has no client without a key file, and refuses a file that is not one without quoting it', () => {
    expect(fcmFromConfig(configWith({}))).toBeUndefined();
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"private_key": "-----BEGIN PRIVATE KEY-----secret-bytes');
    expect(() => fcmFromConfig(configWith({ FCM_SERVICE_ACCOUNT_FILE: file }))).toThrow(/^FCM_SERVICE_ACCOUNT_FILE is not a service-account key file/);
    expect(() => fcmFromConfig(configWith({ FCM_SERVICE_ACCOUNT_FILE: file }))).not.toThrow(/secret-bytes/);
  });

  it('needs a project id from the file or FCM_PROJECT_ID', () => {
    const file = join(dir, 'no-project.json');
    writeFileSync(file, JSON.stringify({ client_email: fake.serviceAccount.clientEmail, private_key: fake.serviceAccount.privateKeyPem }));
    expect(() => fcmFromConfig(configWith({ FCM_SERVICE_ACCOUNT_FILE: file }))).toThrow(/FCM_PROJECT_ID/);
    expect(fcmFromConfig(configWith({ FCM_SERVICE_ACCOUNT_FILE: file, FCM_PROJECT_ID: 'aura-test' }))).toBeDefined();
  });
});
