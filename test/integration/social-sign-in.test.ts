import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';
import { startApi } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * Google, Apple and Facebook sign-in against a local server that plays the providers: it
 * serves JSON Web Key Sets of keys this test generates, and Graph API's /debug_token.
 */
const GOOGLE_CLIENT = 'aura-android.apps.googleusercontent.com';
const APPLE_CLIENT = 'app.aura.android';
const FB_APP = '1234567890';

let stack: RealStack;
let provider: Server;
let providerUrl: string;
let api: Awaited<ReturnType<typeof startApi>>;
let signingKey: KeyLike;
let strangerKey: KeyLike;
const facebookTokens = new Map<string, { app_id: string; is_valid: boolean; user_id?: string; expires_at?: number }>();

beforeAll(async () => {
  stack = await connectRealStack('social');
  const trusted = await generateKeyPair('RS256', { extractable: true });
  signingKey = trusted.privateKey;
  strangerKey = (await generateKeyPair('RS256', { extractable: true })).privateKey;
  const jwk: JWK = { ...(await exportJWK(trusted.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  provider = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    if (url.pathname === '/google/certs' || url.pathname === '/apple/keys') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else if (url.pathname === '/graph/debug_token') {
      const ok = url.searchParams.get('access_token') === `${FB_APP}|fb-secret`;
      const data = ok ? facebookTokens.get(url.searchParams.get('input_token') ?? '') : undefined;
      res.writeHead(ok ? 200 : 400, { 'content-type': 'application/json' }).end(JSON.stringify(data ? { data } : { error: { code: 190 } }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
  providerUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
  api = await startApi(stack, {
    RATE_LIMIT_AUTH_IP_PER_10_MINUTES: 10_000,
    GOOGLE_CLIENT_IDS: [GOOGLE_CLIENT],
    GOOGLE_JWKS_URL: `${providerUrl}/google/certs`,
    APPLE_CLIENT_IDS: [APPLE_CLIENT],
    APPLE_JWKS_URL: `${providerUrl}/apple/keys`,
    FACEBOOK_APP_ID: FB_APP,
    FACEBOOK_APP_SECRET: 'fb-secret',
    FACEBOOK_GRAPH_URL: `${providerUrl}/graph`,
  });
});

afterAll(async () => {
  await api?.close();
  await new Promise((resolve) => provider?.close(resolve));
  await stack?.close();
});

interface Claims {
  iss?: string;
  aud?: string;
  sub?: string;
  exp?: number;
  nonce?: string;
  key?: KeyLike;
}

async function idToken(c: Claims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ email: 'mira@example.com', ...(c.nonce ? { nonce: c.nonce } : {}) })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(c.iss ?? 'https://accounts.google.com')
    .setAudience(c.aud ?? GOOGLE_CLIENT)
    .setSubject(c.sub ?? `g-${Math.random().toString(36).slice(2)}`)
    .setIssuedAt(now - 10)
    .setExpirationTime(c.exp ?? now + 600)
    .sign(c.key ?? signingKey);
}

async function socialSignIn(providerName: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return fetch(`${api.url}/v1/auth/social/${providerName}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string; details?: { reason?: string } } }).error;

describe('Google and Apple ID tokens', () => {
  it('signs in with a valid Google token, once per Google account', async () => {
    const token = await idToken({ sub: 'google-user-1' });
    const first = await socialSignIn('google', { token });
    expect(first.status).toBe(200);
    const body = (await first.json()) as { accessToken: string; user: { id: string; isNew: boolean } };
    expect(body.user.isNew).toBe(true);
    const again = (await (await socialSignIn('google', { token: await idToken({ sub: 'google-user-1' }) })).json()) as { user: { id: string; isNew: boolean } };
    expect(again.user).toEqual({ id: body.user.id, isNew: false });
    const me = await fetch(`${api.url}/v1/me`, { headers: { authorization: `Bearer ${body.accessToken}` } });
    const profile = (await me.json()) as { displayName: string; signInMethods: unknown[] };
    expect(profile.signInMethods).toEqual([expect.objectContaining({ provider: 'google', display: 'mira@example.com' })]);
    // A new account's name says nothing about the account it signed in with.
    expect(profile.displayName).toMatch(/^Aura user [A-Z]{4}$/);
  });

  it('refuses bad device fields with 400 before any account or session is made', async () => {
    const sub = `google-${Math.random().toString(36).slice(2)}`;
    for (const device of [{ id: 'device-0001', name: 'Pixel\u202E8' }, { id: 'bad id!', name: 'Pixel 8' }]) {
      const res = await socialSignIn('google', { token: await idToken({ sub }), device });
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    const rows: unknown[] = await stack.dataSource.query(`SELECT 1 FROM user_identities WHERE provider = 'google' AND subject = $1`, [sub]);
    expect(rows).toHaveLength(0);
    const ok = await socialSignIn('google', { token: await idToken({ sub }), device: { id: 'device-0001', name: 'Pixel 8' } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { user: { isNew: boolean } }).user.isNew).toBe(true);
  });

  it('signs in with a valid Apple token checking the nonce', async () => {
    const token = await idToken({ iss: 'https://appleid.apple.com', aud: APPLE_CLIENT, nonce: 'nonce-123456' });
    expect((await socialSignIn('apple', { token, nonce: 'nonce-123456' })).status).toBe(200);
    const wrongNonce = await socialSignIn('apple', { token, nonce: 'nonce-999999' });
    expect(wrongNonce.status).toBe(401);
    expect(await errorCode(wrongNonce)).toMatchObject({ code: 'SOCIAL_TOKEN_INVALID', details: { reason: 'nonce' } });
  });

  it.each([
    ['a bad signature', { key: 'stranger' }, 'invalid'],
    ['the wrong audience', { aud: 'someone-elses-app' }, 'audience'],
    ['the wrong issuer', { iss: 'https://evil.example' }, 'issuer'],
    ['an expiry in the past', { exp: Math.floor(Date.now() / 1000) - 120 }, 'expired'],
  ] as const)('refuses a Google token with %s', async (_label, claims, reason) => {
    const token = await idToken({ ...claims, key: 'key' in claims ? strangerKey : signingKey } as Claims);
    const res = await socialSignIn('google', { token });
    expect(res.status).toBe(401);
    expect(await errorCode(res)).toMatchObject({ code: 'SOCIAL_TOKEN_INVALID', details: { reason } });
  });
});

describe('Facebook access tokens', () => {
  it('accepts a token the Graph API says is valid for our app, and refuses others', async () => {
    facebookTokens.set('fb-good-token-0000000000', { app_id: FB_APP, is_valid: true, user_id: 'fb-user-1' });
    facebookTokens.set('fb-other-app-000000000000', { app_id: '999', is_valid: true, user_id: 'fb-user-2' });
    facebookTokens.set('fb-expired-token-00000000', { app_id: FB_APP, is_valid: false, expires_at: 1_000 });
    expect((await socialSignIn('facebook', { token: 'fb-good-token-0000000000' })).status).toBe(200);
    const other = await socialSignIn('facebook', { token: 'fb-other-app-000000000000' });
    expect(await errorCode(other)).toMatchObject({ details: { reason: 'audience' } });
    const expired = await socialSignIn('facebook', { token: 'fb-expired-token-00000000' });
    expect(await errorCode(expired)).toMatchObject({ details: { reason: 'expired' } });
  });
});

describe('linking sign-in methods', () => {
  it('links and unlinks methods, refuses an account owned by someone else, and keeps the last one', async () => {
    const owner = (await (await socialSignIn('google', { token: await idToken({ sub: 'link-owner' }) })).json()) as { accessToken: string };
    const auth = { authorization: `Bearer ${owner.accessToken}`, 'content-type': 'application/json' };
    facebookTokens.set('fb-link-token-00000000000', { app_id: FB_APP, is_valid: true, user_id: 'fb-link-user' });
    const linked = await fetch(`${api.url}/v1/me/identities/facebook`, { method: 'POST', headers: auth, body: JSON.stringify({ token: 'fb-link-token-00000000000' }) });
    expect(linked.status).toBe(200);
    expect(((await linked.json()) as { items: { provider: string }[] }).items.map((i) => i.provider)).toEqual(['google', 'facebook']);

    const someoneElse = (await (await socialSignIn('google', { token: await idToken({ sub: 'link-other' }) })).json()) as { accessToken: string };
    const stolen = await fetch(`${api.url}/v1/me/identities/facebook`, {
      method: 'POST',
      headers: { authorization: `Bearer ${someoneElse.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'fb-link-token-00000000000' }),
    });
    expect(stolen.status).toBe(409);
    expect((await errorCode(stolen)).code).toBe('IDENTITY_IN_USE');

    expect((await fetch(`${api.url}/v1/me/identities/google`, { method: 'DELETE', headers: auth })).status).toBe(200);
    const last = await fetch(`${api.url}/v1/me/identities/facebook`, { method: 'DELETE', headers: auth });
    expect(last.status).toBe(409);
    expect((await errorCode(last)).code).toBe('LAST_SIGN_IN_METHOD');
  });
});
