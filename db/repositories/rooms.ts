import type { DataSource, EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '../../domain/errors';
import type { RoomRole, RoomStatus, RoomType, RoomView, SeatMode } from '../../domain/rooms/model';
import type { PlaylistPolicy } from '../../domain/media/playback';
import { hashRoomPassword, verifyRoomPassword } from '../../platform/crypto/room-passwords';
import type { RoomClosedReason } from '../entities';
import { PG_FOREIGN_KEY_VIOLATION, isPgError } from './pg-errors';
import { cursorTimestamp, decodeCursor, isUuid, pageLimit, toPage, type Page } from './pagination';
import { modifyReturning } from './sql';

export type { Page } from './pagination';

export interface NewRoom {
  ownerId: string;
  type: RoomType;
  name: string;
  coverUrl?: string | null;
  topic?: string | null;
  region?: string | null;
  seatCount: number;
  seatMode: SeatMode;
  /** Plain text; stored only as a scrypt hash. */
  password?: string | null;
}

/** Settings that may change after creation. The seat count may not; the cover is set from an upload (services/media/attachments.ts). */
export interface RoomPatch {
  name?: string;
  topic?: string | null;
  region?: string | null;
  seatMode?: SeatMode;
  playlistPolicy?: PlaylistPolicy;
  /** A new password; null removes it; absent leaves it. */
  password?: string | null;
}

export interface RoomBan {
  userId: string;
  bannedBy: string;
  reason: string | null;
  createdAt: string;
}

interface RoomRow {
  id: string;
  owner_id: string;
  type: RoomType;
  name: string;
  cover_url: string | null;
  cover_key: string | null;
  topic: string | null;
  region: string | null;
  seat_count: number;
  seat_mode: SeatMode;
  password_hash: string | null;
  playlist_policy: PlaylistPolicy;
  status: RoomStatus;
  created_at: Date;
  /** created_at at full precision, for cursors. */
  created_key: string;
}

const ROOM_COLUMNS = `r.id, r.owner_id, r.type, r.name, r.cover_url, r.cover_key, r.topic, r.region, r.seat_count, r.seat_mode,
  r.password_hash, r.playlist_policy, r.status, r.created_at, ${cursorTimestamp('r.created_at')} AS created_key`;

/** Builds an uploaded cover's public URL from its key (MEDIA_CDN_BASE_URL + '/' + key). */
export type MediaUrlBuilder = (key: string) => string;

/** The view's coverUrl: built from the uploaded cover's key when set, else the legacy URL column. */
function toView(row: RoomRow, mediaUrl?: MediaUrlBuilder): RoomView {
  return {
    id: row.id,
    ownerId: row.owner_id,
    type: row.type,
    name: row.name,
    coverUrl: row.cover_key !== null && mediaUrl ? mediaUrl(row.cover_key) : row.cover_url,
    topic: row.topic,
    region: row.region,
    seatCount: row.seat_count,
    seatMode: row.seat_mode,
    passwordProtected: row.password_hash !== null,
    playlistPolicy: row.playlist_policy,
    status: row.status,
    createdAt: row.created_at.toISOString(),
  };
}

const roomKey = (row: RoomRow) => [row.created_key, row.id];

const isForeignKeyViolation = (err: unknown, constraintPart: string) => isPgError(err, PG_FOREIGN_KEY_VIOLATION, constraintPart);

/**
 * Rooms as PostgreSQL keeps them: settings, owner and admins, bans, and the discovery lists
 * (open rooms only, newest first, keyset-paginated). Live state (seats, who is in) is in Redis.
 */
export class RoomDirectory {
  private readonly view: (row: RoomRow) => RoomView;

  /** `mediaUrl`: how cover keys become URLs; without it a view shows only the legacy cover_url. */
  constructor(
    private readonly dataSource: DataSource,
    options: { mediaUrl?: MediaUrlBuilder } = {},
  ) {
    this.view = (row) => toView(row, options.mediaUrl);
  }

  async create(input: NewRoom): Promise<RoomView> {
    const passwordHash = input.password ? await hashRoomPassword(input.password) : null;
    try {
      const [row]: RoomRow[] = await this.dataSource.query(
        `INSERT INTO rooms AS r (owner_id, type, name, cover_url, topic, region, seat_count, seat_mode, password_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${ROOM_COLUMNS}`,
        [
          input.ownerId,
          input.type,
          input.name.trim(),
          input.coverUrl ?? null,
          input.topic ?? null,
          input.region ?? null,
          input.seatCount,
          input.seatMode,
          passwordHash,
        ],
      );
      return this.view(row!);
    } catch (err) {
      if (isForeignKeyViolation(err, 'owner_id')) throw new AppError(ErrorCode.UserNotFound, 'the owner does not exist');
      throw err;
    }
  }

  /** The room with its password hash (for checkPassword), open or closed; null if there is none. */
  async findById(id: string): Promise<(RoomView & { passwordHash: string | null }) | null> {
    if (!isUuid(id)) return null;
    const [row]: RoomRow[] = await this.dataSource.query(`SELECT ${ROOM_COLUMNS} FROM rooms r WHERE r.id = $1`, [id]);
    return row ? { ...this.view(row), passwordHash: row.password_hash } : null;
  }

  /** True when the room has no password or the password matches. */
  async checkPassword(room: { passwordHash: string | null }, password: string | undefined): Promise<boolean> {
    if (room.passwordHash === null) return true;
    if (password === undefined || password === '') return false;
    return verifyRoomPassword(room.passwordHash, password);
  }

  /** Changes an open room's settings; null if the room doesn't exist or is closed. `tx`: inside that transaction. */
  async update(id: string, patch: RoomPatch, tx?: EntityManager): Promise<RoomView | null> {
    if (!isUuid(id)) return null;
    const sets: string[] = ['updated_at = now()'];
    const params: unknown[] = [id];
    const set = (column: string, value: unknown) => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (patch.name !== undefined) set('name', patch.name.trim());
    if (patch.topic !== undefined) set('topic', patch.topic);
    if (patch.region !== undefined) set('region', patch.region);
    if (patch.seatMode !== undefined) set('seat_mode', patch.seatMode);
    if (patch.playlistPolicy !== undefined) set('playlist_policy', patch.playlistPolicy);
    if (patch.password !== undefined) set('password_hash', patch.password === null ? null : await hashRoomPassword(patch.password));
    const [row] = await modifyReturning<RoomRow>(
      tx ?? this.dataSource.manager,
      `UPDATE rooms r SET ${sets.join(', ')} WHERE r.id = $1 AND r.status = 'open' RETURNING ${ROOM_COLUMNS}`,
      params,
    );
    return row ? this.view(row) : null;
  }

  /** Closes an open room. False if it was already closed (or never existed): closing is idempotent. */
  async close(id: string, reason: RoomClosedReason, tx?: EntityManager): Promise<boolean> {
    if (!isUuid(id)) return false;
    const rows = await modifyReturning(
      tx ?? this.dataSource.manager,
      `UPDATE rooms SET status = 'closed', closed_reason = $2, closed_at = now(), updated_at = now()
        WHERE id = $1 AND status = 'open' RETURNING 1`,
      [id, reason],
    );
    return rows.length > 0;
  }

  /** The user's role in the room; 'member' for anyone who is neither owner nor admin. */
  async roleOf(roomId: string, userId: string): Promise<RoomRole> {
    if (!isUuid(roomId) || !isUuid(userId)) return 'member';
    const [row]: { role: RoomRole }[] = await this.dataSource.query(
      `SELECT CASE
                WHEN r.owner_id = $2 THEN 'owner'
                WHEN EXISTS (SELECT 1 FROM room_admins a WHERE a.room_id = r.id AND a.user_id = $2) THEN 'admin'
                ELSE 'member'
              END AS role
         FROM rooms r WHERE r.id = $1`,
      [roomId, userId],
    );
    return row?.role ?? 'member';
  }

  async listAdmins(roomId: string): Promise<string[]> {
    if (!isUuid(roomId)) return [];
    const rows: { user_id: string }[] = await this.dataSource.query(
      `SELECT user_id FROM room_admins WHERE room_id = $1 ORDER BY granted_at, user_id`,
      [roomId],
    );
    return rows.map((r) => r.user_id);
  }

  /**
   * Makes the user an admin; a no-op if they already are. The room row is locked while
   * counting, so concurrent grants can't push the room past `maxAdmins`. True if this call made
   * them one.
   */
  async grantAdmin(roomId: string, userId: string, grantedBy: string, maxAdmins: number, outer?: EntityManager): Promise<boolean> {
    if (!isUuid(roomId)) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
    if (!isUuid(userId)) throw new AppError(ErrorCode.UserNotFound, 'no such user');
    return this.inTransaction(outer, async (tx) => {
      const [room]: { owner_id: string; status: RoomStatus }[] = await tx.query(
        `SELECT owner_id, status FROM rooms WHERE id = $1 FOR UPDATE`,
        [roomId],
      );
      if (!room) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
      if (room.status !== 'open') throw new AppError(ErrorCode.RoomClosed, 'the room is closed');
      if (room.owner_id === userId) throw new AppError(ErrorCode.TargetProtected, 'the owner already runs this room');
      const [counts]: { admins: number; already: boolean }[] = await tx.query(
        `SELECT count(*)::int AS admins, bool_or(user_id = $2) AS already FROM room_admins WHERE room_id = $1`,
        [roomId, userId],
      );
      if (counts?.already) return false;
      if ((counts?.admins ?? 0) >= maxAdmins) {
        throw new AppError(ErrorCode.AdminLimitReached, `a room has at most ${maxAdmins} admins`, { maxAdmins });
      }
      try {
        await tx.query(`INSERT INTO room_admins (room_id, user_id, granted_by) VALUES ($1, $2, $3)`, [roomId, userId, grantedBy]);
      } catch (err) {
        if (isForeignKeyViolation(err, 'user_id')) throw new AppError(ErrorCode.UserNotFound, 'no such user');
        throw err;
      }
      return true;
    });
  }

  /** False if the user wasn't an admin. */
  async revokeAdmin(roomId: string, userId: string, tx?: EntityManager): Promise<boolean> {
    if (!isUuid(roomId) || !isUuid(userId)) return false;
    const rows = await modifyReturning(
      tx ?? this.dataSource.manager,
      `DELETE FROM room_admins WHERE room_id = $1 AND user_id = $2 RETURNING 1`,
      [roomId, userId],
    );
    return rows.length > 0;
  }

  /**
   * Bans the user from the room (idempotent: a repeat keeps the first ban). A banned admin
   * stops being an admin. The owner can't be banned from their own room. True if this call
   * banned them (false: they already were).
   */
  async ban(roomId: string, userId: string, bannedBy: string, reason?: string | null, outer?: EntityManager): Promise<boolean> {
    if (!isUuid(roomId)) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
    if (!isUuid(userId)) throw new AppError(ErrorCode.UserNotFound, 'no such user');
    return this.inTransaction(outer, async (tx) => {
      // Shares the lock grantAdmin takes, so a grant can't slip in beside the ban.
      const [room]: { owner_id: string }[] = await tx.query(`SELECT owner_id FROM rooms WHERE id = $1 FOR UPDATE`, [roomId]);
      if (!room) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
      if (room.owner_id === userId) throw new AppError(ErrorCode.TargetProtected, 'the owner cannot be banned from their room');
      let inserted: unknown[];
      try {
        inserted = await tx.query(
          `INSERT INTO room_bans (room_id, user_id, banned_by, reason) VALUES ($1, $2, $3, $4)
           ON CONFLICT (room_id, user_id) DO NOTHING RETURNING 1`,
          [roomId, userId, bannedBy, reason ?? null],
        );
      } catch (err) {
        if (isForeignKeyViolation(err, 'user_id')) throw new AppError(ErrorCode.UserNotFound, 'no such user');
        throw err;
      }
      await tx.query(`DELETE FROM room_admins WHERE room_id = $1 AND user_id = $2`, [roomId, userId]);
      return inserted.length > 0;
    });
  }

  /** False if the user wasn't banned. */
  async unban(roomId: string, userId: string, tx?: EntityManager): Promise<boolean> {
    if (!isUuid(roomId) || !isUuid(userId)) return false;
    const rows = await modifyReturning(
      tx ?? this.dataSource.manager,
      `DELETE FROM room_bans WHERE room_id = $1 AND user_id = $2 RETURNING 1`,
      [roomId, userId],
    );
    return rows.length > 0;
  }

  /** Runs inside the caller's transaction when there is one, else in a new one. */
  private inTransaction<T>(outer: EntityManager | undefined, work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return outer ? work(outer) : this.dataSource.transaction(work);
  }

  async isBanned(roomId: string, userId: string): Promise<boolean> {
    if (!isUuid(roomId) || !isUuid(userId)) return false;
    const rows: unknown[] = await this.dataSource.query(`SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2`, [roomId, userId]);
    return rows.length > 0;
  }

  /** Bans newest first. */
  async listBans(roomId: string, page: { cursor?: string; limit: number }): Promise<Page<RoomBan>> {
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, ['timestamp', 'uuid']);
    if (!isUuid(roomId)) return { items: [], nextCursor: null };
    const rows: { user_id: string; banned_by: string; reason: string | null; created_at: Date; created_key: string }[] =
      await this.dataSource.query(
        `SELECT user_id, banned_by, reason, created_at, ${cursorTimestamp('created_at')} AS created_key
           FROM room_bans
          WHERE room_id = $1 AND ($2::timestamptz IS NULL OR (created_at, user_id) < ($2::timestamptz, $3::uuid))
          ORDER BY created_at DESC, user_id DESC
          LIMIT $4`,
        [roomId, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
      );
    return toPage(
      rows,
      limit,
      (r) => [r.created_key, r.user_id],
      (r) => ({ userId: r.user_id, bannedBy: r.banned_by, reason: r.reason, createdAt: r.created_at.toISOString() }),
    );
  }

  /** Open rooms, newest first, optionally in one region. */
  async listNew(page: { cursor?: string; limit: number; region?: string }): Promise<Page<RoomView>> {
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, ['timestamp', 'uuid']);
    const rows: RoomRow[] = await this.dataSource.query(
      `SELECT ${ROOM_COLUMNS} FROM rooms r
        WHERE r.status = 'open'
          AND ($1::varchar IS NULL OR r.region = $1)
          AND ($2::timestamptz IS NULL OR (r.created_at, r.id) < ($2::timestamptz, $3::uuid))
        ORDER BY r.created_at DESC, r.id DESC
        LIMIT $4`,
      [page.region ?? null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(rows, limit, roomKey, this.view);
  }

  /** Open rooms owned by people the user follows, newest first. */
  async listFollowedOwners(userId: string, page: { cursor?: string; limit: number }): Promise<Page<RoomView>> {
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, ['timestamp', 'uuid']);
    if (!isUuid(userId)) return { items: [], nextCursor: null };
    const rows: RoomRow[] = await this.dataSource.query(
      `SELECT ${ROOM_COLUMNS} FROM rooms r
         JOIN user_follows f ON f.followee_id = r.owner_id AND f.follower_id = $1
        WHERE r.status = 'open'
          AND ($2::timestamptz IS NULL OR (r.created_at, r.id) < ($2::timestamptz, $3::uuid))
        ORDER BY r.created_at DESC, r.id DESC
        LIMIT $4`,
      [userId, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(rows, limit, roomKey, this.view);
  }

  /** Open rooms by id, in the order given; closed, missing and malformed ids are skipped. */
  async listByIds(ids: string[]): Promise<RoomView[]> {
    const wanted = ids.filter(isUuid);
    if (wanted.length === 0) return [];
    const rows: RoomRow[] = await this.dataSource.query(
      `SELECT ${ROOM_COLUMNS} FROM rooms r WHERE r.id = ANY($1::uuid[]) AND r.status = 'open'`,
      [wanted],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    const seen = new Set<string>();
    const views: RoomView[] = [];
    for (const id of wanted) {
      const row = byId.get(id.toLowerCase());
      if (!row || seen.has(row.id)) continue;
      seen.add(row.id);
      views.push(this.view(row));
    }
    return views;
  }
}
