/**
 * Phone OTP rules, pure: shared by the OTP workflow (which keeps the state) and the API.
 * The workflow never sees a code or a raw number: only keyed hashes, a ciphertext and a mask.
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

export type OtpStatus = 'pending' | 'verified';

/** Workflow state; plain JSON. */
export interface OtpState {
  /** Instants of every send in this flow, oldest first. */
  sends: number[];
  codeHash: string | null;
  codeExpiresAt: number | null;
  attemptsLeft: number;
  status: OtpStatus;
  userId: string | null;
}

export function initialOtpState(): OtpState {
  return { sends: [], codeHash: null, codeExpiresAt: null, attemptsLeft: 0, status: 'pending', userId: null };
}

export type SendRefusal = { reason: 'OTP_RESEND_COOLDOWN' | 'OTP_SEND_LIMIT'; retryAfterMs: number };

/** Whether a code may be sent now, or how long until one may. */
export function decideSend(state: OtpState, nowMs: number, policy: OtpPolicy): SendRefusal | null {
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

export function recordSend(state: OtpState, nowMs: number, policy: OtpPolicy): OtpState {
  // Only the sends still inside the window matter; older ones would only grow the state.
  const sends = [...state.sends.filter((t) => nowMs - t < policy.sendWindowMs), nowMs];
  return { ...state, sends, codeHash: null, codeExpiresAt: null, attemptsLeft: 0 };
}

export type VerifyRefusal = 'OTP_NOT_REQUESTED' | 'OTP_EXPIRED' | 'OTP_ATTEMPTS_EXHAUSTED' | 'OTP_ALREADY_USED';

/** Why a verification can't even be tried now, or null if it can. */
export function verifyRefusal(state: OtpState, nowMs: number): VerifyRefusal | null {
  if (state.status === 'verified') return 'OTP_ALREADY_USED';
  if (state.codeHash === null || state.codeExpiresAt === null) return 'OTP_NOT_REQUESTED';
  if (nowMs >= state.codeExpiresAt) return 'OTP_EXPIRED';
  if (state.attemptsLeft <= 0) return 'OTP_ATTEMPTS_EXHAUSTED';
  return null;
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

/** `+44•••••••789`: enough for support staff to talk to the user, not enough to dial. */
export function maskPhone(e164: string): string {
  const digits = e164.replace(/\D/g, '');
  if (digits.length <= 5) return '+' + '•'.repeat(digits.length);
  return `+${digits.slice(0, 2)}${'•'.repeat(digits.length - 5)}${digits.slice(-3)}`;
}

export function summarizeOtp(state: OtpState, maskedPhone: string, nowMs: number): string {
  if (state.status === 'verified') return `${maskedPhone}: verified`;
  if (state.codeExpiresAt === null) return `${maskedPhone}: no code sent yet`;
  const expiry = new Date(state.codeExpiresAt).toISOString().slice(11, 19);
  const live = nowMs < state.codeExpiresAt ? `expires ${expiry}Z` : `expired ${expiry}Z`;
  return `${maskedPhone}: ${state.attemptsLeft} attempts left, code ${live}, ${state.sends.length} sends in the last hour`;
}
