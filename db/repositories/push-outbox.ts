import type { DataSource, EntityManager } from 'typeorm';
import { modifyReturning } from './sql';

/** A claimed push, with what the send needs and what may have changed since it was queued. */
export interface ClaimedPush {
  id: string;
  token: string;
  /** Rounds claimed so far, this one included. */
  rounds: number;
  queuedAt: Date;
  notification: { id: string; userId: string; kind: string; title: string; body: string; data: Record<string, unknown> | null };
  /** The token still belongs to the notification's user (it may have moved to another account). */
  tokenStillTheirs: boolean;
  /** The user has since turned push off for this kind. */
  pushTurnedOff: boolean;
}

/**
 * Pushes waiting to be sent: one row per notification and token, queued in the notification's
 * own transaction. Workers claim due rows with a lease (SKIP LOCKED, so several workers never
 * claim the same row); a row leaves when sent or given up. A worker that dies holding a claim
 * leaves it for another once the lease passes: a push may then go out twice, never not at all.
 */
export class PushOutbox {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Queues the notification for each of the user's tokens, unless they turned push off for the
   * kind. Idempotent per notification and token. Returns how many were queued.
   */
  async enqueue(tx: EntityManager, notification: { id: string; userId: string; kind: string }): Promise<number> {
    const rows: unknown[] = await tx.query(
      `INSERT INTO push_outbox (notification_id, token)
       SELECT $1, t.token FROM push_tokens t
        WHERE t.user_id = $2
          AND NOT EXISTS (SELECT 1 FROM notification_preferences p WHERE p.user_id = $2 AND p.kind = $3 AND NOT p.push)
       ON CONFLICT (notification_id, token) DO NOTHING
       RETURNING 1`,
      [notification.id, notification.userId, notification.kind],
    );
    return rows.length;
  }

  /** Claims up to `batch` due pushes for `leaseMs`; each claim counts a round. */
  async claim(batch: number, leaseMs: number): Promise<ClaimedPush[]> {
    const claimed = await modifyReturning<{ id: string }>(
      this.dataSource.manager,
      `WITH due AS (
         SELECT id FROM push_outbox WHERE next_attempt_at <= now()
          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       UPDATE push_outbox o SET attempts = o.attempts + 1, next_attempt_at = now() + $2 * interval '1 millisecond'
         FROM due WHERE o.id = due.id
       RETURNING o.id`,
      [batch, leaseMs],
    );
    if (claimed.length === 0) return [];
    const rows: {
      id: string;
      token: string;
      attempts: number;
      created_at: Date;
      notification_id: string;
      user_id: string;
      kind: string;
      title: string;
      body: string;
      data: Record<string, unknown> | null;
      token_user: string | null;
      push_off: boolean;
    }[] = await this.dataSource.query(
      `SELECT o.id, o.token, o.attempts, o.created_at, n.id AS notification_id, n.user_id, n.kind, n.title, n.body, n.data,
              t.user_id AS token_user,
              EXISTS (SELECT 1 FROM notification_preferences p WHERE p.user_id = n.user_id AND p.kind = n.kind AND NOT p.push) AS push_off
         FROM push_outbox o
         JOIN notifications n ON n.id = o.notification_id
         LEFT JOIN push_tokens t ON t.token = o.token
        WHERE o.id = ANY($1::bigint[])
        ORDER BY o.id`,
      [claimed.map((c) => c.id)],
    );
    return rows.map((r) => ({
      id: String(r.id),
      token: r.token,
      rounds: r.attempts,
      queuedAt: r.created_at,
      notification: { id: r.notification_id, userId: r.user_id, kind: r.kind, title: r.title, body: r.body, data: r.data },
      tokenStillTheirs: r.token_user === r.user_id,
      pushTurnedOff: r.push_off,
    }));
  }

  /** Sent, or given up: the row leaves. */
  async finish(id: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM push_outbox WHERE id = $1`, [id]);
  }

  /** Another round at `at`; `error` says why (no token in it). */
  async retryAt(id: string, at: Date, error: string): Promise<void> {
    await this.dataSource.query(`UPDATE push_outbox SET next_attempt_at = $2, last_error = left($3, 300) WHERE id = $1`, [id, at, error]);
  }
}
