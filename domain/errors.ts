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
  MethodNotImplemented: 'METHOD_NOT_IMPLEMENTED',
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
  RoomNotFound: 'ROOM_NOT_FOUND',
  RoomClosed: 'ROOM_CLOSED',
  RoomPasswordRequired: 'ROOM_PASSWORD_REQUIRED',
  RoomPasswordWrong: 'ROOM_PASSWORD_WRONG',
  RoomBanned: 'ROOM_BANNED',
  RoomBlocked: 'ROOM_BLOCKED',
  RoomKickCooldown: 'ROOM_KICK_COOLDOWN',
  NotInRoom: 'NOT_IN_ROOM',
  ModeratorRequired: 'MODERATOR_REQUIRED',
  OwnerRequired: 'OWNER_REQUIRED',
  TargetProtected: 'TARGET_PROTECTED',
  CannotTargetSelf: 'CANNOT_TARGET_SELF',
  AdminLimitReached: 'ADMIN_LIMIT_REACHED',
  SeatNotFound: 'SEAT_NOT_FOUND',
  SeatTaken: 'SEAT_TAKEN',
  SeatChanged: 'SEAT_CHANGED',
  SeatLocked: 'SEAT_LOCKED',
  SeatHostOnly: 'SEAT_HOST_ONLY',
  SeatApplyRequired: 'SEAT_APPLY_REQUIRED',
  AlreadySeated: 'ALREADY_SEATED',
  NotSeated: 'NOT_SEATED',
  SeatMutedByAdmin: 'SEAT_MUTED_BY_ADMIN',
  NoFreeSeat: 'NO_FREE_SEAT',
  InvitationNotFound: 'INVITATION_NOT_FOUND',
  ApplicationNotFound: 'APPLICATION_NOT_FOUND',
  ChatMuted: 'CHAT_MUTED',
  ChatTooLong: 'CHAT_TOO_LONG',
  MessageNotFound: 'MESSAGE_NOT_FOUND',
  RecallWindowPassed: 'RECALL_WINDOW_PASSED',
  NotMessageSender: 'NOT_MESSAGE_SENDER',
  UserBlocked: 'USER_BLOCKED',
  CannotTargetSelfUser: 'CANNOT_TARGET_SELF_USER',
  OriginNotAllowed: 'ORIGIN_NOT_ALLOWED',
  UpgradeRequired: 'UPGRADE_REQUIRED',
  TooManyConnections: 'TOO_MANY_CONNECTIONS',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * A failure the caller can act on, with its stable code. It carries no transport status: each
 * edge (HTTP, WebSocket) maps codes to its own statuses in one place (`platform/http/error-status.ts`).
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AppError';
  }
}
