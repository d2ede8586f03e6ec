import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { OtpActivities } from '../../activities/otp';
import { AppError } from '../../domain/errors';
import { DEFAULT_OTP_POLICY } from '../../domain/otp/rules';
import { PhoneSecrets } from '../../platform/crypto/phone-secrets';
import { httpStatusFor } from '../../platform/http/error-status';
import { OtpFlows } from '../../services/auth/otp-flow-client';
import { otpStatusQuery, otpWorkflowId, type OtpSessionRequest } from '../../workflows/otp/definitions';
import { HISTORIES_DIR, historyToFile } from '../replay/histories';
import { createTimeSkippingEnv, workflowBundle } from '../support/time-skipping';

/**
 * The phone OTP workflow on the time-skipping server: code expiry, the attempt limit, the
 * resend cooldown and the hourly cap, in seconds; and its failure paths, with activity fakes
 * that fail the way the real ones can (the provider refusing a number, the provider down, the
 * sign-in step failing). The hashing and encryption are the real ones.
 */
const secrets = new PhoneSecrets('test-otp-secret-0123456789abcdef0123456789', 'ab'.repeat(32));
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
});

afterAll(async () => {
  await env?.teardown();
});

/** What one activity attempt does: succeed, or fail as the real activity would. */
type SendOutcome = 'ok' | 'rejected' | 'down';
type SignInOutcome = 'ok' | 'down' | 'banned' | { started: () => void; hold: Promise<void> };

interface OtpScenario {
  flows: OtpFlows;
  phone: string;
  phoneKey: string;
  lastCode(): string;
  /** Texts that went out. */
  sends: number;
  /** Every send attempt's idempotency key, in order (failed ones included). */
  sendKeys: string[];
  /** Outcomes of the next send attempts, consumed one per attempt; empty means 'ok'. */
  sendOutcomes: SendOutcome[];
  signInOutcomes: SignInOutcome[];
  signInAttempts: number;
  sessionsOpened: OtpSessionRequest[];
  verify(code: string): ReturnType<OtpFlows['verify']>;
}

async function withOtp(body: (s: OtpScenario) => Promise<void>, record?: string): Promise<void> {
  const taskQueue = `otp-ts-${randomUUID()}`;
  const phone = `+4477009${String(Math.floor(Math.random() * 1e5)).padStart(5, '0')}`;
  const codes: string[] = [];
  const flows = new OtpFlows(env.client, taskQueue, DEFAULT_OTP_POLICY, secrets);
  const userId = randomUUID();
  const scenario: OtpScenario = {
    flows,
    phone,
    phoneKey: secrets.phoneKey(phone),
    lastCode: () => codes.at(-1)!,
    sends: 0,
    sendKeys: [],
    sendOutcomes: [],
    signInOutcomes: [],
    signInAttempts: 0,
    sessionsOpened: [],
    verify: (code) => flows.verify(phone, code, newSession()),
  };
  const drawn = new Map<string, string>();
  const activities: OtpActivities = {
    sendOtpCode: async ({ phoneKey, idempotencyKey }) => {
      scenario.sendKeys.push(idempotencyKey);
      const outcome = scenario.sendOutcomes.shift() ?? 'ok';
      if (outcome === 'rejected') {
        throw ApplicationFailure.create({ type: 'OTP_SMS_REJECTED', message: 'the SMS provider refused to text this number', nonRetryable: true });
      }
      if (outcome === 'down') throw new Error('SMS provider answered 503');
      // Like the real activity: one code per send key, whatever the attempt.
      const code = drawn.get(idempotencyKey) ?? secrets.drawCode();
      drawn.set(idempotencyKey, code);
      codes.push(code);
      scenario.sends += 1;
      return { codeHash: secrets.codeHash(phoneKey, code) };
    },
    completePhoneSignIn: async ({ session }) => {
      scenario.signInAttempts += 1;
      const outcome = scenario.signInOutcomes.shift() ?? 'ok';
      if (outcome === 'down') throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      if (outcome === 'banned') throw ApplicationFailure.create({ type: 'ACCOUNT_BANNED', message: 'this account is suspended', nonRetryable: true });
      if (typeof outcome === 'object') {
        outcome.started();
        await outcome.hold;
      }
      scenario.sessionsOpened.push(session!);
      return { userId, isNewUser: scenario.sessionsOpened.length === 1, sessionId: randomUUID() };
    },
  };
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities });
  await worker.runUntil(
    body(scenario).finally(async () => {
      const handle = env.client.workflow.getHandle(otpWorkflowId(secrets.phoneKey(phone)));
      // `AURA_RECORD_HISTORIES=1` refreshes the histories the replay test checks.
      if (record && process.env.AURA_RECORD_HISTORIES === '1') {
        writeFileSync(join(HISTORIES_DIR, `${record}.json`), historyToFile(await handle.fetchHistory()));
      }
      await handle.terminate('test finished').catch(() => undefined);
    }),
  );
}

function newSession(): OtpSessionRequest {
  return { refreshTokenHash: randomBytes(32).toString('hex'), expiresAt: Date.now() + 86_400_000, deviceCiphertext: secrets.encrypt('{}') };
}

/** A refusal with its stable code and the HTTP status the API answers it with. */
async function expectRefusal(call: Promise<unknown>, code: string, status: number, details?: Record<string, unknown>): Promise<void> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect(err).toMatchObject({ code, ...(details ? { details } : {}) });
  expect(httpStatusFor((err as AppError).code)).toBe(status);
}

/**
 * JSON with every payload's bytes decoded as UTF-8, so a search sees what the Web UI shows.
 * (Proto messages serialise bytes as base64 through their own toJSON.)
 */
function readable(value: unknown): string {
  const decode = (bytes: Uint8Array | string) =>
    typeof bytes === 'string' ? Buffer.from(bytes, 'base64').toString('utf8') : Buffer.from(bytes).toString('utf8');
  return JSON.stringify(value, (key, v: unknown) =>
    v instanceof Uint8Array || (key === 'data' && typeof v === 'string') ? decode(v as Uint8Array | string) : v,
  );
}

/**
 * Every piece of text a person can read in a history or a description: decoded payloads
 * (inputs, results, memo, search attributes) and failure messages, as string leaves. Opaque
 * tokens (keyed hashes, ciphertext, ids: 16+ characters of a base64url alphabet) are cut out,
 * since they carry no readable digits but could hold any three by chance.
 */
function readableTexts(value: unknown): string[] {
  const texts: string[] = [];
  const leaves = (v: unknown): void => {
    if (typeof v === 'string') texts.push(v.replace(/[A-Za-z0-9_-]{16,}/g, ' '));
    else if (Array.isArray(v)) v.forEach(leaves);
    else if (v && typeof v === 'object') Object.values(v).forEach(leaves);
  };
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!v || typeof v !== 'object' || v instanceof Uint8Array) return;
    const o = v as Record<string, unknown>;
    if (o.data instanceof Uint8Array && 'metadata' in o) {
      const text = Buffer.from(o.data).toString('utf8');
      try {
        leaves(JSON.parse(text));
      } catch {
        leaves(text);
      }
      return;
    }
    for (const [key, child] of Object.entries(o)) {
      if (key === 'message' && typeof child === 'string') leaves(child);
      else walk(child);
    }
  };
  walk(value);
  return texts;
}

/** Runs of three digits of the number (country code included) that appear in any of the texts. */
function phoneDigitRuns(texts: string[], phone: string): string[] {
  const digits = phone.replace(/\D/g, '');
  const runs = new Set<string>();
  for (let i = 0; i + 3 <= digits.length; i++) runs.add(digits.slice(i, i + 3));
  return [...runs].filter((run) => texts.some((t) => t.includes(run)));
}

const wrongCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

describe('phone OTP workflow (time-skipping)', () => {
  it('verifies the right code once, opening the session before the flow ends', async () => {
    await withOtp(async (s) => {
      await s.flows.request(s.phone);
      const signedIn = await s.verify(s.lastCode());
      expect(signedIn).toMatchObject({ isNewUser: true, sessionId: expect.any(String) });
      expect(s.signInAttempts).toBe(1);
      const handle = env.client.workflow.getHandle(otpWorkflowId(s.phoneKey));
      await expect(handle.result()).resolves.toEqual(signedIn);
    }, 'otp.verified');
  });

  it('refuses a code after it expires (5 minutes)', async () => {
    await withOtp(async (s) => {
      const sent = await s.flows.request(s.phone);
      expect(sent.codeExpiresAt - (await env.currentTimeMs())).toBeLessThanOrEqual(5 * 60_000);
      await env.sleep(5 * 60_000 + 1_000);
      await expectRefusal(s.verify(s.lastCode()), 'OTP_EXPIRED', 400);
      expect(s.signInAttempts).toBe(0);
    });
  });

  it('kills the code after 5 wrong attempts, even for the right code afterwards', async () => {
    await withOtp(async (s) => {
      await s.flows.request(s.phone);
      const bad = wrongCode(s.lastCode());
      for (let left = 4; left >= 1; left--) {
        await expectRefusal(s.verify(bad), 'OTP_INVALID_CODE', 400, { attemptsLeft: left });
      }
      // 429 with when a new code can be asked for (the rest of the 60 s cooldown).
      await expectRefusal(s.verify(bad), 'OTP_ATTEMPTS_EXHAUSTED', 429, { attemptsLeft: 0, retryAfterSeconds: expect.any(Number) });
      await expectRefusal(s.verify(s.lastCode()), 'OTP_ATTEMPTS_EXHAUSTED', 429);
      expect(s.signInAttempts).toBe(0);
    }, 'otp.attempts-exhausted');
  });

  it('refuses a resend within 60 s, then allows it; only the newest code works', async () => {
    await withOtp(async (s) => {
      await s.flows.request(s.phone);
      const first = s.lastCode();
      await env.sleep(30_000);
      await expectRefusal(s.flows.request(s.phone), 'OTP_RESEND_COOLDOWN', 429, { retryAfterSeconds: 30 });
      expect(s.sends).toBe(1);
      await env.sleep(30_000);
      await s.flows.request(s.phone);
      expect(s.sends).toBe(2);
      if (first !== s.lastCode()) await expectRefusal(s.verify(first), 'OTP_INVALID_CODE', 400);
      await expect(s.verify(s.lastCode())).resolves.toMatchObject({ isNewUser: true });
    });
  });

  it('sends at most 5 codes per number per hour, across expiries', async () => {
    await withOtp(async (s) => {
      for (let i = 0; i < 5; i++) {
        await s.flows.request(s.phone);
        await env.sleep(6 * 60_000); // past the cooldown and the code's expiry
      }
      await expectRefusal(s.flows.request(s.phone), 'OTP_SEND_LIMIT', 429);
      expect(s.sends).toBe(5);
      await env.sleep(31 * 60_000); // the first send leaves the hour window
      await s.flows.request(s.phone);
      expect(s.sends).toBe(6);
    }, 'otp.hourly-cap');
  });
});

describe('phone OTP workflow: failure paths', () => {
  it('answers a number the provider refuses with OTP_SMS_REJECTED (422), and spends neither the cooldown nor the previous code', async () => {
    await withOtp(async (s) => {
      await s.flows.request(s.phone);
      const first = s.lastCode();
      await env.sleep(61_000);
      s.sendOutcomes.push('rejected');
      await expectRefusal(s.flows.request(s.phone), 'OTP_SMS_REJECTED', 422);
      expect(s.sendKeys).toHaveLength(2); // a refusal is not retried
      const { state } = await env.client.workflow.getHandle(otpWorkflowId(s.phoneKey)).query(otpStatusQuery);
      expect(state).toMatchObject({ sends: [expect.any(Number)], attemptsLeft: 5, sendingSince: null });
      // The code sent before the refusal still signs in.
      await expect(s.verify(first)).resolves.toMatchObject({ isNewUser: true });
    }, 'otp.sms-rejected');
  });

  it('counts refused sends against neither the cooldown nor the hourly cap', async () => {
    await withOtp(async (s) => {
      for (let i = 0; i < 5; i++) {
        s.sendOutcomes.push('rejected');
        await expectRefusal(s.flows.request(s.phone), 'OTP_SMS_REJECTED', 422);
      }
      // Straight after five refusals: no cooldown, and the hour still has all five sends.
      for (let i = 0; i < 5; i++) {
        await s.flows.request(s.phone);
        await env.sleep(61_000);
      }
      expect(s.sends).toBe(5);
      await expectRefusal(s.flows.request(s.phone), 'OTP_SEND_LIMIT', 429);
    });
  });

  it('answers a provider that stays down with DEPENDENCY_UNAVAILABLE (503) after 3 attempts of one key, and the next request reuses the key', async () => {
    await withOtp(async (s) => {
      s.sendOutcomes.push('down', 'down', 'down');
      await expectRefusal(s.flows.request(s.phone), 'DEPENDENCY_UNAVAILABLE', 503);
      expect(s.sendKeys).toHaveLength(3);
      expect(new Set(s.sendKeys).size).toBe(1);
      expect(s.sendKeys[0]).toMatch(new RegExp(`^otp:${s.phoneKey}:[0-9a-f-]{36}:1$`));
      // Nothing was spent: the user may ask again at once, and that send is the same send #1.
      s.sendOutcomes.push('down'); // one more failure, then the provider is back
      const sent = await s.flows.request(s.phone);
      expect(sent.attemptsLeft).toBe(5);
      expect(s.sendKeys).toHaveLength(5);
      expect(new Set(s.sendKeys).size).toBe(1);
      await expect(s.verify(s.lastCode())).resolves.toMatchObject({ isNewUser: true });
    }, 'otp.sms-provider-down');
  });

  it('keeps the code and the flow alive when the sign-in step fails, until a retry opens the session', async () => {
    await withOtp(async (s) => {
      await s.flows.request(s.phone);
      const handle = env.client.workflow.getHandle(otpWorkflowId(s.phoneKey));
      s.signInOutcomes.push('down', 'down', 'down');
      await expectRefusal(s.verify(s.lastCode()), 'DEPENDENCY_UNAVAILABLE', 503);
      expect(s.signInAttempts).toBe(3);
      expect(s.sessionsOpened).toHaveLength(0);
      // Not verified, not ended, and the right code's attempt given back.
      expect((await handle.describe()).status.name).toBe('RUNNING');
      expect((await handle.query(otpStatusQuery)).state).toMatchObject({ status: 'pending', attemptsLeft: 5, userId: null });

      // The same code, once the dependency is back.
      const signedIn = await s.verify(s.lastCode());
      expect(signedIn).toMatchObject({ sessionId: expect.any(String) });
      expect(s.sessionsOpened).toHaveLength(1);
      await expect(handle.result()).resolves.toEqual(signedIn);
    }, 'otp.sign-in-retried');
  });

  it('keeps a refusal by the sign-in step (a banned account) as its own code, and the flow unverified', async () => {
    await withOtp(async (s) => {
      await s.flows.request(s.phone);
      s.signInOutcomes.push('banned');
      await expectRefusal(s.verify(s.lastCode()), 'ACCOUNT_BANNED', 403);
      expect(s.signInAttempts).toBe(1);
      const { state } = await env.client.workflow.getHandle(otpWorkflowId(s.phoneKey)).query(otpStatusQuery);
      expect(state).toMatchObject({ status: 'pending', userId: null });
    });
  });

  it('refuses a second verification while the first is signing in, without spending an attempt', async () => {
    await withOtp(async (s) => {
      await s.flows.request(s.phone);
      let release!: () => void;
      let started!: () => void;
      const hold = new Promise<void>((resolve) => (release = resolve));
      const signingIn = new Promise<void>((resolve) => (started = resolve));
      s.signInOutcomes.push({ started, hold });
      const first = s.verify(s.lastCode());
      const handle = env.client.workflow.getHandle(otpWorkflowId(s.phoneKey));
      try {
        await signingIn; // the sign-in activity is running, and holds
        expect((await handle.query(otpStatusQuery)).state.status).toBe('signing-in');
        await expectRefusal(s.verify(s.lastCode()), 'FLOW_CONFLICT', 409, { retryAfterSeconds: 1 });
      } finally {
        release();
      }
      await expect(first).resolves.toMatchObject({ isNewUser: true });
      expect(s.sessionsOpened).toHaveLength(1);
    });
  });
});

describe('phone OTP workflow: privacy', () => {
  it('keeps every digit of the number, and the code, out of the workflow id, memo, query and history', async () => {
    await withOtp(async (s) => {
      await s.flows.request(s.phone);
      await s.verify(wrongCode(s.lastCode())).catch(() => undefined);
      await env.sleep(61_000);
      s.sendOutcomes.push('rejected');
      await s.flows.request(s.phone).catch(() => undefined);
      await s.verify(s.lastCode());
      const handle = env.client.workflow.getHandle(otpWorkflowId(s.phoneKey));
      const history = await handle.fetchHistory();
      const described = await handle.describe();
      const status = await handle.query(otpStatusQuery);

      const texts = [handle.workflowId, ...readableTexts(history), ...readableTexts(described.memo), ...readableTexts(status)];
      // The search really reads decoded text: the memo's summary and the failures' messages are there.
      expect(texts).toContain('verified');
      expect(texts.some((t) => t.includes('refused to text this number'))).toBe(true);
      expect(phoneDigitRuns(texts, s.phone)).toEqual([]);
      expect(Object.keys(described.memo ?? {})).toEqual(['summary']);
      for (const text of [readable(history), readable(described)]) {
        expect(text).not.toContain(s.phone.slice(1));
        expect(text).not.toContain(s.lastCode());
      }
    });
  });
});
