/**
 * Phone OTP rules, pure: shared by the OTP workflow (which keeps the state) and the API.
 * The workflow never sees a code or a raw number: only keyed hashes and ciphertext. Nothing it
 * keeps or shows (memo, query, history) carries a digit of the number.
 */
export interface OtpPolicy {
  /** How long a sent code stays valid (at most 10 minutes). */
  codeTtlMs: number;
  /** Wrong codes accepted before the code is dead. */
  maxAttempts: number;
  /** Minimum time between two sends to one number. */
  resendCooldownMs: number;
  /** Sends to one number within `sendWindowMs`. */
  maxSendsPerWindow: number;
  sendWindowMs: number;
}

export const MAX_CODE_TTL_MS = 10 * 60_000;

export const DEFAULT_OTP_POLICY: OtpPolicy = {
  codeTtlMs: 5 * 60_000,
  maxAttempts: 5,
  resendCooldownMs: 60_000,
  maxSendsPerWindow: 5,
  sendWindowMs: 60 * 60_000,
};

/**
 * Time budgets of the two steps a person waits for on the screen. Each is below the API's wait
 * for the flow (`OTP_FLOW_WAIT_MS`), which is below the spec's 30 s budget for a request, so a
 * provider or database that hangs answers a retryable 503 instead of a hung request.
 *
 * Texting a code: one HTTP attempt is cut at `SMS_ATTEMPT_TIMEOUT_MS`, inside an activity
 * attempt of `SMS_ACTIVITY_ATTEMPT_MS`; 3 attempts with 1 s and 2 s between them fit in
 * `SMS_SEND_BUDGET_MS` (4 + 1 + 4 + 2 + 4 = 15 s).
 */
export const SMS_ATTEMPT_TIMEOUT_MS = 4_000;
export const SMS_ACTIVITY_ATTEMPT_MS = 5_000;
export const SMS_SEND_BUDGET_MS = 16_000;
/** Finding or creating the user and opening the session: one transaction per attempt, 3 attempts. */
export const SIGN_IN_ACTIVITY_ATTEMPT_MS = 5_000;
export const SIGN_IN_BUDGET_MS = 16_000;
/** How long the API waits for a request or verify update before answering 503. */
export const OTP_FLOW_WAIT_MS = 20_000;

/** `pending`: codes may be sent and tried; `signing-in`: a right code is being turned into a session. */
export type OtpStatus = 'pending' | 'signing-in' | 'verified';

/** Workflow state; plain JSON. */
export interface OtpState {
  /** Instants of every successful send in the window, oldest first. */
  sends: number[];
  /** Successful sends in this run, never reset: numbers each send's idempotency key. */
  sentTotal: number;
  /** When the send now in flight started, or null. Nothing is committed until it succeeds. */
  sendingSince: number | null;
  codeHash: string | null;
  codeExpiresAt: number | null;
  attemptsLeft: number;
  status: OtpStatus;
  userId: string | null;
}

export function initialOtpState(): OtpState {
  return { sends: [], sentTotal: 0, sendingSince: null, codeHash: null, codeExpiresAt: null, attemptsLeft: 0, status: 'pending', userId: null };
}

export type SendRefusal = { reason: 'OTP_RESEND_COOLDOWN' | 'OTP_SEND_LIMIT'; retryAfterMs: number };

/** Whether a code may be sent now, or how long until one may. */
export function decideSend(state: OtpState, nowMs: number, policy: OtpPolicy): SendRefusal | null {
  if (state.sendingSince !== null && state.sendingSince !== undefined) {
    // One send at a time: a second would race the first for the code the user gets.
    return { reason: 'OTP_RESEND_COOLDOWN', retryAfterMs: Math.max(1_000, state.sendingSince + SMS_SEND_BUDGET_MS - nowMs) };
  }
  const last = state.sends.at(-1);
  if (last !== undefined && nowMs - last < policy.resendCooldownMs) {
    return { reason: 'OTP_RESEND_COOLDOWN', retryAfterMs: last + policy.resendCooldownMs - nowMs };
  }
  const inWindow = state.sends.filter((t) => nowMs - t < policy.sendWindowMs);
  if (inWindow.length >= policy.maxSendsPerWindow) {
    const oldest = inWindow[0]!;
    return { reason: 'OTP_SEND_LIMIT', retryAfterMs: oldest + policy.sendWindowMs - nowMs };
  }
  return null;
}

/** A send starts: only marked in flight. The cooldown, the cap and the live code are untouched. */
export function beginSend(state: OtpState, nowMs: number): OtpState {
  return { ...state, sendingSince: nowMs };
}

/** The text went out: now it counts against the cooldown and the cap, and its code replaces the old one. */
export function sendSucceeded(state: OtpState, nowMs: number, codeHash: string, policy: OtpPolicy): OtpState {
  const sends = [...state.sends.filter((t) => nowMs - t < policy.sendWindowMs), nowMs];
  const counted = { ...state, sends, sentTotal: state.sentTotal + 1, sendingSince: null };
  // A verify that won the race with this send keeps its result; the new code is never live.
  if (state.status === 'verified') return counted;
  return { ...counted, codeHash, codeExpiresAt: nowMs + policy.codeTtlMs, attemptsLeft: policy.maxAttempts };
}

/** The text did not go out (refused, or the provider stayed down): as if it was never asked for. */
export function sendFailed(state: OtpState): OtpState {
  return { ...state, sendingSince: null };
}

/**
 * Before the send-after-success rule (runs begun before it was deployed): the send counts, and
 * the old code dies, before the text is known to have gone out.
 */
export function recordSendBeforeSending(state: OtpState, nowMs: number, policy: OtpPolicy): OtpState {
  // Only the sends still inside the window matter; older ones would only grow the state.
  const sends = [...state.sends.filter((t) => nowMs - t < policy.sendWindowMs), nowMs];
  return { ...state, sends, codeHash: null, codeExpiresAt: null, attemptsLeft: 0 };
}

export type VerifyRefusal = 'OTP_NOT_REQUESTED' | 'OTP_EXPIRED' | 'OTP_ATTEMPTS_EXHAUSTED' | 'OTP_ALREADY_USED' | 'FLOW_CONFLICT';

/** Why a verification can't even be tried now, or null if it can. */
export function verifyRefusal(state: OtpState, nowMs: number): VerifyRefusal | null {
  if (state.status === 'verified') return 'OTP_ALREADY_USED';
  if (state.status === 'signing-in') return 'FLOW_CONFLICT';
  if (state.codeHash === null || state.codeExpiresAt === null) return 'OTP_NOT_REQUESTED';
  if (nowMs >= state.codeExpiresAt) return 'OTP_EXPIRED';
  if (state.attemptsLeft <= 0) return 'OTP_ATTEMPTS_EXHAUSTED';
  return null;
}

/** Spends one attempt before the comparison, so concurrent guesses can't share one. */
export function spendAttempt(state: OtpState): OtpState {
  return { ...state, attemptsLeft: state.attemptsLeft - 1 };
}

/** The right code: the sign-in is in flight; other verifications wait for its outcome. */
export function beginSignIn(state: OtpState): OtpState {
  return { ...state, status: 'signing-in' };
}

/**
 * The sign-in step failed on our side: the user may try the same code again, and gets back the
 * attempt the right code spent (unless a newer code replaced it meanwhile).
 */
export function signInFailed(state: OtpState, usedCodeHash: string): OtpState {
  const sameCode = state.codeHash === usedCodeHash;
  return { ...state, status: 'pending', attemptsLeft: sameCode ? state.attemptsLeft + 1 : state.attemptsLeft };
}

/** The session exists: the flow is done with this number. */
export function signedIn(state: OtpState, userId: string): OtpState {
  return { ...state, status: 'verified', codeHash: null, userId };
}

/** Compares two hashes in time independent of where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

/** When the flow can end: once verified, or when no send is left inside the limit window. */
export function flowEndsAt(state: OtpState, policy: OtpPolicy): number | null {
  const last = state.sends.at(-1);
  if (last === undefined) return null;
  return Math.max(last + policy.sendWindowMs, state.codeExpiresAt ?? 0);
}

/** Whether a send or a sign-in is in flight (the flow must not end under it). */
export function isBusy(state: OtpState): boolean {
  return (state.sendingSince !== null && state.sendingSince !== undefined) || state.status === 'signing-in';
}

/**
 * `+44•••••••789`: enough for the user to recognise their own number among their sign-in
 * methods. Never put in workflow memos, histories or logs (those show no digit of the number).
 */
export function maskPhone(e164: string): string {
  const digits = e164.replace(/\D/g, '');
  if (digits.length <= 5) return '+' + '•'.repeat(digits.length);
  return `+${digits.slice(0, 2)}${'•'.repeat(digits.length - 5)}${digits.slice(-3)}`;
}

/** The memo support staff read in the Web UI: the flow's progress, and nothing about the number. */
export function summarizeOtp(state: OtpState, nowMs: number): string {
  if (state.status === 'verified') return 'verified';
  const sending = state.sendingSince !== null && state.sendingSince !== undefined ? ', a send in flight' : '';
  if (state.status === 'signing-in') return `right code, signing in${sending}`;
  if (state.codeExpiresAt === null) return `no code sent yet${sending}`;
  const expiry = new Date(state.codeExpiresAt).toISOString().slice(11, 19);
  const live = nowMs < state.codeExpiresAt ? `expires ${expiry}Z` : `expired ${expiry}Z`;
  return `${state.attemptsLeft} attempts left, code ${live}, ${state.sends.length} sends in the last hour${sending}`;
}
