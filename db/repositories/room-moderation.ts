import type { DataSource, EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '../../domain/errors';
import type { ModerationAction } from '../../domain/rooms/permissions';
import { decodeCursor, isUuid, pageLimit, toPage, type Page } from './pagination';
import { PG_FOREIGN_KEY_VIOLATION, isPgError } from './pg-errors';

export interface ModerationEntry {
  roomId: string;
  actorId: string;
  action: ModerationAction;
  targetUserId?: string | null;
  targetMessageId?: string | null;
  details?: Record<string, unknown>;
}

export interface ModerationRecord {
  id: string;
  actorId: string;
  action: ModerationAction;
  targetUserId: string | null;
  targetMessageId: string | null;
  details: Record<string, unknown>;
  createdAt: string;
}

export const REPORT_REASONS = ['spam', 'harassment', 'hate', 'sexual', 'violence', 'other'] as const;
export type ReportReason = (typeof REPORT_REASONS)[number];

export interface NewReport {
  reporterId: string;
  roomId?: string | null;
  targetUserId?: string | null;
  targetMessageId?: string | null;
  reason: ReportReason;
  details?: string | null;
}

const isMessageId = (id: string) => /^[1-9]\d{0,17}$/.test(id);

/** Each room's moderation audit trail. The database refuses to change or delete an entry. */
export class ModerationLog {
  constructor(private readonly dataSource: DataSource) {}

  /** Pass `tx` to record inside the transaction that makes the change, so both or neither happen. */
  async record(entry: ModerationEntry, tx?: EntityManager): Promise<void> {
    const manager = tx ?? this.dataSource.manager;
    await manager.query(
      `INSERT INTO room_moderation_log (room_id, actor_id, action, target_user_id, target_message_id, details)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
      [
        entry.roomId,
        entry.actorId,
        entry.action,
        entry.targetUserId ?? null,
        entry.targetMessageId ?? null,
        JSON.stringify(entry.details ?? {}),
      ],
    );
  }

  /**
   * Runs `change` and records its audit entry in one transaction, so both commit or neither
   * does. An entry given as a value is written first (a failing write stops the change before
   * it starts); one given as a function is written after, from what the change returned (null:
   * nothing changed, nothing to record).
   */
  async audited<T>(change: (tx: EntityManager) => Promise<T>, entry: ModerationEntry | ((result: T) => ModerationEntry | null)): Promise<T> {
    return this.dataSource.transaction(async (tx) => {
      if (typeof entry !== 'function') await this.record(entry, tx);
      const result = await change(tx);
      const after = typeof entry === 'function' ? entry(result) : null;
      if (after) await this.record(after, tx);
      return result;
    });
  }

  /** Newest first. */
  async list(roomId: string, page: { cursor?: string; limit: number }): Promise<Page<ModerationRecord>> {
    const limit = pageLimit(page.limit);
    const before = decodeCursor(page.cursor, ['bigint']);
    if (!isUuid(roomId)) return { items: [], nextCursor: null };
    const rows: {
      id: string;
      actor_id: string;
      action: ModerationAction;
      target_user_id: string | null;
      target_message_id: string | null;
      details: Record<string, unknown>;
      created_at: Date;
    }[] = await this.dataSource.query(
      `SELECT id::text AS id, actor_id, action, target_user_id, target_message_id::text AS target_message_id, details, created_at
         FROM room_moderation_log
        WHERE room_id = $1 AND ($2::bigint IS NULL OR id < $2::bigint)
        ORDER BY room_moderation_log.id DESC -- the bigint, not the text output column of the same name
        LIMIT $3`,
      [roomId, before?.[0] ?? null, limit + 1],
    );
    return toPage(
      rows,
      limit,
      (r) => [r.id],
      (r) => ({
        id: r.id,
        actorId: r.actor_id,
        action: r.action,
        targetUserId: r.target_user_id,
        targetMessageId: r.target_message_id,
        details: r.details,
        createdAt: r.created_at.toISOString(),
      }),
    );
  }
}

/** Reports users file about rooms, people and messages, queued for review. */
export class Reports {
  constructor(private readonly dataSource: DataSource) {}

  async file(input: NewReport): Promise<{ id: string }> {
    const roomId = input.roomId ?? null;
    const targetUserId = input.targetUserId ?? null;
    const targetMessageId = input.targetMessageId ?? null;
    if (roomId === null && targetUserId === null && targetMessageId === null) {
      throw new AppError(ErrorCode.ValidationFailed, 'a report needs a room, a user or a message');
    }
    if (roomId !== null && !isUuid(roomId)) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
    if (targetUserId !== null && !isUuid(targetUserId)) throw new AppError(ErrorCode.UserNotFound, 'no such user');
    if (targetMessageId !== null && !isMessageId(targetMessageId)) throw new AppError(ErrorCode.MessageNotFound, 'no such message');
    try {
      const [row]: { id: string }[] = await this.dataSource.query(
        `INSERT INTO reports (reporter_id, room_id, target_user_id, target_message_id, reason, details)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id::text AS id`,
        [input.reporterId, roomId, targetUserId, targetMessageId, input.reason, input.details ?? null],
      );
      return { id: row!.id };
    } catch (err) {
      if (isPgError(err, PG_FOREIGN_KEY_VIOLATION, 'room_id')) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
      if (isPgError(err, PG_FOREIGN_KEY_VIOLATION, 'target_user_id')) throw new AppError(ErrorCode.UserNotFound, 'no such user');
      if (isPgError(err, PG_FOREIGN_KEY_VIOLATION, 'target_message_id')) throw new AppError(ErrorCode.MessageNotFound, 'no such message');
      if (isPgError(err, PG_FOREIGN_KEY_VIOLATION, 'reporter_id')) throw new AppError(ErrorCode.UserNotFound, 'the reporter does not exist');
      throw err;
    }
  }
}

/** A room's mutes in force, as a rebuilt live state applies them. */
export interface RoomMuteRecords {
  /** Timed chat mutes still running (`until` in ms). */
  chatMutes: { userId: string; until: number }[];
  /** Speakers a moderator muted: the mute follows them to any seat. */
  seatMutes: string[];
  muteAll: boolean;
}

/**
 * Chat mutes, moderators' seat mutes and mute-all: the record (Redis holds the live copy and
 * is rebuilt from here). Writes take the transaction that also writes the audit row.
 */
export class RoomMutes {
  constructor(private readonly dataSource: DataSource) {}

  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  /** A mute names a user who exists: anyone else is a 404, not a failed insert. */
  private async write(tx: EntityManager, sql: string, params: unknown[]): Promise<void> {
    try {
      await tx.query(sql, params);
    } catch (err) {
      if (isPgError(err, PG_FOREIGN_KEY_VIOLATION, 'user_id')) throw new AppError(ErrorCode.UserNotFound, 'no such user');
      if (isPgError(err, PG_FOREIGN_KEY_VIOLATION, 'room_id')) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
      throw err;
    }
  }

  /** Mutes `userId`'s chat until `until`, or lifts the mute (null). */
  async setChatMute(tx: EntityManager, roomId: string, userId: string, until: Date | null, by: string): Promise<void> {
    if (until === null) {
      await tx.query(`DELETE FROM room_chat_mutes WHERE room_id = $1 AND user_id = $2`, [roomId, userId]);
      return;
    }
    await this.write(
      tx,
      `INSERT INTO room_chat_mutes (room_id, user_id, muted_until, muted_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (room_id, user_id) DO UPDATE SET muted_until = EXCLUDED.muted_until, muted_by = EXCLUDED.muted_by, muted_at = now()`,
      [roomId, userId, until, by],
    );
  }

  async setSeatMute(tx: EntityManager, roomId: string, userId: string, muted: boolean, by: string): Promise<void> {
    if (!muted) {
      await tx.query(`DELETE FROM room_seat_mutes WHERE room_id = $1 AND user_id = $2`, [roomId, userId]);
      return;
    }
    await this.write(
      tx,
      `INSERT INTO room_seat_mutes (room_id, user_id, muted_by) VALUES ($1, $2, $3)
       ON CONFLICT (room_id, user_id) DO UPDATE SET muted_by = EXCLUDED.muted_by, muted_at = now()`,
      [roomId, userId, by],
    );
  }

  async setMuteAll(tx: EntityManager, roomId: string, on: boolean, by: string): Promise<void> {
    if (!on) {
      await tx.query(`DELETE FROM room_mute_all WHERE room_id = $1`, [roomId]);
      return;
    }
    await this.write(
      tx,
      `INSERT INTO room_mute_all (room_id, muted_by) VALUES ($1, $2)
       ON CONFLICT (room_id) DO UPDATE SET muted_by = EXCLUDED.muted_by, muted_at = now()`,
      [roomId, by],
    );
  }

  /** The mutes in force in a room now (a chat mute past its PostgreSQL expiry is over). */
  async inForce(roomId: string): Promise<RoomMuteRecords> {
    if (!isUuid(roomId)) return { chatMutes: [], seatMutes: [], muteAll: false };
    const [chat, seats, all]: [{ user_id: string; until_ms: string }[], { user_id: string }[], unknown[]] = await Promise.all([
      this.dataSource.query(
        `SELECT user_id, (extract(epoch FROM muted_until) * 1000)::bigint::text AS until_ms
           FROM room_chat_mutes WHERE room_id = $1 AND muted_until > now()`,
        [roomId],
      ),
      this.dataSource.query(`SELECT user_id FROM room_seat_mutes WHERE room_id = $1`, [roomId]),
      this.dataSource.query(`SELECT 1 FROM room_mute_all WHERE room_id = $1`, [roomId]),
    ]);
    return {
      chatMutes: chat.map((r) => ({ userId: r.user_id, until: Number(r.until_ms) })),
      seatMutes: seats.map((r) => r.user_id),
      muteAll: all.length > 0,
    };
  }
}
