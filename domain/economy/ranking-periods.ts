import { DateTime } from 'luxon';

/**
 * The periods gift rankings are counted over, all in UTC: a day (`2026-03-05`), an ISO week
 * (`2026-W10`, Monday to Monday, in the ISO week-numbering year) and a month (`2026-03`). Pure:
 * every function takes the instant it works on.
 */
export const PERIOD_KINDS = ['daily', 'weekly', 'monthly'] as const;
export type PeriodKind = (typeof PERIOD_KINDS)[number];

export interface Period {
  kind: PeriodKind;
  id: string;
  /** UTC epoch milliseconds, inclusive. */
  startsAt: number;
  /** UTC epoch milliseconds, exclusive: the next period's start. */
  endsAt: number;
}

const DAY_MS = 86_400_000;

/**
 * How long a board is kept after its period ends (Redis TTL, and how far back `at=` may ask):
 * yesterday's and last week's boards stay readable, and nothing is kept that nobody reads.
 */
export const RETENTION_AFTER_END_MS: Record<PeriodKind, number> = {
  daily: 3 * DAY_MS,
  weekly: 21 * DAY_MS,
  monthly: 92 * DAY_MS,
};

const PATTERNS: Record<PeriodKind, RegExp> = {
  daily: /^(\d{4})-(\d{2})-(\d{2})$/,
  weekly: /^(\d{4})-W(\d{2})$/,
  monthly: /^(\d{4})-(\d{2})$/,
};

const UNIT: Record<PeriodKind, 'day' | 'week' | 'month'> = { daily: 'day', weekly: 'week', monthly: 'month' };

function utc(ms: number): DateTime {
  return DateTime.fromMillis(ms, { zone: 'UTC' });
}

function idOf(kind: PeriodKind, start: DateTime): string {
  switch (kind) {
    case 'daily':
      return start.toFormat('yyyy-MM-dd');
    case 'weekly':
      return `${start.toFormat('kkkk')}-W${start.toFormat('WW')}`;
    case 'monthly':
      return start.toFormat('yyyy-MM');
  }
}

function periodStarting(kind: PeriodKind, start: DateTime): Period {
  return { kind, id: idOf(kind, start), startsAt: start.toMillis(), endsAt: start.plus({ [UNIT[kind]]: 1 }).toMillis() };
}

/** The period of this kind an instant falls in. */
export function periodAt(kind: PeriodKind, instantMs: number): Period {
  return periodStarting(kind, utc(instantMs).startOf(UNIT[kind]));
}

/** The id of the period of this kind an instant falls in. */
export function periodIdAt(kind: PeriodKind, instantMs: number): string {
  return periodAt(kind, instantMs).id;
}

/**
 * The period a written id names, or null when the id is not of this kind's form or names no
 * real period (2026-02-30, 2026-13, 2026-W54, 2021-W53 in a 52-week year). Years 1970-9999.
 */
export function parsePeriodId(kind: PeriodKind, id: string): Period | null {
  const m = PATTERNS[kind].exec(id);
  if (!m) return null;
  const year = Number(m[1]);
  if (year < 1970) return null;
  let start: DateTime;
  switch (kind) {
    case 'daily':
      start = DateTime.fromObject({ year, month: Number(m[2]), day: Number(m[3]) }, { zone: 'UTC' });
      break;
    case 'weekly':
      start = DateTime.fromObject({ weekYear: year, weekNumber: Number(m[2]), weekday: 1 }, { zone: 'UTC' });
      break;
    case 'monthly':
      start = DateTime.fromObject({ year, month: Number(m[2]), day: 1 }, { zone: 'UTC' });
      break;
  }
  if (!start.isValid) return null;
  const period = periodStarting(kind, start);
  // Luxon normalises some out-of-range parts instead of refusing them: the id must round-trip.
  return period.id === id ? period : null;
}

/** When a board of this period stops being kept (its Redis keys expire then). */
export function keptUntil(period: Period): number {
  return period.endsAt + RETENTION_AFTER_END_MS[period.kind];
}

export type PeriodChoice = { ok: true; period: Period } | { ok: false; problem: string };

/**
 * The period a ranking query asks for: the current one, or the one `at` names, which must be of
 * the same kind, not in the future, and still kept (see RETENTION_AFTER_END_MS).
 */
export function choosePeriod(kind: PeriodKind, at: string | undefined, nowMs: number): PeriodChoice {
  if (at === undefined) return { ok: true, period: periodAt(kind, nowMs) };
  const period = parsePeriodId(kind, at);
  if (!period) return { ok: false, problem: `a ${kind} period id such as ${periodIdAt(kind, nowMs)}` };
  if (period.startsAt > nowMs) return { ok: false, problem: 'a period that has started' };
  if (keptUntil(period) <= nowMs) return { ok: false, problem: `a ${kind} period from the last ${RETENTION_AFTER_END_MS[kind] / DAY_MS} days` };
  return { ok: true, period };
}
