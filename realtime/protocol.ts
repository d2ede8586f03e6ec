/**
 * WebSocket close codes the edge uses. 4000-4999 are ours; a client reads them to decide
 * whether to reconnect, whether it needs a fresh access token first, and whether to resume.
 * docs/realtime-protocol.md is the full protocol for client engineers.
 */
export const CloseCode = {
  /** Server restart or deploy: reconnect after a short delay, then resume each room. */
  GoingAway: 1001,
  /** Binary frames are not part of the protocol. */
  UnsupportedData: 1003,
  /** The client kept sending past its message rate: a client bug. */
  PolicyViolation: 1008,
  /** A message over the size limit: a client bug, don't resend it. */
  MessageTooBig: 1009,
  /** Temporary server trouble: reconnect with backoff, then resume. */
  TryAgainLater: 1013,
  /** The access token expired: refresh it, then reconnect and resume. */
  TokenExpired: 4001,
  /** The session was signed out (logout, reuse detection): sign in again. */
  SessionRevoked: 4003,
  /** The account, device or network is banned: don't reconnect. */
  Banned: 4005,
  /** The client fell behind (too slow to read, or the edge lost its place): reconnect now and resume. */
  ResumeRequired: 4008,
} as const;
