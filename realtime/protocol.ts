/**
 * WebSocket close codes the edge uses. 4000-4999 are ours; a client reads them to decide
 * whether to reconnect and whether it needs a fresh access token first.
 */
export const CloseCode = {
  /** Server restart or deploy: reconnect after a short delay. */
  GoingAway: 1001,
  /** Binary frames are not part of the protocol. */
  UnsupportedData: 1003,
  /** A message over the size limit: a client bug, don't resend it. */
  MessageTooBig: 1009,
  /** Temporary server trouble: reconnect with backoff. */
  TryAgainLater: 1013,
  /** The access token expired: refresh it, then reconnect. */
  TokenExpired: 4001,
  /** The session was signed out (logout, reuse detection, ban): sign in again. */
  SessionRevoked: 4003,
} as const;
