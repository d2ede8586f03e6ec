import { AppError, ErrorCode } from '../../domain/errors';
import { isoInstant } from '../../domain/input/fields';

/** One page of a keyset-paginated list; pass `nextCursor` back to get the next page. */
export interface Page<T> {
  items: T[];
  /** Null on the last page. */
  nextCursor: string | null;
}

/** What one position in a cursor holds; each is checked when the cursor comes back. */
export type CursorPart = 'timestamp' | 'uuid' | 'bigint';

const PART_PATTERNS: Record<CursorPart, RegExp> = {
  // Microsecond precision, as Postgres stores it: a JS Date (milliseconds) would skip or repeat rows.
  timestamp: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/,
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  bigint: /^[1-9]\d{0,17}$/,
};

/**
 * SQL that renders a timestamptz column as a cursor timestamp (UTC, microseconds), for
 * `SELECT ${cursorTimestamp('created_at')} AS created_key`.
 */
export function cursorTimestamp(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/** Opaque to clients: base64url of the key of the last row returned. */
export function encodeCursor(parts: readonly string[]): string {
  return Buffer.from(JSON.stringify(parts), 'utf8').toString('base64url');
}

/**
 * The key inside a cursor, or null when no cursor was given. A cursor that is not one of
 * ours (or not of this list's shape) is the caller's mistake: 400.
 */
export function decodeCursor(cursor: string | undefined | null, shape: readonly CursorPart[]): string[] | null {
  if (cursor === undefined || cursor === null || cursor === '') return null;
  const invalid = () => new AppError(ErrorCode.ValidationFailed, 'cursor is not valid');
  if (cursor.length > 512 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== shape.length) throw invalid();
  const parts: string[] = [];
  for (const [i, kind] of shape.entries()) {
    const value: unknown = parsed[i];
    if (typeof value !== 'string' || !PART_PATTERNS[kind].test(value)) throw invalid();
    // The shape alone lets 2026-02-30 or 25:00 through, which PostgreSQL would refuse with an error.
    if (kind === 'timestamp' && !isoInstant.safeParse(value).success) throw invalid();
    parts.push(value);
  }
  return parts;
}

/**
 * Turns `limit + 1` fetched rows into a page: the extra row only says whether there is more.
 * `keyOf` gives the cursor key of a row (the last one returned).
 */
export function toPage<R, T>(rows: R[], limit: number, keyOf: (row: R) => string[], view: (row: R) => T): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const last = kept[kept.length - 1];
  return { items: kept.map(view), nextCursor: more && last !== undefined ? encodeCursor(keyOf(last)) : null };
}

/** Limits come validated from the API; this keeps a direct caller from asking for everything. */
export function pageLimit(limit: number, max = 100): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new AppError(ErrorCode.ValidationFailed, `limit must be an integer from 1 to ${max}`);
  }
  return limit;
}

const UUID = PART_PATTERNS.uuid;

/** Postgres rejects a malformed uuid with an error; lookups treat it as "no such row" instead. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
