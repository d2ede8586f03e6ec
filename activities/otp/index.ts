import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { AccountBans } from '../../db/repositories/account-bans';
import { IdentityDirectory, type SignInIdentity } from '../../db/repositories/identities';
import type { DeviceInfo } from '../../db/repositories/sessions';
import { ErrorCode } from '../../domain/errors';
import { SMS_ATTEMPT_TIMEOUT_MS, maskPhone } from '../../domain/otp/rules';
import { BanList } from '../../platform/auth/ban-list';
import type { PhoneSecrets } from '../../platform/crypto/phone-secrets';
import { SmsRejected, type SmsSender } from '../../platform/sms/sms-sender';
import { SignInRecords } from '../../services/auth/sign-in-records';
import type { OtpSessionRequest, OtpVerified } from '../../workflows/otp/definitions';
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
  // Bans are records: a Redis copy lost (flushed) is rebuilt from PostgreSQL before it answers.
  const signIns = new SignInRecords(dataSource, new BanList(redis, { records: new AccountBans(dataSource) }));

  return {
    /**
     * Draws a code from the CSPRNG and texts it. The code never leaves this activity in clear:
     * the workflow gets its keyed hash. A retried send reuses the code drawn the first time
     * (kept encrypted in Redis), so the text the user got always matches the stored hash.
     * One HTTP attempt per activity attempt, cut before the activity's own timeout and on its
     * cancellation, so an attempt never outlives its slot or overlaps the next one.
     */
    async sendOtpCode(input: { phoneKey: string; phoneCiphertext: string; idempotencyKey: string }): Promise<{ codeHash: string }> {
      return asActivity(async () => {
        const slot = `aura:otp:drawn:${input.idempotencyKey}`;
        await redis.set(slot, secrets.encrypt(secrets.drawCode()), 'EX', DRAWN_CODE_TTL_SECONDS, 'NX');
        const stored = await redis.get(slot);
        if (!stored) throw new Error('drawn code vanished from Redis');
        const code = secrets.decrypt(stored);
        const signal = AbortSignal.any([Context.current().cancellationSignal, AbortSignal.timeout(SMS_ATTEMPT_TIMEOUT_MS)]);
        try {
          await sms.send(
            {
              to: secrets.decrypt(input.phoneCiphertext),
              body: `${code} is your Aura code. It expires in ${codeTtlMinutes} minutes. Never share it.`,
              idempotencyKey: input.idempotencyKey,
            },
            { signal },
          );
        } catch (err) {
          if (err instanceof SmsRejected) {
            throw ApplicationFailure.create({
              type: ErrorCode.OtpSmsRejected,
              message: 'the SMS provider refused to text this number; check it, or sign in another way',
              nonRetryable: true,
              details: err.providerCode === undefined ? undefined : [{ providerCode: err.providerCode }],
            });
          }
          throw err;
        }
        return { codeHash: secrets.codeHash(input.phoneKey, code) };
      });
    },

    /**
     * Signs in the owner of a verified number: finds or creates the user (with a wallet and the
     * phone identity) and opens the session, in one transaction, idempotent by the session's
     * refresh-token hash. Runs begun before sessions opened here pass no session.
     */
    async completePhoneSignIn(input: { phoneKey: string; phoneCiphertext: string; session?: OtpSessionRequest }): Promise<OtpVerified> {
      return asActivity(async () => {
        const phone = secrets.decrypt(input.phoneCiphertext);
        const identity: SignInIdentity = { provider: 'phone', subject: input.phoneKey, display: maskPhone(phone), secret: secrets.encrypt(phone) };
        if (!input.session) return identities.findOrCreate(identity);
        const device = JSON.parse(secrets.decrypt(input.session.deviceCiphertext)) as DeviceInfo;
        return signIns.open(identity, { refreshTokenHash: input.session.refreshTokenHash, expiresAt: new Date(input.session.expiresAt), device });
      });
    },
  };
}
