/**
 * What a notification becomes on a phone, and when a failed push is tried again: pure rules the
 * outbox drain and the FCM client share.
 */

/** What FCM needs besides the token. */
export interface PushPayload {
  title: string;
  body: string;
  /** FCM's data map: strings only. */
  data: Record<string, string>;
  /** Android delivery priority: `high` wakes a dozing phone for things worth interrupting. */
  priority: 'high' | 'normal';
  /** A phone that was offline gets only the latest push of each collapse key. */
  collapseKey: string;
}

/** Kinds about something happening now (someone waiting for an answer, a gift landing). */
const URGENT_KINDS = new Set(['gift_received', 'room_invitation', 'cp_proposal', 'cp_answer']);

/** Keys FCM refuses in the data map (its own), dropped rather than failing the whole push. */
function reservedDataKey(key: string): boolean {
  return key === 'from' || key === 'notification' || key === 'message_type' || key === 'collapse_key' || /^(google|gcm)/i.test(key);
}

/**
 * The push for one notification row: its title and body, its data flattened to strings (objects
 * as JSON), plus `notificationId` and `kind` so the app opens the right row.
 */
export function pushPayload(n: { id: string; kind: string; title: string; body: string; data: Record<string, unknown> | null }): PushPayload {
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries(n.data ?? {})) {
    if (value === undefined || value === null || reservedDataKey(key)) continue;
    data[key] = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  }
  data.notificationId = n.id;
  data.kind = n.kind;
  return { title: n.title, body: n.body, data, priority: URGENT_KINDS.has(n.kind) ? 'high' : 'normal', collapseKey: n.kind };
}

export interface PushRetryPolicy {
  /** Wait after the first failed round; doubled for each further one. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** Rounds before a push is given up (each round is one client call, itself a few attempts). */
  maxRounds: number;
  /** A push not sent this long after its notification is given up: it would arrive stale. */
  maxAgeMs: number;
}

export const DEFAULT_PUSH_RETRY_POLICY: PushRetryPolicy = {
  firstDelayMs: 15_000,
  maxDelayMs: 15 * 60_000,
  maxRounds: 10,
  maxAgeMs: 6 * 3_600_000,
};

/**
 * When a push that failed its `rounds`-th round (1 for the first) is tried again, or null to give
 * it up. FCM's Retry-After wins when it asks for longer than the backoff. `jitter` in [0, 1)
 * spreads retries of many pushes failed by one outage (half to all of the backoff).
 */
export function nextPushAttempt(
  failure: { rounds: number; createdAtMs: number; nowMs: number; retryAfterMs?: number },
  policy: PushRetryPolicy = DEFAULT_PUSH_RETRY_POLICY,
  jitter = 0.5,
): { atMs: number } | null {
  if (failure.rounds >= policy.maxRounds) return null;
  const backoff = Math.min(policy.firstDelayMs * 2 ** (failure.rounds - 1), policy.maxDelayMs);
  const delay = Math.max(Math.round(backoff / 2 + (backoff / 2) * jitter), failure.retryAfterMs ?? 0);
  const atMs = failure.nowMs + delay;
  if (atMs - failure.createdAtMs > policy.maxAgeMs) return null;
  return { atMs };
}

/** A registration token as logs may show it: enough to tell two apart, too little to use. */
export function maskToken(token: string): string {
  return token.length <= 12 ? '…' : `${token.slice(0, 6)}…${token.slice(-4)}`;
}
