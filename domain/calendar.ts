import { DateTime, IANAZone } from 'luxon';

/**
 * Calendar arithmetic in a user's time zone. Pure: every function takes the instant it
 * works on, so workflows (whose clock is deterministic) and the API share it.
 */
export type IsoDate = string; // YYYY-MM-DD in some time zone

export function isValidTimeZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

export function localDate(instantMs: number, zone: string): IsoDate {
  return DateTime.fromMillis(instantMs, { zone }).toISODate() as IsoDate;
}

export function addDays(date: IsoDate, days: number): IsoDate {
  return DateTime.fromISO(date, { zone: 'UTC' }).plus({ days }).toISODate() as IsoDate;
}

/** The instant a local calendar day starts (midnight, or the first valid minute on a DST gap). */
export function startOfLocalDay(date: IsoDate, zone: string): number {
  return DateTime.fromISO(date, { zone }).startOf('day').toMillis();
}
