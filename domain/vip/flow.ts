/**
 * The `vip:<userId>` flow's rules, pure: the flow holds the timer, PostgreSQL holds the record.
 *
 * Each purchase (a signal carrying the user's purchase sequence number) moves the expiry; an
 * older signal arriving late is ignored. Before the expiry, one reminder per lead (by default 3
 * days and 1 day before), each sent once for that expiry; when several are due at once (a worker
 * that was down), only the nearest to the expiry is sent and the others are skipped. At the
 * expiry, nothing is reminded any more and the flow expires the tier.
 */
export interface VipPolicy {
  /** Hours before the expiry that a reminder goes out, e.g. [72, 24]. */
  reminderLeadHours: number[];
  /** Signals one run accepts before it continues as new (keeps the history small). */
  maxSignalsPerRun: number;
}

export const DEFAULT_VIP_POLICY: VipPolicy = { reminderLeadHours: [72, 24], maxSignalsPerRun: 100 };

export function validateVipPolicy(policy: VipPolicy): string[] {
  const problems: string[] = [];
  const leads = policy.reminderLeadHours;
  if (leads.length > 5 || !leads.every((h) => Number.isSafeInteger(h) && h >= 1 && h <= 29 * 24)) problems.push('reminder leads: up to 5, each 1..696 hours');
  if (new Set(leads).size !== leads.length) problems.push('reminder leads must differ');
  if (!(Number.isSafeInteger(policy.maxSignalsPerRun) && policy.maxSignalsPerRun >= 1)) problems.push('maxSignalsPerRun must be at least 1');
  return problems;
}

/** Flow state; plain JSON so it survives continue-as-new unchanged. */
export interface VipFlowState {
  userId: string;
  tier: number;
  expiresAt: number | null;
  /** The purchase (users' own sequence number) this state comes from; 0 before any. */
  seq: number;
  /** Reminders sent (or skipped) for the current expiry, as `reminderKey`s. */
  remindersSent: string[];
  /** When the last term ended (epoch ms), for the summary. */
  lastExpiredAt: number | null;
  purchases: number;
}

export function initialVipState(userId: string): VipFlowState {
  return { userId, tier: 0, expiresAt: null, seq: 0, remindersSent: [], lastExpiredAt: null, purchases: 0 };
}

/** A committed purchase as the flow hears of it. */
export interface VipPurchaseNotice {
  seq: number;
  tier: number;
  expiresAt: number;
  /**
   * The record as the expiry sweep read it, not a new purchase: taken when it is at least as new
   * as what the flow holds (a membership with no purchase row has seq 0).
   */
  resync?: boolean;
}

/** The state after a purchase notice; a notice older than what the flow holds changes nothing. */
export function applyPurchase(state: VipFlowState, notice: VipPurchaseNotice): VipFlowState {
  if (notice.resync) {
    if (notice.seq < state.seq || (notice.tier === state.tier && notice.expiresAt === state.expiresAt)) return state;
  } else if (notice.seq <= state.seq) {
    return state;
  }
  return {
    ...state,
    tier: notice.tier,
    expiresAt: notice.expiresAt,
    seq: notice.seq,
    purchases: state.purchases + (notice.resync ? 0 : 1),
    remindersSent: notice.expiresAt === state.expiresAt ? state.remindersSent : [],
  };
}

/** The record as the expiry activity found it, when it did not expire anything (a purchase won). */
export function adoptRecord(state: VipFlowState, record: { tier: number; expiresAt: number | null; seq: number }): VipFlowState {
  if (record.seq < state.seq) return state;
  return {
    ...state,
    tier: record.tier,
    expiresAt: record.expiresAt,
    seq: record.seq,
    remindersSent: record.expiresAt === state.expiresAt ? state.remindersSent : [],
  };
}

export function expired(state: VipFlowState, at: number): VipFlowState {
  return { ...state, tier: 0, expiresAt: null, remindersSent: [], lastExpiredAt: at };
}

export function reminderKey(expiresAt: number, leadHours: number): string {
  return `${new Date(expiresAt).toISOString()}/${leadHours}h`;
}

/** The notification's idempotency key: once per user, expiry and lead, whatever retries or restarts. */
export function reminderIdempotencyKey(userId: string, expiresAt: number, leadHours: number): string {
  return `vip-reminder:${userId}:${reminderKey(expiresAt, leadHours)}`;
}

export interface DueReminder {
  leadHours: number;
  at: number;
  key: string;
}

/** The reminders of an expiry, earliest first. */
export function remindersFor(expiresAt: number, policy: VipPolicy): DueReminder[] {
  return [...policy.reminderLeadHours]
    .sort((a, b) => b - a)
    .map((leadHours) => ({ leadHours, at: expiresAt - leadHours * 3_600_000, key: reminderKey(expiresAt, leadHours) }));
}

export type VipStep =
  | { kind: 'idle' }
  | { kind: 'expire'; expiresAt: number }
  /** Send `reminder`; `skipped` are older reminders due at the same time, marked sent unsent. */
  | { kind: 'remind'; reminder: DueReminder; skipped: DueReminder[] }
  | { kind: 'wait'; until: number };

/** What the flow does next at `now`. */
export function nextVipStep(state: VipFlowState, now: number, policy: VipPolicy): VipStep {
  if (state.expiresAt === null) return { kind: 'idle' };
  if (now >= state.expiresAt) return { kind: 'expire', expiresAt: state.expiresAt };
  const pending = remindersFor(state.expiresAt, policy).filter((r) => !state.remindersSent.includes(r.key));
  const due = pending.filter((r) => r.at <= now);
  const latest = due.at(-1);
  if (latest) return { kind: 'remind', reminder: latest, skipped: due.slice(0, -1) };
  const next = pending[0];
  return { kind: 'wait', until: next ? Math.min(next.at, state.expiresAt) : state.expiresAt };
}

/** Reminders still to come for an expiry at `now` (GET /v1/me/vip). */
export function pendingReminders(expiresAt: number | null, now: number, policy: VipPolicy): { leadHours: number; at: number }[] {
  if (expiresAt === null || now >= expiresAt) return [];
  return remindersFor(expiresAt, policy)
    .filter((r) => r.at > now)
    .map(({ leadHours, at }) => ({ leadHours, at }));
}

/** One line for support (memo): tier and expiry, never names. */
export function summarizeVip(state: VipFlowState): string {
  const iso = (ms: number) => new Date(ms).toISOString();
  const purchases = `${state.purchases} purchase${state.purchases === 1 ? '' : 's'} (last #${state.seq})`;
  if (state.expiresAt === null) {
    return `not VIP${state.lastExpiredAt === null ? '' : ` (ended ${iso(state.lastExpiredAt)})`}; ${purchases}`;
  }
  const reminded = state.remindersSent.map((k) => k.split('/')[1]).join(', ');
  return `tier ${state.tier} until ${iso(state.expiresAt)}; ${purchases}; reminded: ${reminded || 'none yet'}`;
}
