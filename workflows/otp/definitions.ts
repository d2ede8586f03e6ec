import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { OtpPolicy, OtpState } from '../../domain/otp/rules';

/**
 * The phone OTP flow's messages. Nothing here carries a raw number or a code: the number
 * travels encrypted (for the SMS activity) and masked (for support staff), codes as keyed hashes.
 */
export interface OtpInput {
  /** Keyed hash of the E.164 number; also the workflow id's suffix. */
  phoneKey: string;
  maskedPhone: string;
  policy: OtpPolicy;
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

export interface OtpVerify {
  /** Keyed hash of the code the user typed. */
  codeHash: string;
  phoneCiphertext: string;
}

export interface OtpVerified {
  userId: string;
  isNewUser: boolean;
}

export const requestOtpUpdate = defineUpdate<OtpSent, [OtpRequest]>('request');
export const verifyOtpUpdate = defineUpdate<OtpVerified, [OtpVerify]>('verify');
export const otpStatusQuery = defineQuery<{ state: OtpState; maskedPhone: string }>('status');

export function otpWorkflowId(phoneKey: string): string {
  return `otp:${phoneKey}`;
}
