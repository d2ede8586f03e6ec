import type { DeviceInfo } from '../../db/repositories/sessions';
import { AppError, ErrorCode } from '../../domain/errors';
import type { PhoneSecrets } from '../../platform/crypto/phone-secrets';
import type { Metrics } from '../../platform/metrics';
import type { OtpSent } from '../../workflows/otp/definitions';
import { SIGN_IN_LOCKS, type SignInLock, type SignInLockouts } from './lockouts';
import type { OtpFlows } from './otp-flow-client';
import { normalizePhone } from './phone';
import type { Sessions, TokenPair } from './sessions';

export type SignInResult = TokenPair & { user: { id: string; isNew: boolean } };

/** A verification the client sent: the number as typed, the code, and where it came from. */
export interface CodeVerification {
  phone: string;
  code: string;
  /** The session's device, as the client named it (already checked by the text rule). */
  device: { id?: string; name?: string };
  ip: string;
  /** The device id the lockouts count against: the body's, else the `X-Device-Id` header's. */
  lockDeviceId?: string;
}

/** Failures that count toward the lockouts: guesses, not our own errors. */
const FAILED_VERIFY = new Set<string>([ErrorCode.OtpInvalidCode, ErrorCode.OtpAttemptsExhausted]);

/**
 * Phone sign-in and token refresh. The OTP flow checks the code and, for the right one, opens
 * the session with the user in one step (see workflows/otp), so a failure anywhere before the
 * session exists leaves the code usable; this service prepares that session and hands the
 * client its tokens.
 */
export class SignInService {
  constructor(
    private readonly deps: {
      otp: OtpFlows;
      sessions: Sessions;
      lockouts: SignInLockouts;
      secrets: PhoneSecrets;
      metrics: Metrics;
      allowedCallingCodes: string[];
    },
  ) {}

  async requestCode(rawPhone: string): Promise<OtpSent> {
    const phone = normalizePhone(rawPhone, this.deps.allowedCallingCodes);
    return this.counted(() => this.deps.otp.request(phone));
  }

  async verifyCode(input: CodeVerification): Promise<SignInResult> {
    const { otp, sessions, lockouts, secrets } = this.deps;
    const phone = normalizePhone(input.phone, this.deps.allowedCallingCodes);
    const locks: SignInLock[] = [
      [SIGN_IN_LOCKS.account, secrets.phoneKey(phone)],
      [SIGN_IN_LOCKS.device, input.lockDeviceId],
      [SIGN_IN_LOCKS.ip, input.ip],
    ];
    await lockouts.assertOpen(locks);
    const device: DeviceInfo = { deviceId: input.device.id, deviceName: input.device.name, ip: input.ip };
    const prepared = sessions.prepare();
    const verified = await this.counted(async () => {
      try {
        return await otp.verify(phone, input.code, {
          refreshTokenHash: prepared.refreshTokenHash,
          expiresAt: prepared.expiresAt.getTime(),
          // The device's name and the address are the user's own business: not readable in the history.
          deviceCiphertext: secrets.encrypt(JSON.stringify(device)),
        });
      } catch (err) {
        if (err instanceof AppError && FAILED_VERIFY.has(err.code)) await lockouts.recordFailure(locks);
        throw err;
      }
    });
    const tokens = verified.sessionId
      ? await sessions.tokensFor(verified.userId, verified.sessionId, prepared)
      : await sessions.issue(verified.userId, device); // a flow begun before sessions opened inside it
    return { ...tokens, user: { id: verified.userId, isNew: verified.isNewUser } };
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    return this.counted(() => this.deps.sessions.refresh(refreshToken));
  }

  /** Every refusal is counted by its code (`aura_sign_in_failures_total`), for alerting. */
  private async counted<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof AppError) this.deps.metrics.signInFailures.inc({ reason: err.code });
      throw err;
    }
  }
}
