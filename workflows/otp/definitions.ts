import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { OtpPolicy, OtpState } from '../../domain/otp/rules';

/**
 * The phone OTP flow's messages. Nothing here carries a digit of the number or a code: the
 * number travels encrypted (for the activities), codes and refresh tokens as hashes.
 */
export interface OtpInput {
  /** Keyed hash of the E.164 number; also the workflow id's suffix. */
  phoneKey: string;
  policy: OtpPolicy;
  /** Runs started before the memo lost the number carry a masked one here; unused now. */
  maskedPhone?: string;
}

export interface OtpRequest {
  /** AES-GCM ciphertext of the E.164 number, readable only by the activities. */
  phoneCiphertext: string;
}

export interface OtpSent {
  codeExpiresAt: number;
  resendAvailableAt: number;
  attemptsLeft: number;
}

/** The session a right code opens, prepared by the API; the flow only passes it to the activity. */
export interface OtpSessionRequest {
  /** SHA-256 of the refresh token the API will hand out (the token itself never leaves the API). */
  refreshTokenHash: string;
  expiresAt: number;
  /** AES-GCM ciphertext of the device id, device name and client address (JSON). */
  deviceCiphertext: string;
}

export interface OtpVerify {
  /** Keyed hash of the code the user typed. */
  codeHash: string;
  phoneCiphertext: string;
  session: OtpSessionRequest;
}

export interface OtpVerified {
  userId: string;
  isNewUser: boolean;
  /** The session the sign-in opened; absent only from runs begun before sessions moved into the flow. */
  sessionId?: string;
}

export const requestOtpUpdate = defineUpdate<OtpSent, [OtpRequest]>('request');
export const verifyOtpUpdate = defineUpdate<OtpVerified, [OtpVerify]>('verify');
export const otpStatusQuery = defineQuery<{ state: OtpState }>('status');

export function otpWorkflowId(phoneKey: string): string {
  return `otp:${phoneKey}`;
}

/** The idempotency key of one send: retries of it (Temporal's, or the user's after a failure) share it. */
export function otpSendKey(phoneKey: string, runId: string, sendNumber: number): string {
  return `otp:${phoneKey}:${runId}:${sendNumber}`;
}
