import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { OtpActivities } from '../../activities/otp';
import { OtpFlows } from '../../api/auth/otp-flow-client';
import { AppError } from '../../domain/errors';
import { DEFAULT_OTP_POLICY } from '../../domain/otp/rules';
import { PhoneSecrets } from '../../platform/crypto/phone-secrets';
import { otpStatusQuery, otpWorkflowId } from '../../workflows/otp/definitions';
import { HISTORIES_DIR, historyToFile } from '../replay/histories';
import { createTimeSkippingEnv, workflowBundle } from '../support/time-skipping';

/**
 * The phone OTP workflow on the time-skipping server: code expiry, the attempt limit, the
 * resend cooldown and the hourly cap, in seconds. The SMS activity is replaced by an inbox
 * that keeps the last code per number; the hashing and encryption are the real ones.
 */
const secrets = new PhoneSecrets('test-otp-secret-0123456789abcdef0123456789', 'ab'.repeat(32));
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
});

afterAll(async () => {
  await env?.teardown();
});

interface OtpScenario {
  flows: OtpFlows;
  phone: string;
  lastCode(): string;
  sends: number;
  signIns: number;
}

async function withOtp(body: (s: OtpScenario) => Promise<void>, record?: string): Promise<void> {
  const taskQueue = `otp-ts-${randomUUID()}`;
  const phone = `+4477009${String(Math.floor(Math.random() * 1e5)).padStart(5, '0')}`;
  const codes: string[] = [];
  const scenario: OtpScenario = {
    flows: new OtpFlows(env.client, taskQueue, DEFAULT_OTP_POLICY, secrets),
    phone,
    lastCode: () => codes.at(-1)!,
    sends: 0,
    signIns: 0,
  };
  const userId = randomUUID();
  const activities: OtpActivities = {
    sendOtpCode: async ({ phoneKey }) => {
      const code = secrets.drawCode();
      codes.push(code);
      scenario.sends += 1;
      return { codeHash: secrets.codeHash(phoneKey, code) };
    },
    completePhoneSignIn: async () => {
      scenario.signIns += 1;
      return { userId, isNewUser: scenario.signIns === 1 };
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

const wrongCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

describe('phone OTP workflow (time-skipping)', () => {
  it('verifies the right code once and signs the user in', async () => {
    await withOtp(async (s) => {
      await s.flows.request(s.phone);
      await expect(s.flows.verify(s.phone, s.lastCode())).resolves.toMatchObject({ isNewUser: true });
      expect(s.signIns).toBe(1);
    }, 'otp.verified');
  });

  it('refuses a code after it expires (5 minutes)', async () => {
    await withOtp(async (s) => {
      const sent = await s.flows.request(s.phone);
      expect(sent.codeExpiresAt - (await env.currentTimeMs())).toBeLessThanOrEqual(5 * 60_000);
      await env.sleep(5 * 60_000 + 1_000);
      await expect(s.flows.verify(s.phone, s.lastCode())).rejects.toMatchObject({ code: 'OTP_EXPIRED', status: 400 });
      expect(s.signIns).toBe(0);
    });
  });

  it('kills the code after 5 wrong attempts, even for the right code afterwards', async () => {
    await withOtp(async (s) => {
      await s.flows.request(s.phone);
      const bad = wrongCode(s.lastCode());
      for (let left = 4; left >= 1; left--) {
        await expect(s.flows.verify(s.phone, bad)).rejects.toMatchObject({ code: 'OTP_INVALID_CODE', details: { attemptsLeft: left } });
      }
      await expect(s.flows.verify(s.phone, bad)).rejects.toMatchObject({ code: 'OTP_ATTEMPTS_EXHAUSTED', status: 429 });
      await expect(s.flows.verify(s.phone, s.lastCode())).rejects.toMatchObject({ code: 'OTP_ATTEMPTS_EXHAUSTED' });
      expect(s.signIns).toBe(0);
    }, 'otp.attempts-exhausted');
  });

  it('refuses a resend within 60 s, then allows it; only the newest code works', async () => {
    await withOtp(async (s) => {
      await s.flows.request(s.phone);
      const first = s.lastCode();
      await env.sleep(30_000);
      const early = s.flows.request(s.phone);
      await expect(early).rejects.toBeInstanceOf(AppError);
      await expect(early).rejects.toMatchObject({ code: 'OTP_RESEND_COOLDOWN', status: 429, details: { retryAfterSeconds: 30 } });
      expect(s.sends).toBe(1);
      await env.sleep(30_000);
      await s.flows.request(s.phone);
      expect(s.sends).toBe(2);
      if (first !== s.lastCode()) await expect(s.flows.verify(s.phone, first)).rejects.toMatchObject({ code: 'OTP_INVALID_CODE' });
      await expect(s.flows.verify(s.phone, s.lastCode())).resolves.toMatchObject({ isNewUser: true });
    });
  });

  it('sends at most 5 codes per number per hour, across expiries', async () => {
    await withOtp(async (s) => {
      for (let i = 0; i < 5; i++) {
        await s.flows.request(s.phone);
        await env.sleep(6 * 60_000); // past the cooldown and the code's expiry
      }
      await expect(s.flows.request(s.phone)).rejects.toMatchObject({ code: 'OTP_SEND_LIMIT', status: 429 });
      expect(s.sends).toBe(5);
      await env.sleep(31 * 60_000); // the first send leaves the hour window
      await s.flows.request(s.phone);
      expect(s.sends).toBe(6);
    }, 'otp.hourly-cap');
  });

  it('keeps the number and the code out of the workflow id, memo and history', async () => {
    await withOtp(async (s) => {
      await s.flows.request(s.phone);
      await s.flows.verify(s.phone, wrongCode(s.lastCode())).catch(() => undefined);
      await s.flows.verify(s.phone, s.lastCode());
      const handle = env.client.workflow.getHandle(otpWorkflowId(secrets.phoneKey(s.phone)));
      const history = readable(await handle.fetchHistory());
      const described = readable(await handle.describe());
      // The payloads really are decoded text: the masked number in the input and memo is readable.
      expect(history).toContain(`+44•••••••${s.phone.slice(-3)}`);
      const digits = s.phone.slice(1);
      for (const text of [handle.workflowId, history, described]) {
        expect(text).not.toContain(digits);
        expect(text).not.toContain(s.lastCode());
      }
      const status = await handle.query(otpStatusQuery);
      expect(status.maskedPhone).toBe(`+44•••••••${s.phone.slice(-3)}`);
    });
  });
});
