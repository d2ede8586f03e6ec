import type { DataSource } from 'typeorm';
import { modifyReturning } from './sql';

import type { BanKind, BanState } from '../../platform/auth/access-cache';

export type { BanKind };

export interface NewBan {
  kind: BanKind;
  subject: string;
  reason: string;
  createdBy: string;
  expiresAt: Date | null;
}

export interface BanRecord {
  id: string;
  kind: BanKind;
  subject: string;
  reason: string;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  liftedAt: Date | null;
}

/** A ban as the caches need it: in force until `expiresAt` (ms, null for good), or lifted. */
export type BanChange = BanState;

interface BanRow {
  id: string;
  kind: BanKind;
  subject: string;
  reason: string;
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  lifted_at: Date | null;
}

const toRecord = (r: BanRow): BanRecord => ({
  id: r.id,
  kind: r.kind,
  subject: r.subject,
  reason: r.reason,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  liftedAt: r.lifted_at,
});

/**
 * Account, IP and device bans: the record. Rows are never deleted (the database refuses it);
 * a lift sets lifted_at, and a new ban of a subject lifts the one in force before it.
 */
export class AccountBans {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Records a ban, replacing any in force for the same subject. A user ban also marks the
   * account banned, in the same transaction.
   */
  async record(ban: NewBan): Promise<BanRecord> {
    return this.dataSource.transaction(async (tx) => {
      await tx.query(
        `UPDATE account_bans SET lifted_at = now(), lifted_by = $3, changed_at = now()
          WHERE kind = $1 AND subject = $2 AND lifted_at IS NULL`,
        [ban.kind, ban.subject, ban.createdBy],
      );
      const [row] = await modifyReturning<BanRow>(
        tx,
        `INSERT INTO account_bans (kind, subject, reason, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id::text AS id, kind, subject, reason, created_by, created_at, expires_at, lifted_at`,
        [ban.kind, ban.subject, ban.reason, ban.createdBy, ban.expiresAt],
      );
      if (ban.kind === 'user') {
        await tx.query(`UPDATE users SET status = 'banned', updated_at = now() WHERE id = $1`, [ban.subject]);
      }
      return toRecord(row!);
    });
  }

  /** Lifts the ban in force for a subject; false if there was none. A user's account is active again. */
  async lift(kind: BanKind, subject: string, liftedBy: string): Promise<boolean> {
    return this.dataSource.transaction(async (tx) => {
      const rows = await modifyReturning<{ id: string }>(
        tx,
        `UPDATE account_bans SET lifted_at = now(), lifted_by = $3, changed_at = now()
          WHERE kind = $1 AND subject = $2 AND lifted_at IS NULL
          RETURNING id::text AS id`,
        [kind, subject, liftedBy],
      );
      if (rows.length > 0 && kind === 'user') {
        await tx.query(`UPDATE users SET status = 'active', updated_at = now() WHERE id = $1 AND status = 'banned'`, [subject]);
      }
      return rows.length > 0;
    });
  }

  /** The ban in force for a subject, if any (expired ones included: they are not lifted). */
  async inForce(kind: BanKind, subject: string): Promise<BanRecord | null> {
    const rows: BanRow[] = await this.dataSource.query(
      `SELECT id::text AS id, kind, subject, reason, created_by, created_at, expires_at, lifted_at
         FROM account_bans WHERE kind = $1 AND subject = $2 AND lifted_at IS NULL`,
      [kind, subject],
    );
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /** Every ban in force now, for rebuilding a cache. */
  async active(): Promise<{ bans: BanChange[]; cursor: Date }> {
    const rows: (ChangeRow & { cursor: Date })[] = await this.dataSource.query(
      `SELECT b.id::text AS id, b.kind, b.subject, b.expires_at, true AS in_force, c.now AS cursor
         FROM (SELECT now()) AS c (now)
         LEFT JOIN account_bans b ON b.lifted_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > c.now)`,
    );
    return { bans: this.changes(rows.filter((r) => r.id !== null)), cursor: rows[0]!.cursor };
  }

  /**
   * Bans that changed at or after `since` (PostgreSQL's clock, as `cursor` returned it last
   * time), oldest change first, and the cursor for next time. `now()` is a transaction's start,
   * so a change can commit a little after a later-stamped one: callers ask with some overlap.
   */
  async changedSince(since: Date): Promise<{ changes: BanChange[]; cursor: Date }> {
    const rows: (ChangeRow & { cursor: Date })[] = await this.dataSource.query(
      `SELECT b.id::text AS id, b.kind, b.subject, b.expires_at, (b.lifted_at IS NULL) AS in_force, c.now AS cursor
         FROM (SELECT now()) AS c (now)
         LEFT JOIN account_bans b ON b.changed_at >= $1
        ORDER BY b.id`,
      [since],
    );
    return { changes: this.changes(rows.filter((r) => r.id !== null)), cursor: rows[0]!.cursor };
  }

  private changes(rows: ChangeRow[]): BanChange[] {
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      subject: r.subject,
      expiresAt: r.expires_at ? r.expires_at.getTime() : null,
      inForce: r.in_force,
    }));
  }
}

interface ChangeRow {
  id: string;
  kind: BanKind;
  subject: string;
  expires_at: Date | null;
  in_force: boolean;
}
