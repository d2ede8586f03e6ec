import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { QueryFailedError } from 'typeorm';
import { createLogger, describeError, temporalLogger } from '../../platform/logging';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * The one logger every process uses (API, worker, realtime edge, scripts) keeps secrets out
 * of its output: phone numbers are masked, OTP codes, tokens and passwords removed, and an
 * error from PostgreSQL never prints the query's bound values.
 */
let stack: RealStack;

beforeAll(async () => {
  stack = await connectRealStack('log-redaction');
});

afterAll(async () => {
  await stack?.close();
});

const PHONE = '+447400123456';
const CODE = '493817';
const PASSWORD = 'correct-horse-battery';

/** A logger writing into memory, and everything it wrote. */
function capturedLogger(name = 'api') {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ name, level: 'trace', destination: sink }), output: () => chunks.join('') };
}

/** None of the secrets, in any form a reader could use (the bare national number included). */
function expectNoSecrets(output: string, secrets: string[]): void {
  for (const secret of secrets) expect(output).not.toContain(secret);
  expect(output).not.toContain(PHONE.slice(3)); // 7400123456
  expect(output).not.toMatch(new RegExp(`\\b${CODE}\\b`));
}

/** A real QueryFailedError: the same phone inserted twice into a unique column. */
async function uniqueViolation(): Promise<QueryFailedError> {
  try {
    await stack.dataSource.transaction(async (m) => {
      await m.query('CREATE TEMP TABLE log_probe (phone text UNIQUE, password text) ON COMMIT DROP');
      await m.query('INSERT INTO log_probe VALUES ($1, $2)', [PHONE, PASSWORD]);
      await m.query('INSERT INTO log_probe VALUES ($1, $2)', [PHONE, PASSWORD]);
    });
  } catch (err) {
    if (err instanceof QueryFailedError) return err;
    throw err;
  }
  throw new Error('the second insert succeeded');
}

/** A real QueryFailedError whose message quotes the value: a bad cast. */
async function badCast(): Promise<QueryFailedError> {
  const err: unknown = await stack.dataSource.query('SELECT $1::int AS n', [PASSWORD]).catch((e: unknown) => e);
  if (err instanceof QueryFailedError) return err;
  throw new Error(`expected a QueryFailedError, got ${String(err)}`);
}

it('never writes a phone number, an OTP code, an access or refresh token or a password', async () => {
  const accessToken = await stack.tokens.sign({ userId: '00000000-0000-4000-8000-000000000002' });
  const refreshToken = randomBytes(32).toString('base64url');
  const { logger, output } = capturedLogger();

  // In the fields they are kept in, at any depth we log.
  logger.info({ phone: PHONE, code: CODE, password: PASSWORD, accessToken, refreshToken }, 'sign-in attempt');
  logger.info({ body: { phone: PHONE, code: CODE, device: { id: 'dev-1', password: PASSWORD } } }, 'request body');
  logger.info({ req: { headers: { authorization: `Bearer ${accessToken}`, cookie: `rt=${refreshToken}` } } }, 'headers');
  logger.warn({ session: { tokens: { refreshToken, accessToken } } }, 'rotated');
  // In free text: messages, interpolated arguments, other string fields, error messages.
  logger.info(`sending a code to ${PHONE} for ${accessToken}`);
  logger.info('refresh %s for %s', refreshToken, PHONE);
  logger.info({ reason: `provider refused ${PHONE}`, url: `/v1/auth?phone=%2B${PHONE.slice(1)}` }, 'sms failed');
  logger.error({ err: new Error(`provider rejected ${PHONE} (token ${refreshToken})`) }, 'sms failed');
  logger.error(new Error(`bad bearer ${accessToken}`));

  const out = output();
  expectNoSecrets(out, [PHONE, PASSWORD, accessToken, refreshToken]);
  // Masked, not lost: support can still tell which number and that a token was there.
  expect(out).toContain('+44•••••••456');
  expect(out).toContain('[jwt]');
  expect(out).toContain('[token]');
  expect(out.split('\n').filter(Boolean)).toHaveLength(9);
});

it('never writes a store purchase token or a service account’s key, assertion or access token', () => {
  const { logger, output } = capturedLogger('worker');
  // Short and single-case: the free-text pass would not recognise these, only their keys.
  const secrets = ['purchase-token-one', 'service-account-key', 'signed-assertion', 'google-access-token'];
  logger.info({ purchaseToken: secrets[0], productId: 'coins_100' }, 'verifying purchase');
  logger.info({ input: { purchase: { purchaseToken: secrets[0] } } }, 'activity input');
  logger.info({ serviceAccount: { private_key: secrets[1], privateKey: secrets[1], privateKeyPem: secrets[1] } }, 'settings');
  logger.info({ form: { assertion: secrets[2] }, answer: { access_token: secrets[3] } }, 'token exchange');
  const out = output();
  for (const secret of secrets) expect(out).not.toContain(secret);
  expect(out).toContain('coins_100');
});

it('keeps error codes readable: only OTP-looking values of `code` go', () => {
  const { logger, output } = capturedLogger();
  logger.warn({ code: 'RATE_LIMITED' }, 'refused');
  logger.warn({ err: Object.assign(new Error('connect refused'), { code: 'ECONNREFUSED' }) }, 'redis down');
  logger.info({ code: CODE }, 'verify');
  const lines = output().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines[0]).toMatchObject({ code: 'RATE_LIMITED' });
  expect(lines[1]).toMatchObject({ err: { code: 'ECONNREFUSED' } });
  expect(lines[2]).toMatchObject({ code: '[redacted]' });
});

it('logs a failed query without its parameters or the values PostgreSQL quotes back', async () => {
  const duplicate = await uniqueViolation();
  expect(duplicate.parameters).toEqual([PHONE, PASSWORD]); // the error does carry them
  expect(JSON.stringify((duplicate as unknown as { driverError: unknown }).driverError)).toContain(PHONE); // pg's detail too
  const cast = await badCast();
  expect(cast.message).toContain(PASSWORD);

  const { logger, output } = capturedLogger();
  logger.error({ err: duplicate }, 'unhandled error');
  logger.error(duplicate);
  logger.error({ err: cast }, 'unhandled error');
  logger.warn({ err: new Error('wrapped', { cause: duplicate }) }, 'with a cause');

  const out = output();
  expectNoSecrets(out, [PHONE, PASSWORD]);
  const first = JSON.parse(out.split('\n')[0]!) as { err: Record<string, unknown> };
  // What is needed to debug it stays: the type, the SQLSTATE, the constraint, the columns.
  expect(first.err).toMatchObject({ type: 'QueryFailedError', code: '23505', detail: 'Key (phone)=([redacted]) already exists.' });
  expect(first.err.query).toBe('INSERT INTO log_probe VALUES ($1, $2)');
  expect(first.err).not.toHaveProperty('parameters');
  expect(first.err.message).toMatch(/unique constraint "log_probe_phone_key"/);
  // And the one-line form the dev stack prints on a failed start.
  expect(describeError(cast)).toBe('invalid input syntax for type integer: "[redacted]"');
});

it('routes the Temporal SDK logs (worker, activities, workflows) through the same redaction', () => {
  const { logger, output } = capturedLogger('worker');
  const temporal = temporalLogger(logger);
  temporal.warn('Activity failed', { activityType: 'sendOtp', error: new Error(`SMS to ${PHONE} refused`), password: PASSWORD });
  temporal.info(`Workflow started for ${PHONE}`, { workflowId: 'otp-abc' });
  temporal.log('ERROR', 'failed', { err: new Error(`code ${CODE} for ${PHONE}`), code: CODE });
  const out = output();
  expectNoSecrets(out, [PHONE, PASSWORD]);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines.map((l) => l.level)).toEqual(['warn', 'info', 'error']);
  expect(lines[0]).toMatchObject({ activityType: 'sendOtp', msg: 'Activity failed' });
});
