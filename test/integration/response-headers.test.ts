import { startApi } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * Every API response, errors and unknown routes included, tells browsers not to sniff its
 * type and caches not to keep it: the routes answer with personal data or sign-in secrets.
 */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;

beforeAll(async () => {
  stack = await connectRealStack('response-headers');
  api = await startApi(stack);
});

afterAll(async () => {
  await api?.close();
  await stack?.close();
});

it('sends nosniff and no-store on every kind of answer', async () => {
  const user = await stack.newUser();
  const auth = { authorization: `Bearer ${await stack.tokens.sign({ userId: user.id })}` };
  const json = { 'content-type': 'application/json' };
  const answers = {
    me: await fetch(`${api.url}/v1/me`, { headers: auth }),
    health: await fetch(`${api.url}/v1/healthz`),
    unauthenticated: await fetch(`${api.url}/v1/me`),
    unknownRoute: await fetch(`${api.url}/v1/no-such-route`, { headers: auth }),
    outsideV1: await fetch(`${api.url}/favicon.ico`),
    wrongMethod: await fetch(`${api.url}/v1/healthz`, { method: 'DELETE' }),
    badSignInBody: await fetch(`${api.url}/v1/auth/otp/request`, { method: 'POST', headers: json, body: '{"phone":' }),
    refreshRefused: await fetch(`${api.url}/v1/auth/refresh`, { method: 'POST', headers: json, body: JSON.stringify({ refreshToken: 'x'.repeat(43) }) }),
  };
  expect(Object.fromEntries(Object.entries(answers).map(([k, r]) => [k, r.status]))).toEqual({
    me: 200,
    health: 200,
    unauthenticated: 401,
    unknownRoute: 404,
    outsideV1: 404,
    wrongMethod: 405,
    badSignInBody: 400,
    refreshRefused: 401,
  });
  for (const [name, res] of Object.entries(answers)) {
    expect({ name, nosniff: res.headers.get('x-content-type-options'), cache: res.headers.get('cache-control') }).toEqual({
      name,
      nosniff: 'nosniff',
      cache: 'no-store',
    });
  }
});
