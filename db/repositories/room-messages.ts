import type { DataSource, EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '../../domain/errors';
import { CHAT_MAX_CHARS } from '../../domain/rooms/model';
import type { RoomMessageKind } from '../entities';
import { PG_FOREIGN_KEY_VIOLATION, isPgError } from './pg-errors';
import { decodeCursor, isUuid, pageLimit, toPage, type Page } from './pagination';
import { modifyReturning } from './sql';

export interface ChatMessageView {
  id: string;
  roomId: string;
  senderId: string | null;
  kind: RoomMessageKind;
  /** null once recalled or deleted */
  body: string | null;
  clientMsgId: string | null;
  createdAt: string;
  recalled: boolean;
  deleted: boolean;
}

export interface NewChatMessage {
  roomId: string;
  /** null for a system message. */
  senderId: string | null;
  kind: RoomMessageKind;
  body: string;
  /** The sender's own id for the message; a retry with the same id returns the first. */
  clientMsgId?: string | null;
}

interface MessageRow {
  id: string;
  room_id: string;
  sender_id: string | null;
  kind: RoomMessageKind;
  body: string;
  client_msg_id: string | null;
  created_at: Date;
  recalled_at: Date | null;
  deleted_at: Date | null;
}

const MESSAGE_COLUMNS = `id::text AS id, room_id, sender_id, kind, body, client_msg_id, created_at, recalled_at, deleted_at`;
/** System messages carry longer text than people may type; the column allows this much. */
const BODY_MAX_CHARS = 2000;

function toView(row: MessageRow): ChatMessageView {
  const recalled = row.recalled_at !== null;
  const deleted = row.deleted_at !== null;
  return {
    id: row.id,
    roomId: row.room_id,
    senderId: row.sender_id,
    kind: row.kind,
    body: recalled || deleted ? null : row.body,
    clientMsgId: row.client_msg_id,
    createdAt: row.created_at.toISOString(),
    recalled,
    deleted,
  };
}

const isMessageId = (id: string) => /^[1-9]\d{0,17}$/.test(id);
const notFound = () => new AppError(ErrorCode.MessageNotFound, 'no such message in this room');

/** The room chat archive: append-mostly, idempotent per client message id, tombstones on recall/delete. */
export class ChatArchive {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Stores a message once per (room, sender, clientMsgId): a repeat returns the first row
   * with duplicate=true and writes nothing, even if the repeat's body differs.
   */
  async append(input: NewChatMessage): Promise<{ message: ChatMessageView; duplicate: boolean }> {
    if ((input.kind === 'system') !== (input.senderId === null)) {
      throw new Error(`a ${input.kind} message ${input.senderId === null ? 'needs' : 'has no'} sender`);
    }
    const chars = [...input.body].length;
    if (input.body.trim() === '') throw new AppError(ErrorCode.ValidationFailed, 'a message needs some text');
    const max = input.kind === 'text' ? CHAT_MAX_CHARS : BODY_MAX_CHARS;
    if (chars > max) throw new AppError(ErrorCode.ChatTooLong, `a message is at most ${max} characters`, { max });
    const clientMsgId = input.clientMsgId ?? null;
    if (!isUuid(input.roomId)) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
    if (input.senderId !== null && !isUuid(input.senderId)) throw new AppError(ErrorCode.UserNotFound, 'no such sender');
    let inserted: MessageRow[];
    try {
      inserted = await this.dataSource.query(
        `INSERT INTO room_messages (room_id, sender_id, kind, body, client_msg_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (room_id, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING
         RETURNING ${MESSAGE_COLUMNS}`,
        [input.roomId, input.senderId, input.kind, input.body, clientMsgId],
      );
    } catch (err) {
      if (isPgError(err, PG_FOREIGN_KEY_VIOLATION, 'room_id')) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
      if (isPgError(err, PG_FOREIGN_KEY_VIOLATION, 'sender_id')) throw new AppError(ErrorCode.UserNotFound, 'no such sender');
      throw err;
    }
    if (inserted[0]) return { message: toView(inserted[0]), duplicate: false };
    // The conflicting row is committed by now (ON CONFLICT waited for it), so this statement sees it.
    const [first]: MessageRow[] = await this.dataSource.query(
      `SELECT ${MESSAGE_COLUMNS} FROM room_messages
        WHERE room_id = $1 AND sender_id IS NOT DISTINCT FROM $2 AND client_msg_id = $3`,
      [input.roomId, input.senderId, clientMsgId],
    );
    if (!first) throw new Error('a chat message conflicted on its client id but cannot be found');
    return { message: toView(first), duplicate: true };
  }

  /** The message a sender already sent under this client id, if any (a resend after a lost ack). */
  async findByClientMsgId(roomId: string, senderId: string, clientMsgId: string): Promise<ChatMessageView | null> {
    if (!isUuid(roomId) || !isUuid(senderId)) return null;
    const [row]: MessageRow[] = await this.dataSource.query(
      `SELECT ${MESSAGE_COLUMNS} FROM room_messages WHERE room_id = $1 AND sender_id = $2 AND client_msg_id = $3`,
      [roomId, senderId, clientMsgId],
    );
    return row ? toView(row) : null;
  }

  async findById(roomId: string, id: string): Promise<ChatMessageView | null> {
    if (!isUuid(roomId) || !isMessageId(id)) return null;
    const [row]: MessageRow[] = await this.dataSource.query(
      `SELECT ${MESSAGE_COLUMNS} FROM room_messages WHERE room_id = $1 AND id = $2`,
      [roomId, id],
    );
    return row ? toView(row) : null;
  }

  /** Newest first; recalled and deleted messages appear as tombstones. */
  async history(roomId: string, page: { before?: string; limit: number }): Promise<Page<ChatMessageView>> {
    const limit = pageLimit(page.limit);
    const before = decodeCursor(page.before, ['bigint']);
    if (!isUuid(roomId)) return { items: [], nextCursor: null };
    const rows: MessageRow[] = await this.dataSource.query(
      `SELECT ${MESSAGE_COLUMNS} FROM room_messages
        WHERE room_id = $1 AND ($2::bigint IS NULL OR id < $2::bigint)
        ORDER BY room_messages.id DESC -- the bigint, not the text output column of the same name
        LIMIT $3`,
      [roomId, before?.[0] ?? null, limit + 1],
    );
    return toPage(rows, limit, (r) => [r.id], toView);
  }

  /**
   * The sender takes back their own message within `windowMs` of sending it, judged at `now`.
   * A message already recalled or deleted is returned as the tombstone it is.
   */
  async recall(roomId: string, messageId: string, senderId: string, now: Date, windowMs: number): Promise<ChatMessageView> {
    if (!isUuid(roomId) || !isMessageId(messageId)) throw notFound();
    return this.dataSource.transaction(async (tx) => {
      const [row]: (MessageRow & { within_window: boolean })[] = await tx.query(
        `SELECT ${MESSAGE_COLUMNS}, created_at >= $3::timestamptz AS within_window
           FROM room_messages WHERE room_id = $1 AND id = $2 FOR UPDATE`,
        [roomId, messageId, new Date(now.getTime() - windowMs)],
      );
      if (!row) throw notFound();
      if (row.sender_id === null || row.sender_id !== senderId) {
        throw new AppError(ErrorCode.NotMessageSender, 'only the sender may recall a message');
      }
      if (row.recalled_at !== null || row.deleted_at !== null) return toView(row);
      if (!row.within_window) {
        throw new AppError(ErrorCode.RecallWindowPassed, 'this message is too old to recall', { windowMs });
      }
      const [recalled] = await modifyReturning<MessageRow>(
        tx,
        `UPDATE room_messages SET recalled_at = $3 WHERE room_id = $1 AND id = $2 RETURNING ${MESSAGE_COLUMNS}`,
        [roomId, messageId, now],
      );
      return toView(recalled!);
    });
  }

  /** A moderator deletes a message. Idempotent: the first deletion's time and author stay. */
  async remove(roomId: string, messageId: string, deletedBy: string, tx?: EntityManager): Promise<ChatMessageView> {
    if (!isUuid(roomId) || !isMessageId(messageId)) throw notFound();
    const [row] = await modifyReturning<MessageRow>(
      tx ?? this.dataSource.manager,
      `UPDATE room_messages
          SET deleted_at = COALESCE(deleted_at, now()),
              deleted_by = CASE WHEN deleted_at IS NULL THEN $3::uuid ELSE deleted_by END
        WHERE room_id = $1 AND id = $2
        RETURNING ${MESSAGE_COLUMNS}`,
      [roomId, messageId, deletedBy],
    );
    if (!row) throw notFound();
    return toView(row);
  }
}
