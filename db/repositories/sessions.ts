import type { DataSource, EntityManager } from 'typeorm';
import { modifyReturning } from './sql';

export interface DeviceInfo {
  deviceId?: string;
  deviceName?: string;
  ip?: string;
}

export interface SessionRow {
  id: string;
  userId: string;
  deviceId: string | null;
  deviceName: string | null;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
}

export type RefreshLookup =
  | { kind: 'unknown' }
  | { kind: 'current'; sessionId: string; userId: string }
  | { kind: 'rotated'; sessionId: string; userId: string; rotatedAt: Date }
  | { kind: 'dead'; sessionId: string; userId: string };

/** Sessions (one per device sign-in) and their refresh-token family, stored as hashes. */
export class SessionStore {
  constructor(private readonly dataSource: DataSource) {}

  /** A new session with its first refresh token; inside `tx` when given (a sign-in that also creates the user). */
  async create(userId: string, device: DeviceInfo, expiresAt: Date, firstTokenHash: string, tx?: EntityManager): Promise<string> {
    if (!tx) return this.dataSource.transaction((own) => this.create(userId, device, expiresAt, firstTokenHash, own));
    const [row]: { id: string }[] = await tx.query(
      `INSERT INTO sessions (user_id, device_id, device_name, ip, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
      [userId, device.deviceId ?? null, device.deviceName ?? null, device.ip ?? null, expiresAt],
    );
    await tx.query(`INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)`, [firstTokenHash, row!.id]);
    return row!.id;
  }

  /**
   * The session a first refresh token opened, if it exists: how a retried sign-in recognises
   * that its earlier attempt committed. `withNewUser`: the user was created in the same
   * transaction (both rows carry its start time).
   */
  async openedBy(firstTokenHash: string): Promise<{ sessionId: string; userId: string; withNewUser: boolean } | null> {
    const rows: { session_id: string; user_id: string; with_new_user: boolean }[] = await this.dataSource.query(
      `SELECT s.id AS session_id, s.user_id, (u.created_at = s.created_at) AS with_new_user
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id
        WHERE t.token_hash = $1`,
      [firstTokenHash],
    );
    const row = rows[0];
    return row ? { sessionId: row.session_id, userId: row.user_id, withNewUser: row.with_new_user } : null;
  }

  async lookup(tokenHash: string, manager: EntityManager = this.dataSource.manager): Promise<RefreshLookup> {
    const rows: { session_id: string; user_id: string; rotated_at: Date | null; revoked_at: Date | null; expires_at: Date }[] =
      await manager.query(
        `SELECT t.session_id, s.user_id, t.rotated_at, s.revoked_at, s.expires_at
           FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
          WHERE t.token_hash = $1`,
        [tokenHash],
      );
    const row = rows[0];
    if (!row) return { kind: 'unknown' };
    if (row.revoked_at || row.expires_at.getTime() <= Date.now()) return { kind: 'dead', sessionId: row.session_id, userId: row.user_id };
    if (row.rotated_at) return { kind: 'rotated', sessionId: row.session_id, userId: row.user_id, rotatedAt: row.rotated_at };
    return { kind: 'current', sessionId: row.session_id, userId: row.user_id };
  }

  /**
   * Swaps the token for a new one. Only one of two concurrent rotations of the same token
   * wins (the conditional UPDATE); the loser sees it as already rotated.
   */
  async rotate(oldHash: string, newHash: string, sessionId: string): Promise<boolean> {
    return this.dataSource.transaction(async (tx) => {
      const rotated = await modifyReturning(
        tx,
        `UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1 AND rotated_at IS NULL RETURNING 1`,
        [oldHash],
      );
      if (rotated.length === 0) return false;
      await tx.query(`INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)`, [newHash, sessionId]);
      await tx.query(`UPDATE sessions SET last_used_at = now() WHERE id = $1`, [sessionId]);
      return true;
    });
  }

  /** Adds a token to a family without rotating (a retried refresh inside the grace window). */
  async addToken(sessionId: string, tokenHash: string): Promise<void> {
    await this.dataSource.query(`INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)`, [tokenHash, sessionId]);
  }

  async revoke(sessionId: string, reason: string, userId?: string): Promise<boolean> {
    const rows = await modifyReturning(
      this.dataSource.manager,
      `UPDATE sessions SET revoked_at = now(), revoke_reason = $2
        WHERE id = $1 AND revoked_at IS NULL AND ($3::uuid IS NULL OR user_id = $3) RETURNING 1`,
      [sessionId, reason, userId ?? null],
    );
    return rows.length > 0;
  }

  async revokeAll(userId: string, reason: string): Promise<string[]> {
    const rows = await modifyReturning<{ id: string }>(
      this.dataSource.manager,
      `UPDATE sessions SET revoked_at = now(), revoke_reason = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id`,
      [userId, reason],
    );
    return rows.map((r) => r.id);
  }

  async isActive(sessionId: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `SELECT 1 FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()`,
      [sessionId],
    );
    return rows.length > 0;
  }

  async listActive(userId: string): Promise<SessionRow[]> {
    const rows: { id: string; user_id: string; device_id: string | null; device_name: string | null; created_at: Date; last_used_at: Date; expires_at: Date }[] =
      await this.dataSource.query(
        `SELECT id, user_id, device_id, device_name, created_at, last_used_at, expires_at FROM sessions
          WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() ORDER BY last_used_at DESC LIMIT 100`,
        [userId],
      );
    return rows.map((r) => ({
      id: r.id,
      userId: r.user_id,
      deviceId: r.device_id,
      deviceName: r.device_name,
      createdAt: r.created_at.toISOString(),
      lastUsedAt: r.last_used_at.toISOString(),
      expiresAt: r.expires_at.toISOString(),
    }));
  }
}
