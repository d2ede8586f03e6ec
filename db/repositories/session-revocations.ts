import type { DataSource } from 'typeorm';

/** A revoked session, and when (PostgreSQL's clock, ms) it was revoked. */
export interface Revocation {
  sessionId: string;
  revokedAt: number;
}

/** Reads of the sessions table that the in-process revocation caches need (the record is `sessions.revoked_at`). */
export class SessionRevocations {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Sessions revoked at or after `since` and the cursor for the next call (PostgreSQL's now).
   * Callers ask with some overlap: `now()` is when a revoking transaction started, not when
   * it committed.
   */
  async since(since: Date): Promise<{ revocations: Revocation[]; cursor: Date }> {
    const rows: { id: string | null; revoked_at: Date | null; cursor: Date }[] = await this.dataSource.query(
      `SELECT s.id, s.revoked_at, c.now AS cursor
         FROM (SELECT now()) AS c (now)
         LEFT JOIN sessions s ON s.revoked_at >= $1`,
      [since],
    );
    return {
      revocations: rows.filter((r) => r.id !== null).map((r) => ({ sessionId: r.id!, revokedAt: r.revoked_at!.getTime() })),
      cursor: rows[0]!.cursor,
    };
  }

  /** Which of these sessions are revoked: the record, asked directly while a cache can't answer. */
  async revokedAmong(sessionIds: string[]): Promise<Set<string>> {
    const ids = sessionIds.filter((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id));
    if (ids.length === 0) return new Set();
    const rows: { id: string }[] = await this.dataSource.query(
      `SELECT id FROM sessions WHERE id = ANY($1::uuid[]) AND revoked_at IS NOT NULL`,
      [ids],
    );
    return new Set(rows.map((r) => r.id));
  }
}
