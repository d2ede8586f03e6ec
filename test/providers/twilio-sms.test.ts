import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CircuitState } from 'cockatiel';
import { outboundCircuitBreaker } from '../../platform/resilience/outbound-policy';
import { SmsRejected } from '../../platform/sms/sms-sender';
import { TransientSmsError, TwilioSmsSender } from '../../platform/sms/twilio';

/**
 * The Twilio client against a local server that speaks Twilio's Messaging API wire format:
 * form-encoded POST to /2010-04-01/Accounts/{Sid}/Messages.json with basic auth and the
 * `I-Twilio-Idempotency-Token` header, JSON answers. The client makes one attempt per call
 * (Temporal retries the activity); it cuts an attempt at its timeout or on the caller's signal.
 */
interface Received {
  path: string;
  authorization: string | undefined;
  idempotencyToken: string | undefined;
  form: URLSearchParams;
  /** Resolves when the client closed the connection without waiting for an answer. */
  abandoned: Promise<void>;
}

type Answer = { status: number; body: unknown } | 'hang';

let server: Server;
let baseUrl: string;
let received: Received[] = [];
let answers: Answer[] = [];
const hanging = new Set<ServerResponse>();
/** Emits 'received' for every request the server has read. */
const requests = new EventEmitter();

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const abandoned = once(res, 'close').then(() => undefined);
      received.push({
        path: req.url ?? '',
        authorization: req.headers.authorization,
        idempotencyToken: req.headers['i-twilio-idempotency-token'] as string | undefined,
        form: new URLSearchParams(raw),
        abandoned,
      });
      requests.emit('received');
      const answer = answers.shift() ?? { status: 201, body: { sid: `SM${received.length}`, status: 'queued' } };
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received = [];
  answers = [];
});

const sender = (settings: { timeoutMs?: number } = {}) =>
  new TwilioSmsSender({ baseUrl, accountSid: 'AC123', authToken: 'secret-token', from: '+15005550006', ...settings });
const message = { to: '+447400123456', body: '123456 is your Aura code', idempotencyKey: 'otp:key:run:1' };

it('sends a form-encoded message with basic auth and the send’s idempotency key, and returns the message SID', async () => {
  await expect(sender().send(message)).resolves.toEqual({ providerMessageId: 'SM1' });
  expect(received).toHaveLength(1);
  expect(received[0]!.path).toBe('/2010-04-01/Accounts/AC123/Messages.json');
  expect(received[0]!.authorization).toBe(`Basic ${Buffer.from('AC123:secret-token').toString('base64')}`);
  expect(received[0]!.idempotencyToken).toBe('otp:key:run:1');
  expect(Object.fromEntries(received[0]!.form)).toEqual({ To: '+447400123456', From: '+15005550006', Body: '123456 is your Aura code' });
});

it('reports a refusal of the number (400) as SmsRejected with Twilio’s error code', async () => {
  answers = [{ status: 400, body: { code: 21211, message: "The 'To' number is not a valid phone number.", status: 400 } }];
  const sent = sender().send(message);
  await expect(sent).rejects.toBeInstanceOf(SmsRejected);
  await expect(sent).rejects.toMatchObject({ providerCode: 21211 });
  expect(received).toHaveLength(1);
});

it.each([
  [503, {}],
  [429, { code: 20429 }],
  [401, { code: 20003, message: 'Authenticate' }],
])('makes one attempt per call: %i is a transient failure for the caller to retry', async (status, body) => {
  answers = [{ status, body }];
  await expect(sender().send(message)).rejects.toBeInstanceOf(TransientSmsError);
  expect(received).toHaveLength(1);
});

it('cuts an attempt to a provider that does not answer at its timeout, closing the connection', async () => {
  answers = ['hang'];
  await expect(sender({ timeoutMs: 200 }).send(message)).rejects.toThrow(/did not answer in time/);
  expect(received).toHaveLength(1);
  await received[0]!.abandoned; // nothing of this attempt outlives it
});

it('cuts an attempt when the caller’s signal fires (the activity cancelled or out of time)', async () => {
  answers = ['hang'];
  const controller = new AbortController();
  const arrived = once(requests, 'received');
  const settled = sender({ timeoutMs: 60_000 })
    .send(message, { signal: controller.signal })
    .catch((err: unknown) => err);
  await arrived;
  controller.abort();
  expect(await settled).toBeInstanceOf(TransientSmsError);
  await received[0]!.abandoned;
});

it('opens the circuit after 5 failures in 10 s and then fails fast without calling Twilio', async () => {
  answers = Array.from({ length: 20 }, () => ({ status: 500, body: {} }));
  const client = sender();
  for (let i = 0; i < 5; i++) await expect(client.send(message)).rejects.toBeInstanceOf(TransientSmsError);
  expect(received).toHaveLength(5);
  expect(client.circuitState).toBe(CircuitState.Open);
  await expect(client.send(message)).rejects.toThrow(/circuit is open/);
  expect(received).toHaveLength(5);
});

describe('the outbound circuit breaker (fake timers)', () => {
  afterEach(() => jest.useRealTimers());

  it('does not retry, and half-opens the circuit after 30 s', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
    const breaker = outboundCircuitBreaker({ isProviderFailure: () => true });
    let calls = 0;
    const down = async () => {
      calls += 1;
      throw new Error('down');
    };
    for (let i = 0; i < 4; i++) await expect(breaker.execute(down)).rejects.toThrow('down');
    expect(calls).toBe(4); // one call each: retrying is Temporal's job
    expect(breaker.state).toBe(CircuitState.Closed);

    // The fifth failure within 10 s opens it. After 30 s a trial call is let through.
    await expect(breaker.execute(down)).rejects.toThrow('down');
    expect(breaker.state).toBe(CircuitState.Open);
    await jest.advanceTimersByTimeAsync(30_000);
    await expect(breaker.execute(async () => 'ok')).resolves.toBe('ok');
    expect(breaker.state).toBe(CircuitState.Closed);
  });
});
