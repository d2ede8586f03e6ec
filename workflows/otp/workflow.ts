import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OtpActivities } from '../../activities/otp';
import { ErrorCode } from '../../domain/errors';
import { SearchAttribute } from '../../domain/flows';
import {
  constantTimeEqual,
  decideSend,
  flowEndsAt,
  initialOtpState,
  recordSend,
  summarizeOtp,
  verifyRefusal,
  type OtpState,
} from '../../domain/otp/rules';
import { STANDARD_ACTIVITY_OPTIONS } from '../activity-options';
import { otpStatusQuery, requestOtpUpdate, verifyOtpUpdate, type OtpInput, type OtpRequest, type OtpSent, type OtpVerified, type OtpVerify } from './definitions';

const { sendOtpCode, completePhoneSignIn } = proxyActivities<OtpActivities>(STANDARD_ACTIVITY_OPTIONS);

/**
 * One flow per phone number at a time (`otp:<keyed hash>`). It sends codes within the resend
 * and hourly limits, checks attempts against the code's keyed hash, and ends when the number is
 * verified or when its send window has passed, so the hourly limit can't be dodged by waiting
 * for a code to expire.
 */
export async function otpWorkflow(input: OtpInput): Promise<OtpVerified | null> {
  const { policy, maskedPhone } = input;
  let state: OtpState = initialOtpState();
  let result: OtpVerified | null = null;

  const publish = () => upsertMemo({ summary: summarizeOtp(state, maskedPhone, Date.now()), maskedPhone });
  publish();
  setHandler(otpStatusQuery, () => ({ state, maskedPhone }));

  setHandler(
    requestOtpUpdate,
    async ({ phoneCiphertext }): Promise<OtpSent> => {
      const refusal = decideSend(state, Date.now(), policy);
      if (refusal) throw sendRefused(refusal.reason, refusal.retryAfterMs);
      state = recordSend(state, Date.now(), policy);
      const sendNumber = state.sends.length;
      const { codeHash } = await sendOtpCode({
        phoneKey: input.phoneKey,
        phoneCiphertext,
        // The run id keeps keys of a later flow for the same number apart from this one's.
        idempotencyKey: `otp:${input.phoneKey}:${workflowInfo().runId}:${sendNumber}`,
      });
      const sentAt = state.sends.at(-1)!;
      state = { ...state, codeHash, codeExpiresAt: sentAt + policy.codeTtlMs, attemptsLeft: policy.maxAttempts };
      publish();
      return { codeExpiresAt: state.codeExpiresAt!, resendAvailableAt: sentAt + policy.resendCooldownMs, attemptsLeft: state.attemptsLeft };
    },
    {
      validator: (_request: OtpRequest) => {
        const refusal = decideSend(state, Date.now(), policy);
        if (refusal) throw sendRefused(refusal.reason, refusal.retryAfterMs);
      },
    },
  );

  setHandler(
    verifyOtpUpdate,
    async ({ codeHash, phoneCiphertext }): Promise<OtpVerified> => {
      const refusal = verifyRefusal(state, Date.now());
      if (refusal) throw verifyRefused(refusal, state.attemptsLeft);
      // Spend the attempt before comparing, so concurrent guesses can't share one.
      state = { ...state, attemptsLeft: state.attemptsLeft - 1 };
      if (!constantTimeEqual(codeHash, state.codeHash!)) {
        publish();
        throw verifyRefused(state.attemptsLeft > 0 ? 'OTP_INVALID_CODE' : 'OTP_ATTEMPTS_EXHAUSTED', state.attemptsLeft);
      }
      state = { ...state, status: 'verified', codeHash: null };
      const signedIn = await completePhoneSignIn({ phoneKey: input.phoneKey, phoneCiphertext });
      state = { ...state, userId: signedIn.userId };
      upsertSearchAttributes({ [SearchAttribute.UserId.name]: [signedIn.userId] });
      publish();
      result = signedIn;
      return signedIn;
    },
    {
      validator: (_attempt: OtpVerify) => {
        const refusal = verifyRefusal(state, Date.now());
        if (refusal) throw verifyRefused(refusal, state.attemptsLeft);
      },
    },
  );

  for (;;) {
    const sendsSeen = state.sends.length;
    const endsAt = flowEndsAt(state, policy);
    const wait = endsAt === null ? policy.sendWindowMs : endsAt - Date.now();
    const woke = await condition(() => state.status === 'verified' || state.sends.length !== sendsSeen, Math.max(wait, 1));
    if (state.status === 'verified') break;
    if (!woke) break; // the window passed with no new send: nothing left to protect
  }
  await condition(allHandlersFinished);
  publish();
  return result;
}

function sendRefused(type: 'OTP_RESEND_COOLDOWN' | 'OTP_SEND_LIMIT', retryAfterMs: number): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message: type === 'OTP_RESEND_COOLDOWN' ? 'wait before asking for another code' : 'too many codes sent to this number',
    nonRetryable: true,
    details: [{ retryAfterSeconds: Math.ceil(retryAfterMs / 1000) }],
  });
}

function verifyRefused(type: string, attemptsLeft: number): ApplicationFailure {
  const messages: Record<string, string> = {
    OTP_INVALID_CODE: 'the code is not right',
    OTP_ATTEMPTS_EXHAUSTED: 'too many wrong codes; ask for a new one',
    OTP_EXPIRED: 'the code has expired; ask for a new one',
    OTP_NOT_REQUESTED: 'no code was sent to this number',
    OTP_ALREADY_USED: 'this code was already used',
  };
  return ApplicationFailure.create({ type, message: messages[type] ?? ErrorCode.ValidationFailed, nonRetryable: true, details: [{ attemptsLeft }] });
}
