/**
 * Gift settlement rules, shared by the settlement workflow, its activities and support tooling.
 *
 * The grain is one flow per receiver and UTC day of receipt (`settlement:<receiverId>:<day>`),
 * started by a scheduled dispatcher, never by a send: a room's gift storm adds rows to
 * `gift_receipts`, not workflow starts, and a receiver gets at most one start and one ledger
 * entry per day however many gifts arrive. The cost is latency: the day's receipts settle
 * together once the last of them can have matured (the day's end plus the hold), so a gift
 * received early in the day waits up to 24 h longer than its own hold.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

export type UtcDay = string; // YYYY-MM-DD, UTC

export interface ReceiptTally {
  receipts: number;
  diamonds: number;
}

/** One receiver-day's receipts by state, read from PostgreSQL (the record). */
export interface ReceiverDayTotals {
  pending: ReceiptTally & { latestHoldUntil: string | null };
  held: ReceiptTally;
  settled: ReceiptTally;
  reversed: ReceiptTally;
}

export type SettlementPhase = 'waiting' | 'retrying' | 'done';

/** What the flow knows; plain JSON (the `status` query returns it). */
export interface GiftSettlementState {
  receiverId: string;
  day: UtcDay;
  phase: SettlementPhase;
  /** When the flow settles next (epoch ms). */
  settlesAt: number;
  /** The day's totals at the last read; null before the first. */
  totals: ReceiverDayTotals | null;
  /** When the last settlement ran (epoch ms), null before it. */
  lastSettledAt: number | null;
  /** Consecutive failed settlement attempts (each after the activity's own retries). */
  failures: number;
  /** The last failure's stable code, never its message (which may quote data). */
  lastErrorType: string | null;
}

export function settlementWorkflowId(receiverId: string, day: UtcDay): string {
  return `settlement:${receiverId}:${day}`;
}

export function isUtcDay(day: string): boolean {
  if (!DAY_PATTERN.test(day)) return false;
  const ms = Date.parse(`${day}T00:00:00Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === day;
}

export function utcDayOf(instantMs: number): UtcDay {
  return new Date(instantMs).toISOString().slice(0, 10);
}

/** [start, end) of a UTC day in epoch ms. */
export function utcDayBounds(day: UtcDay): { startMs: number; endMs: number } {
  if (!isUtcDay(day)) throw new RangeError(`not a calendar day: ${day}`);
  const startMs = Date.parse(`${day}T00:00:00Z`);
  return { startMs, endMs: startMs + DAY_MS };
}

/** When every receipt of the day has matured, if the hold stays as it is: the day's end plus the hold. */
export function settlementDueAt(day: UtcDay, holdHours: number): number {
  return utcDayBounds(day).endMs + Math.round(holdHours * HOUR_MS);
}

/** After a failed attempt (the activity's own retries spent): 5 min, 10, 20, ... at most 6 h. */
export function settlementRetryDelayMs(failures: number): number {
  return Math.min(5 * 60_000 * 2 ** Math.max(0, failures - 1), 6 * HOUR_MS);
}

export function initialSettlementState(receiverId: string, day: UtcDay, holdHours: number): GiftSettlementState {
  return {
    receiverId,
    day,
    phase: 'waiting',
    settlesAt: settlementDueAt(day, holdHours),
    totals: null,
    lastSettledAt: null,
    failures: 0,
    lastErrorType: null,
  };
}

/**
 * One line for the Web UI (`setCurrentDetails`): counts and instants only, no names or numbers
 * that identify anyone; the receiver is already the workflow id and the `UserId` attribute.
 */
export function summarizeSettlement(state: GiftSettlementState): string {
  const head = `day ${state.day}`;
  const t = state.totals;
  const extras = t ? [...(t.reversed.receipts ? [`${count(t.reversed.receipts)} reversed`] : []), ...(t.held.receipts ? [`${count(t.held.receipts)} held for review`] : [])] : [];
  const tail = extras.length ? `; ${extras.join('; ')}` : '';
  if (state.phase === 'done') {
    const settled = t?.settled ?? { receipts: 0, diamonds: 0 };
    const at = state.lastSettledAt === null ? '' : ` at ${utcMinute(state.lastSettledAt)}`;
    return `${head}: ${gifts(settled.receipts)}, ${count(settled.diamonds)} diamonds settled${at}${tail}`;
  }
  if (state.phase === 'retrying') {
    const times = state.failures === 1 ? 'once' : `${count(state.failures)} times`;
    return `${head}: settlement failed ${times} (${state.lastErrorType ?? 'error'}); retrying at ${utcMinute(state.settlesAt)}${tail}`;
  }
  const pending = t ? `${gifts(t.pending.receipts)}, ${count(t.pending.diamonds)} diamonds pending` : 'gifts pending';
  const settled = t?.settled.receipts ? `; ${count(t.settled.diamonds)} diamonds settled` : '';
  return `${head}: ${pending}; settles at ${utcMinute(state.settlesAt)}${settled}${tail}`;
}

function gifts(n: number): string {
  return `${count(n)} ${n === 1 ? 'gift' : 'gifts'}`;
}

/** 3400 → "3,400" (no Intl: the same output in the workflow sandbox and everywhere else). */
export function count(n: number): string {
  const digits = String(Math.trunc(Math.abs(n)));
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 ? `-${grouped}` : grouped;
}

/** "2026-12-06 00:00 UTC" */
export function utcMinute(instantMs: number): string {
  const iso = new Date(instantMs).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}
