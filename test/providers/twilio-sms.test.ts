import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CircuitState } from 'cockatiel';
import { outboundCallPolicy } from '../../platform/resilience/outbound-policy';
import { SmsRejected } from '../../platform/sms/sms-sender';
import { TransientSmsError, TwilioSmsSender } from '../../platform/sms/twilio';

/**
 * The Twilio client against a local server that speaks Twilio's Messaging API wire format:
 * form-encoded POST to /2010-04-01/Accounts/{Sid}/Messages.json with basic auth, JSON answers.
 */
interface Received {
  path: string;
  authorization: string | undefined;
  form: URLSearchParams;
}

let server: Server;
let baseUrl: string;
let received: Received[] = [];
let answers: { status: number; body: unknown }[] = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', authorization: req.headers.authorization, form: new URLSearchParams(raw) });
      const answer = answers.shift() ?? { status: 201, body: { sid: `SM${received.length}`, status: 'queued' } };
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
  received = [];
  answers = [];
});

const fastRetries = { retryDelaysMs: [5, 10, 20] as [number, number, number] };
const sender = (policy = {}) =>
  new TwilioSmsSender({ baseUrl, accountSid: 'AC123', authToken: 'secret-token', from: '+15005550006', policy: { ...fastRetries, ...policy } });
const message = { to: '+447400123456', body: '123456 is your Aura code', idempotencyKey: 'k1' };

it('sends a form-encoded message with basic auth and returns the message SID', async () => {
  await expect(sender().send(message)).resolves.toEqual({ providerMessageId: 'SM1' });
  expect(received).toHaveLength(1);
  expect(received[0]!.path).toBe('/2010-04-01/Accounts/AC123/Messages.json');
  expect(received[0]!.authorization).toBe(`Basic ${Buffer.from('AC123:secret-token').toString('base64')}`);
  expect(Object.fromEntries(received[0]!.form)).toEqual({ To: '+447400123456', From: '+15005550006', Body: '123456 is your Aura code' });
});

it('does not retry a refusal (4xx) and reports Twilio’s error code', async () => {
  answers = [{ status: 400, body: { code: 21211, message: "The 'To' number is not a valid phone number." } }];
  const sent = sender().send(message);
  await expect(sent).rejects.toBeInstanceOf(SmsRejected);
  await expect(sent).rejects.toMatchObject({ providerCode: 21211 });
  expect(received).toHaveLength(1);
});

it('retries 5xx and 429 answers, then succeeds', async () => {
  answers = [
    { status: 503, body: {} },
    { status: 429, body: { code: 20429 } },
  ];
  await expect(sender().send(message)).resolves.toEqual({ providerMessageId: 'SM3' });
  expect(received).toHaveLength(3);
});

it('opens the circuit after 5 failures in 10 s and then fails fast without calling Twilio', async () => {
  answers = Array.from({ length: 20 }, () => ({ status: 500, body: {} }));
  const client = sender();
  await expect(client.send(message)).rejects.toBeInstanceOf(TransientSmsError); // 4 attempts fail
  await expect(client.send(message)).rejects.toThrow(/circuit is open/); // the 5th failure opens it
  expect(received).toHaveLength(5);
  expect(client.circuitState).toBe(CircuitState.Open);
  await expect(client.send(message)).rejects.toThrow(/circuit is open/);
  expect(received).toHaveLength(5);
});

describe('the outbound policy (fake timers)', () => {
  afterEach(() => jest.useRealTimers());

  it('retries 3 times at 1 s, 2 s and 4 s, and half-opens the circuit after 30 s', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
    const policy = outboundCallPolicy({ isTransient: () => true });
    const delays: number[] = [];
    policy.wrapped[0].onRetry((r) => delays.push(r.delay));
    let calls = 0;
    const failing = policy.execute(async () => {
      calls += 1;
      throw new Error('down');
    });
    const settled = failing.catch((e: unknown) => e);
    await jest.advanceTimersByTimeAsync(7_000);
    expect(await settled).toBeInstanceOf(Error);
    expect(calls).toBe(4);
    expect(delays).toEqual([1_000, 2_000, 4_000]);

    // One more failure makes 5 within 10 s: open. After 30 s a trial call is let through.
    await expect(policy.breaker.execute(async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(policy.breaker.state).toBe(CircuitState.Open);
    await jest.advanceTimersByTimeAsync(30_000);
    await expect(policy.breaker.execute(async () => 'ok')).resolves.toBe('ok');
    expect(policy.breaker.state).toBe(CircuitState.Closed);
  });
});
