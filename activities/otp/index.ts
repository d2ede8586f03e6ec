import { ApplicationFailure } from '@temporalio/activity';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { IdentityDirectory } from '../../db/repositories/identities';
import { maskPhone } from '../../domain/otp/rules';
import type { PhoneSecrets } from '../../platform/crypto/phone-secrets';
import { SmsRejected, type SmsSender } from '../../platform/sms/sms-sender';
import { asActivity } from '../failures';

export interface OtpActivityDeps {
  dataSource: DataSource;
  redis: Redis;
  secrets: PhoneSecrets;
  sms: SmsSender;
  codeTtlMinutes: number;
}

export type OtpActivities = ReturnType<typeof createOtpActivities>;

/** How long a drawn code is kept for retries of the same send. */
const DRAWN_CODE_TTL_SECONDS = 15 * 60;

export function createOtpActivities({ dataSource, redis, secrets, sms, codeTtlMinutes }: OtpActivityDeps) {
  const identities = new IdentityDirectory(dataSource);

  return {
    /**
     * Draws a code from the CSPRNG and texts it. The code never leaves this activity in clear:
     * the workflow gets its keyed hash. A retried send reuses the code drawn the first time
     * (kept encrypted in Redis), so the text the user got always matches the stored hash.
     */
    async sendOtpCode(input: { phoneKey: string; phoneCiphertext: string; idempotencyKey: string }): Promise<{ codeHash: string }> {
      return asActivity(async () => {
        const slot = `aura:otp:drawn:${input.idempotencyKey}`;
        await redis.set(slot, secrets.encrypt(secrets.drawCode()), 'EX', DRAWN_CODE_TTL_SECONDS, 'NX');
        const stored = await redis.get(slot);
        if (!stored) throw new Error('drawn code vanished from Redis');
        const code = secrets.decrypt(stored);
        try {
          await sms.send({
            to: secrets.decrypt(input.phoneCiphertext),
            body: `${code} is your Aura code. It expires in ${codeTtlMinutes} minutes. Never share it.`,
            idempotencyKey: input.idempotencyKey,
          });
        } catch (err) {
          if (err instanceof SmsRejected) {
            throw ApplicationFailure.create({ type: 'OTP_SMS_REJECTED', message: 'the SMS provider refused this number', nonRetryable: true });
          }
          throw err;
        }
        return { codeHash: secrets.codeHash(input.phoneKey, code) };
      });
    },

    /** Finds the user behind a verified number, or creates one with a wallet and the phone identity. */
    async completePhoneSignIn(input: { phoneKey: string; phoneCiphertext: string }): Promise<{ userId: string; isNewUser: boolean }> {
      return asActivity(async () => {
        const phone = secrets.decrypt(input.phoneCiphertext);
        return identities.findOrCreatePhoneUser({
          phoneKey: input.phoneKey,
          maskedPhone: maskPhone(phone),
          phoneCiphertext: secrets.encrypt(phone),
        });
      });
    },
  };
}
