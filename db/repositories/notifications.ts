import type { DataSource } from 'typeorm';
import { cursorTimestamp, decodeCursor, isUuid, pageLimit, toPage, type Page } from './pagination';
import { modifyReturning } from './sql';

/** One row of a user's notification list, as the API shows it. */
export interface NotificationView {
  id: string;
  kind: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
  /** Null while unread. */
  readAt: string | null;
  createdAt: string;
}

interface NotificationRow {
  id: string;
  kind: string;
  title: string;
  body: string;
  data: Record<string, unknown> | null;
  read_at: Date | null;
  created_at: Date;
  created_key: string;
}

/** The unread count stops counting here: a badge shows "9999+" past it, and the count stays cheap. */
export const UNREAD_COUNT_CAP = 9999;

const COLUMNS = `id, kind, title, body, data, read_at, created_at, ${cursorTimestamp('created_at')} AS created_key`;

function view(r: NotificationRow): NotificationView {
  return { id: r.id, kind: r.kind, title: r.title, body: r.body, data: r.data ?? {}, readAt: r.read_at?.toISOString() ?? null, createdAt: r.created_at.toISOString() };
}

/**
 * A user's notification list: read newest first, counted while unread, marked read one at a
 * time or up to a moment. Every statement is scoped by the user, so another user's row is
 * simply not there. Rows are written by the notifiers (services/notifications).
 */
export class NotificationList {
  constructor(private readonly dataSource: DataSource) {}

  async list(userId: string, page: { cursor?: string; limit: number }): Promise<Page<NotificationView>> {
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, ['timestamp', 'uuid']);
    const rows: NotificationRow[] = await this.dataSource.query(
      `SELECT ${COLUMNS}
         FROM notifications
        WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
        ORDER BY created_at DESC, id DESC
        LIMIT $4`,
      [userId, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(rows, limit, (r) => [r.created_key, r.id], view);
  }

  /** Unread rows, counted up to UNREAD_COUNT_CAP (an index-only walk of the unread partial index). */
  async unreadCount(userId: string): Promise<number> {
    const [row]: { n: number }[] = await this.dataSource.query(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM notifications WHERE user_id = $1 AND read_at IS NULL LIMIT $2) unread`,
      [userId, UNREAD_COUNT_CAP],
    );
    return row?.n ?? 0;
  }

  /** Marks one of the user's rows read (a row read before keeps its first time); null when the user has no such row. */
  async markRead(userId: string, id: string): Promise<NotificationView | null> {
    if (!isUuid(id)) return null;
    const rows = await modifyReturning<NotificationRow>(
      this.dataSource.manager,
      `UPDATE notifications SET read_at = coalesce(read_at, now())
        WHERE id = $1 AND user_id = $2
        RETURNING ${COLUMNS}`,
      [id, userId],
    );
    return rows[0] ? view(rows[0]) : null;
  }

  /**
   * Marks every unread row read, or only those created up to `upTo` (inclusive, to the
   * millisecond as `createdAt` shows it): what the user saw stays the limit, so a row that
   * arrived meanwhile stays unread. Returns how many rows changed.
   */
  async markAllRead(userId: string, upTo?: string): Promise<number> {
    const rows = await modifyReturning<unknown>(
      this.dataSource.manager,
      `UPDATE notifications SET read_at = now()
        WHERE user_id = $1 AND read_at IS NULL
          AND ($2::timestamptz IS NULL OR created_at < $2::timestamptz + interval '1 millisecond')
        RETURNING 1`,
      [userId, upTo ?? null],
    );
    return rows.length;
  }
}

/**
 * Per-kind push settings. No row means push on; the row in the list is written either way
 * (turning push off only keeps the phone quiet).
 */
export class NotificationPreferences {
  constructor(private readonly dataSource: DataSource) {}

  /** Push on/off for each of `kinds`. */
  async push(userId: string, kinds: readonly string[]): Promise<Record<string, boolean>> {
    const rows: { kind: string; push: boolean }[] = await this.dataSource.query(`SELECT kind, push FROM notification_preferences WHERE user_id = $1`, [userId]);
    const saved = new Map(rows.map((r) => [r.kind, r.push]));
    return Object.fromEntries(kinds.map((k) => [k, saved.get(k) ?? true]));
  }

  /** Sets the kinds named; the others keep their setting. */
  async setPush(userId: string, changes: Record<string, boolean>): Promise<void> {
    const entries = Object.entries(changes);
    if (entries.length === 0) return;
    await this.dataSource.query(
      `INSERT INTO notification_preferences (user_id, kind, push)
       SELECT $1, c.kind, c.push FROM unnest($2::text[], $3::boolean[]) AS c(kind, push)
       ON CONFLICT (user_id, kind) DO UPDATE SET push = EXCLUDED.push, updated_at = now()`,
      [userId, entries.map(([k]) => k), entries.map(([, v]) => v)],
    );
  }
}
