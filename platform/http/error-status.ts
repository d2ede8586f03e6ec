import type { ErrorCode } from '../../domain/errors';

/**
 * The one map from stable error codes to HTTP statuses, shared by the API and the socket
 * upgrade. Domain code raises codes; only the edges know about HTTP. The Record type makes a new
 * code fail to compile until it has a status here.
 */
const HTTP_STATUS: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  METHOD_NOT_IMPLEMENTED: 501,
  UNSUPPORTED_MEDIA_TYPE: 415,
  USER_NOT_FOUND: 404,
  RATE_LIMITED: 429,
  ALREADY_CLAIMED_TODAY: 409,
  OTP_RESEND_COOLDOWN: 429,
  OTP_SEND_LIMIT: 429,
  OTP_INVALID_CODE: 400,
  OTP_ATTEMPTS_EXHAUSTED: 429,
  OTP_EXPIRED: 400,
  OTP_NOT_REQUESTED: 400,
  OTP_ALREADY_USED: 400,
  OTP_SMS_REJECTED: 422,
  PHONE_INVALID: 400,
  REFRESH_TOKEN_INVALID: 401,
  REFRESH_TOKEN_REUSED: 401,
  SESSION_REVOKED: 401,
  SIGN_IN_LOCKED: 429,
  SOCIAL_TOKEN_INVALID: 401,
  SOCIAL_PROVIDER_UNAVAILABLE: 503,
  IDENTITY_IN_USE: 409,
  LAST_SIGN_IN_METHOD: 409,
  ACCOUNT_BANNED: 403,
  PHONE_COUNTRY_NOT_ALLOWED: 403,
  INSUFFICIENT_FUNDS: 409,
  IDEMPOTENCY_CONFLICT: 409,
  FLOW_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  DEPENDENCY_UNAVAILABLE: 503,
  ROOM_NOT_FOUND: 404,
  ROOM_CLOSED: 409,
  ROOM_PASSWORD_REQUIRED: 403,
  ROOM_PASSWORD_WRONG: 403,
  ROOM_BANNED: 403,
  ROOM_BLOCKED: 403,
  ROOM_KICK_COOLDOWN: 403,
  NOT_IN_ROOM: 403,
  MODERATOR_REQUIRED: 403,
  OWNER_REQUIRED: 403,
  TARGET_PROTECTED: 403,
  CANNOT_TARGET_SELF: 403,
  ADMIN_LIMIT_REACHED: 409,
  SEAT_NOT_FOUND: 404,
  SEAT_TAKEN: 409,
  SEAT_CHANGED: 409,
  SEAT_LOCKED: 409,
  SEAT_HOST_ONLY: 403,
  SEAT_APPLY_REQUIRED: 409,
  ALREADY_SEATED: 409,
  NOT_SEATED: 409,
  SEAT_MUTED_BY_ADMIN: 403,
  NO_FREE_SEAT: 409,
  INVITATION_NOT_FOUND: 404,
  APPLICATION_NOT_FOUND: 404,
  CHAT_MUTED: 403,
  CHAT_TOO_LONG: 400,
  MESSAGE_NOT_FOUND: 404,
  RECALL_WINDOW_PASSED: 409,
  NOT_MESSAGE_SENDER: 403,
  USER_BLOCKED: 409,
  CANNOT_TARGET_SELF_USER: 400,
  ORIGIN_NOT_ALLOWED: 403,
  INTERNAL: 500,
};

/** HTTP status for a stable code; an unknown code (a workflow's own refusal type) is a conflict. */
export function httpStatusFor(code: string): number {
  return (HTTP_STATUS as Record<string, number>)[code] ?? 409;
}

/** Whether a code names a failure the client may retry unchanged later (the status says when). */
export function isRetryableCode(code: string): boolean {
  const status = httpStatusFor(code);
  return status === 429 || status === 503;
}
