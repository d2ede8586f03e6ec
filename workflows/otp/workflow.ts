import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { OtpActivities } from '../../activities/otp';
import { ErrorCode } from '../../domain/errors';
import { SearchAttribute } from '../../domain/flows';
import {
  SIGN_IN_ACTIVITY_ATTEMPT_MS,
  SIGN_IN_BUDGET_MS,
  SMS_ACTIVITY_ATTEMPT_MS,
  SMS_SEND_BUDGET_MS,
  beginSend,
  beginSignIn,
  constantTimeEqual,
  decideSend,
  flowEndsAt,
  initialOtpState,
  isBusy,
  recordSendBeforeSending,
  sendFailed,
  sendSucceeded,
  signInFailed,
  signedIn,
  spendAttempt,
  summarizeOtp,
  verifyRefusal,
  type OtpPolicy,
  type OtpState,
  type VerifyRefusal,
} from '../../domain/otp/rules';
import { STANDARD_ACTIVITY_OPTIONS } from '../activity-options';
import {
  otpSendKey,
  otpStatusQuery,
  requestOtpUpdate,
  verifyOtpUpdate,
  type OtpInput,
  type OtpRequest,
  type OtpSent,
  type OtpVerified,
  type OtpVerify,
} from './definitions';

/**
 * Texting a code. Temporal is the one retry layer for outbound SMS: the Twilio client makes a
 * single HTTP attempt per activity attempt (cut at SMS_ATTEMPT_TIMEOUT_MS, inside this
 * startToCloseTimeout), and only the circuit breaker lives in the client. Temporal rather than
 * the client because its retries survive a worker restart, each attempt and its failure is in
 * the history, and an attempt is only scheduled after the previous one ended, so attempts never
 * overlap. 3 attempts, not the standard 4: a person is waiting on the screen, and
 * scheduleToCloseTimeout bounds the whole send below the API's wait.
 */
const SMS_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: SMS_ACTIVITY_ATTEMPT_MS,
  scheduleToCloseTimeout: SMS_SEND_BUDGET_MS,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '2 seconds', maximumAttempts: 3 },
};

/** Finding or creating the user and opening the session, bounded the same way. */
const SIGN_IN_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: SIGN_IN_ACTIVITY_ATTEMPT_MS,
  scheduleToCloseTimeout: SIGN_IN_BUDGET_MS,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '2 seconds', maximumAttempts: 3 },
};

const { sendOtpCode } = proxyActivities<OtpActivities>(SMS_ACTIVITY_OPTIONS);
const { completePhoneSignIn } = proxyActivities<OtpActivities>(SIGN_IN_ACTIVITY_OPTIONS);
/** What runs begun before OTP_COMMIT_AFTER_SUCCESS scheduled, kept so their histories replay. */
const beforeCommitAfterSuccess = proxyActivities<OtpActivities>(STANDARD_ACTIVITY_OPTIONS);

/**
 * The version marker of two rules: a send counts (cooldown, cap, new code) only after the text
 * went out, and a right code marks the flow verified only once the session exists. Runs begun
 * before it keep their old behaviour until they end (an hour or so), so their histories replay.
 */
export const OTP_COMMIT_AFTER_SUCCESS = 'otp-commit-after-success';

/**
 * One flow per phone number at a time (`otp:<keyed hash>`). It sends codes within the resend
 * and hourly limits, checks attempts against the code's keyed hash, opens the session for the
 * right code, and ends when the number is verified or when its send window has passed, so the
 * hourly limit can't be dodged by waiting for a code to expire.
 */
export async function otpWorkflow(input: OtpInput): Promise<OtpVerified | null> {
  const commitAfterSuccess = patched(OTP_COMMIT_AFTER_SUCCESS);
  const { policy, phoneKey } = input;
  let state: OtpState = initialOtpState();
  let result: OtpVerified | null = null;

  // No digit of the number anywhere support staff look: the memo is the flow's progress only.
  const publish = () => upsertMemo({ summary: summarizeOtp(state, Date.now()) });
  publish();
  setHandler(otpStatusQuery, () => ({ state }));

  const refuseSendNow = () => {
    const refusal = decideSend(state, Date.now(), policy);
    if (refusal) throw sendRefused(refusal.reason, refusal.retryAfterMs);
  };

  setHandler(
    requestOtpUpdate,
    async ({ phoneCiphertext }): Promise<OtpSent> => {
      refuseSendNow();
      if (!commitAfterSuccess) return sendCountedFirst(phoneCiphertext);
      state = beginSend(state, Date.now());
      // The key is the send's number among sends that went out, so a send retried after a failure
      // reuses the code already drawn for it, and the provider can recognise the repeat.
      const idempotencyKey = otpSendKey(phoneKey, workflowInfo().runId, state.sentTotal + 1);
      let codeHash: string;
      try {
        ({ codeHash } = await sendOtpCode({ phoneKey, phoneCiphertext, idempotencyKey }));
      } catch (err) {
        state = sendFailed(state);
        throw stepFailed(err, 'the SMS provider is unavailable; ask for the code again shortly');
      }
      state = sendSucceeded(state, Date.now(), codeHash, policy);
      publish();
      return sentAnswer(state, policy);
    },
    { validator: (_request: OtpRequest) => refuseSendNow() },
  );

  /** The rule before OTP_COMMIT_AFTER_SUCCESS: the send counts before the text is known to have gone out. */
  async function sendCountedFirst(phoneCiphertext: string): Promise<OtpSent> {
    state = recordSendBeforeSending(state, Date.now(), policy);
    const { codeHash } = await beforeCommitAfterSuccess
      .sendOtpCode({ phoneKey, phoneCiphertext, idempotencyKey: otpSendKey(phoneKey, workflowInfo().runId, state.sends.length) })
      .catch((err: unknown) => {
        throw stepFailed(err, 'the SMS provider is unavailable; ask for the code again shortly');
      });
    const sentAt = state.sends.at(-1)!;
    state = { ...state, codeHash, codeExpiresAt: sentAt + policy.codeTtlMs, attemptsLeft: policy.maxAttempts };
    publish();
    return { codeExpiresAt: state.codeExpiresAt!, resendAvailableAt: sentAt + policy.resendCooldownMs, attemptsLeft: state.attemptsLeft };
  }

  const refuseVerifyNow = () => {
    const refusal = verifyRefusal(state, Date.now());
    if (refusal) throw verifyRefused(refusal, state, policy);
  };

  setHandler(
    verifyOtpUpdate,
    async ({ codeHash, phoneCiphertext, session }): Promise<OtpVerified> => {
      refuseVerifyNow();
      state = spendAttempt(state);
      const liveCodeHash = state.codeHash!;
      if (!constantTimeEqual(codeHash, liveCodeHash)) {
        publish();
        throw verifyRefused(state.attemptsLeft > 0 ? 'OTP_INVALID_CODE' : 'OTP_ATTEMPTS_EXHAUSTED', state, policy);
      }
      let user: OtpVerified;
      if (commitAfterSuccess) {
        state = beginSignIn(state);
        try {
          user = await completePhoneSignIn({ phoneKey, phoneCiphertext, session });
        } catch (err) {
          state = signInFailed(state, liveCodeHash);
          publish();
          throw stepFailed(err, 'signing in did not complete; try the same code again shortly');
        }
        state = signedIn(state, user.userId);
      } else {
        // Before OTP_COMMIT_AFTER_SUCCESS: verified first, and the API opens the session.
        state = { ...state, status: 'verified', codeHash: null };
        user = await beforeCommitAfterSuccess.completePhoneSignIn({ phoneKey, phoneCiphertext });
        state = { ...state, userId: user.userId };
      }
      upsertSearchAttributes({ [SearchAttribute.UserId.name]: [user.userId] });
      publish();
      result = user;
      return user;
    },
    { validator: (_attempt: OtpVerify) => refuseVerifyNow() },
  );

  const progress = () => (commitAfterSuccess ? state.sentTotal : state.sends.length);
  for (;;) {
    const seen = progress();
    const endsAt = flowEndsAt(state, policy);
    const wait = endsAt === null ? policy.sendWindowMs : endsAt - Date.now();
    const woke = await condition(() => state.status === 'verified' || progress() !== seen, Math.max(wait, 1));
    if (state.status === 'verified') break;
    if (woke) continue;
    if (!isBusy(state)) break; // the window passed with no new send: nothing left to protect
    // The window passed under a send or a sign-in in flight: its outcome decides whether to go on.
    await condition(() => !isBusy(state));
  }
  await condition(allHandlersFinished);
  publish();
  return result;
}

function sentAnswer(state: OtpState, policy: OtpPolicy): OtpSent {
  const sentAt = state.sends.at(-1)!;
  return {
    codeExpiresAt: state.codeExpiresAt ?? sentAt + policy.codeTtlMs,
    resendAvailableAt: sentAt + policy.resendCooldownMs,
    attemptsLeft: state.attemptsLeft,
  };
}

const STABLE_CODES = new Set<string>(Object.values(ErrorCode));

/**
 * An activity that failed for good becomes the update's failure, with a stable code the API
 * maps: a refusal the activity named (OTP_SMS_REJECTED, ACCOUNT_BANNED, ...) keeps its code;
 * anything else (retries spent, timeouts) is our dependency's outage, retryable by the client.
 */
function stepFailed(err: unknown, unavailableMessage: string): ApplicationFailure {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.nonRetryable && cause.type && STABLE_CODES.has(cause.type)) {
    return ApplicationFailure.create({ type: cause.type, message: cause.message, nonRetryable: true, details: cause.details ? [...cause.details] : undefined });
  }
  return ApplicationFailure.create({ type: ErrorCode.DependencyUnavailable, message: unavailableMessage, nonRetryable: true });
}

function sendRefused(type: 'OTP_RESEND_COOLDOWN' | 'OTP_SEND_LIMIT', retryAfterMs: number): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message: type === 'OTP_RESEND_COOLDOWN' ? 'wait before asking for another code' : 'too many codes sent to this number',
    nonRetryable: true,
    details: [{ retryAfterSeconds: Math.ceil(retryAfterMs / 1000) }],
  });
}

const VERIFY_MESSAGES: Record<VerifyRefusal | 'OTP_INVALID_CODE', string> = {
  OTP_INVALID_CODE: 'the code is not right',
  OTP_ATTEMPTS_EXHAUSTED: 'too many wrong codes; ask for a new one',
  OTP_EXPIRED: 'the code has expired; ask for a new one',
  OTP_NOT_REQUESTED: 'no code was sent to this number',
  OTP_ALREADY_USED: 'this code was already used',
  FLOW_CONFLICT: 'a sign-in with this code is in progress; try again in a moment',
};

function verifyRefused(type: VerifyRefusal | 'OTP_INVALID_CODE', state: OtpState, policy: OtpPolicy): ApplicationFailure {
  const details: { attemptsLeft: number; retryAfterSeconds?: number } = { attemptsLeft: state.attemptsLeft };
  // Refusals answered with 429 (or a conflict that clears itself) say when trying again can work.
  if (type === 'OTP_ATTEMPTS_EXHAUSTED') {
    details.retryAfterSeconds = Math.max(1, Math.ceil((decideSend(state, Date.now(), policy)?.retryAfterMs ?? 0) / 1000));
  } else if (type === 'FLOW_CONFLICT') {
    details.retryAfterSeconds = 1;
  }
  return ApplicationFailure.create({ type, message: VERIFY_MESSAGES[type], nonRetryable: true, details: [details] });
}
