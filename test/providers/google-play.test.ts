import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CircuitState } from 'cockatiel';
import { loadConfig } from '../../config';
import { DEV_SECRETS } from '../../config/dev-secrets';
import { googlePlayFromConfig } from '../../platform/stores/from-config';
import { GooglePlayClient, StoreRefusal, TransientStoreError, type GooglePlaySettings } from '../../platform/stores/google-play';
import { startFakeGooglePlay, type FakeGooglePlay, type FakePurchaseInput } from '../support/fake-google-play';

/**
 * The Google Play client against a local server that speaks the Developer API's wire format
 * (test/support/fake-google-play.ts): a service-account JWT exchanged for an access token, then
 * purchases.products.get / :consume and purchases.voidedpurchases.list. One attempt per call
 * (Temporal retries the activity); refusals are StoreRefusal, everything worth retrying is a
 * TransientStoreError and counts against the circuit breaker.
 */
let fake: FakeGooglePlay;

beforeAll(async () => {
  fake = await startFakeGooglePlay();
});

afterAll(async () => {
  await fake?.close();
});

beforeEach(() => fake.controls.clearCalls());

const client = (settings: Partial<GooglePlaySettings> = {}) =>
  new GooglePlayClient({ apiBaseUrl: fake.url, tokenUrl: fake.tokenUrl, packageName: fake.packageName, serviceAccount: fake.serviceAccount, ...settings });

let seq = 0;
/** A purchase at the fake; returns its token. */
function purchase(input: Partial<FakePurchaseInput> = {}): string {
  seq += 1;
  const token = `opaque-purchase-token-${seq}.AO-J1Oz`;
  fake.controls.addPurchase({ token, productId: 'coins_100', orderId: `GPA.3301-0000-0000-${String(seq).padStart(5, '0')}`, accountId: 'account-a', ...input });
  return token;
}

const apiCalls = () => fake.controls.calls.filter((c) => c.endpoint === 'api');
const tokenCalls = () => fake.controls.calls.filter((c) => c.endpoint === 'token');

describe('reading a purchase', () => {
  it('mints an access token with a signed assertion, then reads the purchase as Google sends it', async () => {
    const token = purchase({ purchaseTimeMillis: 1_767_225_600_123, profileId: 'profile-1', regionCode: 'GB' });
    const read = await client().getProductPurchase('coins_100', token);
    expect(read).toEqual({
      kind: 'androidpublisher#productPurchase',
      purchaseTimeMillis: '1767225600123',
      purchaseState: 0,
      consumptionState: 0,
      acknowledgementState: 0,
      orderId: expect.stringMatching(/^GPA\.3301-/),
      quantity: 1,
      obfuscatedExternalAccountId: 'account-a',
      obfuscatedExternalProfileId: 'profile-1',
      regionCode: 'GB',
    });
    expect(fake.controls.calls).toEqual([
      { endpoint: 'token', method: 'POST', path: '/token', query: {}, authorized: false },
      {
        endpoint: 'api',
        method: 'GET',
        path: `/androidpublisher/v3/applications/com.aura.voicechat/purchases/products/coins_100/tokens/${token}`,
        query: {},
        authorized: true,
      },
    ]);
  });

  it('reports a consumed purchase, a quantity and a test purchase', async () => {
    const read = await client().getProductPurchase('coins_100', purchase({ consumed: true, quantity: 3, purchaseType: 0 }));
    expect(read).toMatchObject({ purchaseState: 0, consumptionState: 1, acknowledgementState: 1, quantity: 3, purchaseType: 0 });
  });

  it.each([
    ['canceled', 1],
    ['pending', 2],
  ] as const)('reports a %s purchase (purchaseState %i)', async (state, code) => {
    await expect(client().getProductPurchase('coins_100', purchase({ state }))).resolves.toMatchObject({ purchaseState: code, consumptionState: 0 });
  });

  it('returns the account the purchase was made for, even another one: the caller decides', async () => {
    const read = await client().getProductPurchase('coins_100', purchase({ accountId: 'account-b' }));
    expect(read.obfuscatedExternalAccountId).toBe('account-b');
  });

  it('refuses a token of another app, another product or none at all as not found (404)', async () => {
    const ofAnotherApp = purchase({ packageName: 'com.someone.else' });
    const ours = purchase();
    const errors = await Promise.all(
      [
        client().getProductPurchase('coins_100', ofAnotherApp),
        client({ packageName: 'com.someone.else' }).getProductPurchase('coins_100', ours),
        client().getProductPurchase('coins_500', ours),
        client().getProductPurchase('coins_100', 'never-issued'),
      ].map((attempt) => attempt.catch((e: unknown) => e)),
    );
    for (const err of errors) {
      expect(err).toBeInstanceOf(StoreRefusal);
      expect(err).toMatchObject({ reason: 'PURCHASE_NOT_FOUND', status: 404, providerReason: 'purchaseTokenNotFound' });
    }
  });

  it('does not let a refusal trip the circuit breaker', async () => {
    const play = client();
    for (let i = 0; i < 6; i++) await expect(play.getProductPurchase('coins_100', 'never-issued')).rejects.toBeInstanceOf(StoreRefusal);
    expect(play.circuitState).toBe(CircuitState.Closed);
    expect(apiCalls()).toHaveLength(6);
  });
});

describe('consuming a purchase', () => {
  it('consumes once; a second consume is refused as not consumable (400)', async () => {
    const token = purchase();
    const play = client();
    await expect(play.consumeProductPurchase('coins_100', token)).resolves.toBeUndefined();
    expect(apiCalls()[0]).toMatchObject({ method: 'POST', path: `/androidpublisher/v3/applications/com.aura.voicechat/purchases/products/coins_100/tokens/${token}:consume` });
    await expect(play.getProductPurchase('coins_100', token)).resolves.toMatchObject({ consumptionState: 1, acknowledgementState: 1 });

    const again = await play.consumeProductPurchase('coins_100', token).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(StoreRefusal);
    expect(again).toMatchObject({ reason: 'NOT_CONSUMABLE', status: 400, providerReason: 'productNotOwnedByUser' });
    expect(fake.controls.purchase(token)).toMatchObject({ consumed: true });
  });

  it('refuses to consume a pending purchase', async () => {
    await expect(client().consumeProductPurchase('coins_100', purchase({ state: 'pending' }))).rejects.toMatchObject({ reason: 'NOT_CONSUMABLE' });
  });
});

describe('failures worth retrying', () => {
  it.each([500, 503, 429, 403])('makes one attempt per call: %i is a TransientStoreError', async (status) => {
    const play = client();
    fake.controls.failNext(1, status);
    await expect(play.getProductPurchase('coins_100', purchase())).rejects.toBeInstanceOf(TransientStoreError);
    expect(apiCalls()).toHaveLength(1);
  });

  it('opens the circuit after 5 failures in 10 s, then fails fast without reaching Google', async () => {
    const token = purchase();
    const play = client();
    fake.controls.failNext(5, 503);
    for (let i = 0; i < 5; i++) await expect(play.getProductPurchase('coins_100', token)).rejects.toBeInstanceOf(TransientStoreError);
    expect(play.circuitState).toBe(CircuitState.Open);
    expect(apiCalls()).toHaveLength(5);

    const callsBefore = fake.controls.calls.length;
    await expect(play.getProductPurchase('coins_100', token)).rejects.toThrow(/circuit is open/);
    await expect(play.consumeProductPurchase('coins_100', token)).rejects.toBeInstanceOf(TransientStoreError);
    expect(fake.controls.calls).toHaveLength(callsBefore);
  });

  it('cuts an attempt that Google does not answer at the timeout', async () => {
    fake.controls.stallNext(1);
    const err = await client({ timeoutMs: 200 })
      .getProductPurchase('coins_100', purchase())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientStoreError);
    expect((err as Error).message).toMatch(/did not answer in time/);
    expect(apiCalls()).toHaveLength(1);
  });

  it('cuts an attempt when the token endpoint does not answer', async () => {
    fake.controls.stallNext(1, { endpoint: 'token' });
    await expect(client({ timeoutMs: 200 }).getProductPurchase('coins_100', purchase())).rejects.toThrow(/token endpoint did not answer in time/);
    expect(apiCalls()).toHaveLength(0);
  });

  it('cuts an attempt when the caller’s signal fires (the activity cancelled or out of time)', async () => {
    fake.controls.stallNext(1);
    const controller = new AbortController();
    const play = client({ timeoutMs: 60_000 });
    const arrived = fake.controls.nextCall('api');
    const settled = play.getProductPurchase('coins_100', purchase(), { signal: controller.signal }).catch((e: unknown) => e);
    await arrived;
    controller.abort();
    expect(await settled).toBeInstanceOf(TransientStoreError);
  });

  it('treats a failing token endpoint as transient, and mints again on the next call', async () => {
    const token = purchase();
    const play = client();
    fake.controls.failNext(1, 503, { endpoint: 'token' });
    await expect(play.getProductPurchase('coins_100', token)).rejects.toThrow(/token endpoint answered 503/);
    expect(apiCalls()).toHaveLength(0);
    await expect(play.getProductPurchase('coins_100', token)).resolves.toMatchObject({ purchaseState: 0 });
    expect(tokenCalls()).toHaveLength(2);
  });

  it('reports an assertion signed with the wrong key as a transient failure (invalid_grant), never reaching the API', async () => {
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const play = client({ serviceAccount: { clientEmail: fake.serviceAccount.clientEmail, privateKeyPem: stranger } });
    await expect(play.getProductPurchase('coins_100', purchase())).rejects.toThrow(/token endpoint answered 400 \(invalid_grant\)/);
    expect(apiCalls()).toHaveLength(0);
  });
});

describe('the access token', () => {
  it('is minted once and reused across calls, concurrent ones included', async () => {
    const play = client();
    const token = purchase();
    await Promise.all([play.getProductPurchase('coins_100', token), play.getProductPurchase('coins_100', token), play.listVoidedPurchases({ startTimeMillis: 0 })]);
    await play.getProductPurchase('coins_100', token);
    expect(tokenCalls()).toHaveLength(1);
    expect(apiCalls()).toHaveLength(4);
    expect(apiCalls().every((c) => c.authorized)).toBe(true);
  });

  it('is dropped when the API answers 401, and the next attempt mints a new one', async () => {
    const play = client();
    const token = purchase();
    await play.getProductPurchase('coins_100', token);
    fake.controls.revokeAccessTokens();
    await expect(play.getProductPurchase('coins_100', token)).rejects.toThrow(/refused the access token \(401\)/);
    await expect(play.getProductPurchase('coins_100', token)).resolves.toMatchObject({ purchaseState: 0 });
    expect(tokenCalls()).toHaveLength(2);
    expect(apiCalls()).toHaveLength(3);
  });

  it('is renewed a minute before it expires', async () => {
    const shortLived = await startFakeGooglePlay({ tokenLifetimeSeconds: 60 });
    try {
      const play = new GooglePlayClient({ apiBaseUrl: shortLived.url, tokenUrl: shortLived.tokenUrl, packageName: shortLived.packageName, serviceAccount: shortLived.serviceAccount });
      shortLived.controls.addPurchase({ token: 'short-lived-1', productId: 'coins_100', orderId: 'GPA.1' });
      await play.getProductPurchase('coins_100', 'short-lived-1');
      await play.getProductPurchase('coins_100', 'short-lived-1');
      expect(shortLived.controls.calls.filter((c) => c.endpoint === 'token')).toHaveLength(2);
    } finally {
      await shortLived.close();
    }
  });
});

describe('voided purchases', () => {
  it('pages through the purchases voided since a time, oldest first', async () => {
    const voided = await startFakeGooglePlay(); // its own purchases: other tests' voids do not show
    try {
      const play = new GooglePlayClient({ apiBaseUrl: voided.url, tokenUrl: voided.tokenUrl, packageName: voided.packageName, serviceAccount: voided.serviceAccount });
      const base = 1_767_225_600_000;
      for (let i = 1; i <= 6; i++) {
        voided.controls.addPurchase({ token: `voided-${i}`, productId: 'coins_100', orderId: `GPA.900${i}`, purchaseTimeMillis: base - 86_400_000 });
        voided.controls.voidPurchase(`voided-${i}`, base + (7 - i) * 1000, { reason: 7, source: 2 }); // newest first
      }
      voided.controls.addPurchase({ token: 'kept', productId: 'coins_100', orderId: 'GPA.9100' });
      const startTimeMillis = base + 2000; // voided-6 (base+1000) is older

      const first = await play.listVoidedPurchases({ startTimeMillis, maxResults: 2 });
      expect(first.voidedPurchases.map((v) => v.purchaseToken)).toEqual(['voided-5', 'voided-4']);
      expect(first.voidedPurchases[0]).toEqual({
        kind: 'androidpublisher#voidedPurchase',
        purchaseToken: 'voided-5',
        orderId: 'GPA.9005',
        purchaseTimeMillis: String(base - 86_400_000),
        voidedTimeMillis: String(base + 2000),
        voidedSource: 2,
        voidedReason: 7,
      });
      expect(first.tokenPagination?.nextPageToken).toEqual(expect.any(String));

      const second = await play.listVoidedPurchases({ startTimeMillis, maxResults: 2, pageToken: first.tokenPagination!.nextPageToken });
      expect(second.voidedPurchases.map((v) => v.purchaseToken)).toEqual(['voided-3', 'voided-2']);
      const third = await play.listVoidedPurchases({ startTimeMillis, maxResults: 2, pageToken: second.tokenPagination!.nextPageToken });
      expect(third).toEqual({ voidedPurchases: [expect.objectContaining({ purchaseToken: 'voided-1' })] });

      const requests = voided.controls.calls.filter((c) => c.endpoint === 'api');
      expect(requests[0]).toMatchObject({
        method: 'GET',
        path: '/androidpublisher/v3/applications/com.aura.voicechat/purchases/voidedpurchases',
        query: { startTime: String(startTimeMillis), maxResults: '2', type: '0' },
      });
      expect(requests[1]!.query.token).toBe(first.tokenPagination!.nextPageToken);

      // A voided purchase reads as canceled; nothing voided later: an empty list (Google leaves it out).
      await expect(play.getProductPurchase('coins_100', 'voided-1')).resolves.toMatchObject({ purchaseState: 1 });
      await expect(play.listVoidedPurchases({ startTimeMillis: base + 60_000 })).resolves.toEqual({ voidedPurchases: [] });
    } finally {
      await voided.close();
    }
  });
});

describe('from configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aura-play-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const configWith = (env: Record<string, string>) =>
    loadConfig({ ...DEV_SECRETS, GOOGLE_PLAY_API_URL: fake.url, GOOGLE_PLAY_TOKEN_URL: fake.tokenUrl, ...env });

  it('builds the client from a service-account key file', async () => {
    const file = join(dir, 'service-account.json');
    const { clientEmail, privateKeyPem } = fake.serviceAccount;
    writeFileSync(file, JSON.stringify({ type: 'service_account', client_email: clientEmail, private_key: privateKeyPem }));
    const play = googlePlayFromConfig(configWith({ GOOGLE_PLAY_SERVICE_ACCOUNT_FILE: file }));
    await expect(play!.getProductPurchase('coins_100', purchase())).resolves.toMatchObject({ purchaseState: 0 });
  });

  it('has no client without a key file, and refuses a file that is not one without quoting it', () => {
    expect(googlePlayFromConfig(configWith({}))).toBeUndefined();
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"private_key": "-----BEGIN PRIVATE KEY-----secret-bytes');
    expect(() => googlePlayFromConfig(configWith({ GOOGLE_PLAY_SERVICE_ACCOUNT_FILE: file }))).toThrow(/^GOOGLE_PLAY_SERVICE_ACCOUNT_FILE is not a service-account key file/);
    expect(() => googlePlayFromConfig(configWith({ GOOGLE_PLAY_SERVICE_ACCOUNT_FILE: file }))).not.toThrow(/secret-bytes/);
  });
});
