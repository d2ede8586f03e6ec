import type { PushPayload } from '../../domain/notifications/push';

/** One push to one app install. */
export interface PushMessage extends PushPayload {
  /** The install's FCM registration token. Never logged in full (domain/notifications/push.ts maskToken). */
  token: string;
  /** How long FCM keeps the push for an offline phone. */
  ttlSeconds?: number;
}

/** Sends pushes to phones (FCM). */
export interface PushSender {
  send(message: PushMessage, options?: { signal?: AbortSignal }): Promise<{ messageId: string }>;
}

/** Why a token is no use: the app was uninstalled, the token is malformed, or it is another project's. */
export type PushTokenProblem = 'UNREGISTERED' | 'INVALID_ARGUMENT' | 'SENDER_ID_MISMATCH';

/** The provider says the token will never work again: forget it. */
export class PushTokenInvalid extends Error {
  override name = 'PushTokenInvalid';
  constructor(readonly reason: PushTokenProblem) {
    super(`the push token is no longer valid (${reason})`);
  }
}

/** The provider refused this message for good (our payload or setup): another try gets the same. */
export class PushRejected extends Error {
  override name = 'PushRejected';
  constructor(
    message: string,
    readonly status: number,
    readonly errorCode?: string,
  ) {
    super(message);
  }
}

/** The provider is down, slow, over quota or its circuit is open: try again later (after `retryAfterMs` when known). */
export class PushUnavailable extends Error {
  override name = 'PushUnavailable';
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}
