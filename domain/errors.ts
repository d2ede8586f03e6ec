/**
 * Stable error codes shared by the API (JSON error body), workflows (ApplicationFailure.type)
 * and activities. Clients switch on these strings: never rename one.
 */
export const ErrorCode = {
  ValidationFailed: 'VALIDATION_FAILED',
  Unauthenticated: 'UNAUTHENTICATED',
  Forbidden: 'FORBIDDEN',
  NotFound: 'NOT_FOUND',
  MethodNotAllowed: 'METHOD_NOT_ALLOWED',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  UserNotFound: 'USER_NOT_FOUND',
  RateLimited: 'RATE_LIMITED',
  AlreadyClaimedToday: 'ALREADY_CLAIMED_TODAY',
  OtpResendCooldown: 'OTP_RESEND_COOLDOWN',
  OtpSendLimit: 'OTP_SEND_LIMIT',
  OtpInvalidCode: 'OTP_INVALID_CODE',
  OtpAttemptsExhausted: 'OTP_ATTEMPTS_EXHAUSTED',
  OtpExpired: 'OTP_EXPIRED',
  OtpNotRequested: 'OTP_NOT_REQUESTED',
  OtpAlreadyUsed: 'OTP_ALREADY_USED',
  OtpSmsRejected: 'OTP_SMS_REJECTED',
  PhoneInvalid: 'PHONE_INVALID',
  RefreshTokenInvalid: 'REFRESH_TOKEN_INVALID',
  RefreshTokenReused: 'REFRESH_TOKEN_REUSED',
  SessionRevoked: 'SESSION_REVOKED',
  SignInLocked: 'SIGN_IN_LOCKED',
  SocialTokenInvalid: 'SOCIAL_TOKEN_INVALID',
  SocialProviderUnavailable: 'SOCIAL_PROVIDER_UNAVAILABLE',
  IdentityInUse: 'IDENTITY_IN_USE',
  LastSignInMethod: 'LAST_SIGN_IN_METHOD',
  AccountBanned: 'ACCOUNT_BANNED',
  PhoneCountryNotAllowed: 'PHONE_COUNTRY_NOT_ALLOWED',
  InsufficientFunds: 'INSUFFICIENT_FUNDS',
  IdempotencyConflict: 'IDEMPOTENCY_CONFLICT',
  FlowConflict: 'FLOW_CONFLICT',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  DependencyUnavailable: 'DEPENDENCY_UNAVAILABLE',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A failure the caller can act on: carries its stable code and the HTTP status it maps to. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly status: number,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AppError';
  }
}
