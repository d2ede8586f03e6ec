import type { DataSource, EntityManager } from 'typeorm';
import type { NowPlaying } from '../../domain/media/music';
import { PLAYLIST_HEAD_ITEMS, type Playback, type PlaybackItem, type PlaybackStateName } from '../../domain/media/playback';
import { decodeCursor, isUuid, pageLimit, toPage, type Page } from './pagination';
import { modifyReturning } from './sql';

export const PLAYLIST_ITEM_STATUSES = ['queued', 'playing', 'played', 'removed', 'skipped'] as const;
export type PlaylistItemStatus = (typeof PLAYLIST_ITEM_STATUSES)[number];

/** One item of a room's playlist, as the API shows it. */
export interface PlaylistItemView {
  id: string;
  videoId: string;
  title: string;
  channelTitle: string;
  durationMs: number;
  thumbnailUrl: string | null;
  addedBy: string;
  position: number;
  status: PlaylistItemStatus;
  createdAt: string;
}

/** A room's playback row: the domain's Playback plus what the record keeps around it. */
export interface PlaybackRecord extends Playback {
  /** Bumped by every change of any kind (playback, playlist, now-playing): the live copy's order. */
  revision: number;
  endsAt: number | null;
  nowPlaying: NowPlaying | null;
  updatedBy: string | null;
}

export interface NewPlaylistItem {
  roomId: string;
  videoId: string;
  title: string;
  channelTitle: string;
  durationMs: number;
  thumbnailUrl: string | null;
  addedBy: string;
}

/** What the live copy (Redis) holds of a room's media, each part as the JSON a snapshot carries. */
export interface MediaLiveParts {
  playback: LivePlayback;
  playlist: LivePlaylist;
  nowPlaying: NowPlaying | null;
}

/** Playback as snapshots and playback.updated carry it: position `positionMs` at server instant `at`. */
export interface LivePlayback {
  state: PlaybackStateName;
  itemId: string | null;
  videoId: string | null;
  title: string | null;
  durationMs: number | null;
  positionMs: number;
  at: number;
  endsAt: number | null;
  version: number;
}

export interface LivePlaylist {
  /** Items queued after the current one. */
  length: number;
  /** The first few of them, in order. */
  head: Pick<PlaylistItemView, 'id' | 'videoId' | 'title' | 'durationMs' | 'thumbnailUrl' | 'addedBy'>[];
}

interface ItemRow {
  id: string;
  video_id: string;
  title: string;
  channel_title: string;
  duration_ms: number;
  thumbnail_url: string | null;
  added_by: string;
  position: number;
  status: PlaylistItemStatus;
  created_at: Date;
}

const ITEM_COLUMNS = `i.id, i.video_id, i.title, i.channel_title, i.duration_ms, i.thumbnail_url, i.added_by, i.position, i.status, i.created_at`;

function itemView(row: ItemRow): PlaylistItemView {
  return {
    id: row.id,
    videoId: row.video_id,
    title: row.title,
    channelTitle: row.channel_title,
    durationMs: row.duration_ms,
    thumbnailUrl: row.thumbnail_url,
    addedBy: row.added_by,
    position: row.position,
    status: row.status,
    createdAt: row.created_at.toISOString(),
  };
}

interface PlaybackRow {
  state: PlaybackStateName;
  item_id: string | null;
  position_ms: number;
  anchor_ms: string;
  ends_ms: string | null;
  version: string;
  revision: string;
  updated_by: string | null;
  now_playing: NowPlaying | null;
  video_id: string | null;
  title: string | null;
  duration_ms: number | null;
}

const PLAYBACK_SELECT = `SELECT p.state, p.item_id, p.position_ms, (extract(epoch FROM p.anchor_at) * 1000)::bigint::text AS anchor_ms,
    (extract(epoch FROM p.ends_at) * 1000)::bigint::text AS ends_ms, p.version::text, p.revision::text, p.updated_by, p.now_playing,
    i.video_id, i.title, i.duration_ms
  FROM room_playback p LEFT JOIN room_playlist_items i ON i.id = p.item_id`;

function playbackRecord(row: PlaybackRow): PlaybackRecord {
  const item: PlaybackItem | null = row.item_id ? { id: row.item_id, videoId: row.video_id!, title: row.title!, durationMs: row.duration_ms! } : null;
  return {
    state: row.state,
    item,
    positionMs: row.position_ms,
    at: Number(row.anchor_ms),
    endsAt: row.ends_ms === null ? null : Number(row.ends_ms),
    version: Number(row.version),
    revision: Number(row.revision),
    nowPlaying: row.now_playing,
    updatedBy: row.updated_by,
  };
}

/** The live form of a playback record. */
export function livePlayback(p: Pick<PlaybackRecord, 'state' | 'item' | 'positionMs' | 'at' | 'version'> & { endsAt: number | null }): LivePlayback {
  return {
    state: p.state,
    itemId: p.item?.id ?? null,
    videoId: p.item?.videoId ?? null,
    title: p.item?.title ?? null,
    durationMs: p.item?.durationMs ?? null,
    positionMs: p.positionMs,
    at: p.at,
    endsAt: p.endsAt,
    version: p.version,
  };
}

/**
 * Rooms' playlists and playback as PostgreSQL keeps them. Every change runs in a transaction
 * that first locks the room's playback row (`lock`), so one room's changes are serialised
 * and each gets the next revision; the sweeper takes the same lock with SKIP LOCKED.
 */
export class RoomPlaylists {
  constructor(private readonly dataSource: DataSource) {}

  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  /** The room's playback row, locked for this transaction (created idle on first use). */
  async lock(tx: EntityManager, roomId: string): Promise<PlaybackRecord> {
    await tx.query(`INSERT INTO room_playback (room_id) VALUES ($1) ON CONFLICT (room_id) DO NOTHING`, [roomId]);
    const [row]: PlaybackRow[] = await tx.query(`${PLAYBACK_SELECT} WHERE p.room_id = $1 FOR UPDATE OF p`, [roomId]);
    return playbackRecord(row!);
  }

  /** The playback row as committed (idle if the room never had one). */
  async playback(roomId: string): Promise<PlaybackRecord> {
    const [row]: PlaybackRow[] = isUuid(roomId) ? await this.dataSource.query(`${PLAYBACK_SELECT} WHERE p.room_id = $1`, [roomId]) : [];
    return row
      ? playbackRecord(row)
      : { state: 'idle', item: null, positionMs: 0, at: 0, endsAt: null, version: 0, revision: 0, nowPlaying: null, updatedBy: null };
  }

  /** Writes the playback state (and the revision it was decided at); ends_at follows from it. */
  async savePlayback(tx: EntityManager, roomId: string, p: Playback, endsAt: number | null, revision: number, by: string | null): Promise<void> {
    await tx.query(
      `UPDATE room_playback SET state = $2, item_id = $3, position_ms = $4, anchor_at = to_timestamp($5::double precision / 1000),
              ends_at = CASE WHEN $6::double precision IS NULL THEN NULL ELSE to_timestamp($6::double precision / 1000) END,
              version = $7, revision = $8, updated_by = $9, updated_at = now()
        WHERE room_id = $1`,
      [roomId, p.state, p.item?.id ?? null, p.positionMs, p.at, endsAt, p.version, revision, by],
    );
  }

  /** A change that leaves the playback state alone (playlist, now-playing) still takes the next revision. */
  async saveRevision(tx: EntityManager, roomId: string, revision: number): Promise<void> {
    await tx.query(`UPDATE room_playback SET revision = $2, updated_at = now() WHERE room_id = $1`, [roomId, revision]);
  }

  async saveNowPlaying(tx: EntityManager, roomId: string, nowPlaying: NowPlaying | null): Promise<void> {
    await tx.query(`UPDATE room_playback SET now_playing = $2::jsonb WHERE room_id = $1`, [roomId, nowPlaying === null ? null : JSON.stringify(nowPlaying)]);
  }

  /** The queue after the current item, in order. */
  async queue(tx: EntityManager, roomId: string): Promise<PlaylistItemView[]> {
    const rows: ItemRow[] = await tx.query(
      `SELECT ${ITEM_COLUMNS} FROM room_playlist_items i WHERE i.room_id = $1 AND i.status = 'queued' ORDER BY i.position, i.id`,
      [roomId],
    );
    return rows.map(itemView);
  }

  async findItem(tx: EntityManager, roomId: string, itemId: string): Promise<PlaylistItemView | null> {
    if (!isUuid(itemId)) return null;
    const [row]: ItemRow[] = await tx.query(`SELECT ${ITEM_COLUMNS} FROM room_playlist_items i WHERE i.room_id = $1 AND i.id = $2`, [roomId, itemId]);
    return row ? itemView(row) : null;
  }

  /** Items the room holds (queued and current) and those `userId` has queued; whether the video is already in. */
  async counts(tx: EntityManager, roomId: string, userId: string, videoId: string): Promise<{ roomItems: number; userItems: number; duplicate: boolean }> {
    const [row]: { room_items: number; user_items: number; duplicate: boolean }[] = await tx.query(
      `SELECT count(*)::int AS room_items,
              count(*) FILTER (WHERE added_by = $2 AND status = 'queued')::int AS user_items,
              coalesce(bool_or(video_id = $3), false) AS duplicate
         FROM room_playlist_items WHERE room_id = $1 AND status IN ('queued', 'playing')`,
      [roomId, userId, videoId],
    );
    return { roomItems: row!.room_items, userItems: row!.user_items, duplicate: row!.duplicate };
  }

  /** Appends an item at the end of the queue. */
  async insertItem(tx: EntityManager, item: NewPlaylistItem): Promise<PlaylistItemView> {
    const [row]: ItemRow[] = await tx.query(
      `INSERT INTO room_playlist_items AS i (room_id, video_id, title, channel_title, duration_ms, thumbnail_url, added_by, position)
       VALUES ($1, $2, $3, $4, $5, $6, $7,
               (SELECT coalesce(max(position), 0) + 1 FROM room_playlist_items WHERE room_id = $1 AND status = 'queued'))
       RETURNING ${ITEM_COLUMNS}`,
      [item.roomId, item.videoId, item.title, item.channelTitle, item.durationMs, item.thumbnailUrl, item.addedBy],
    );
    return itemView(row!);
  }

  async setStatus(tx: EntityManager, itemId: string, status: PlaylistItemStatus): Promise<void> {
    await tx.query(`UPDATE room_playlist_items SET status = $2, updated_at = now() WHERE id = $1`, [itemId, status]);
  }

  /** Numbers the queue 1..n in the given order. */
  async renumber(tx: EntityManager, roomId: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await tx.query(
      `UPDATE room_playlist_items i SET position = o.n, updated_at = now()
         FROM unnest($2::uuid[]) WITH ORDINALITY AS o(id, n)
        WHERE i.id = o.id AND i.room_id = $1 AND i.status = 'queued'`,
      [roomId, ids],
    );
  }

  /** Records a skip vote (once per user per item); the item's votes so far. */
  async vote(tx: EntityManager, itemId: string, userId: string): Promise<{ counted: boolean; votes: number }> {
    const inserted = await modifyReturning(tx, `INSERT INTO room_playlist_skip_votes (item_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1`, [itemId, userId]);
    const [row]: { votes: number }[] = await tx.query(`SELECT count(*)::int AS votes FROM room_playlist_skip_votes WHERE item_id = $1`, [itemId]);
    return { counted: inserted.length > 0, votes: row!.votes };
  }

  /** The queue, keyset-paginated by (position, id). */
  async listQueue(roomId: string, page: { cursor?: string; limit: number }): Promise<Page<PlaylistItemView>> {
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, ['bigint', 'uuid']);
    const rows: ItemRow[] = await this.dataSource.query(
      `SELECT ${ITEM_COLUMNS} FROM room_playlist_items i
        WHERE i.room_id = $1 AND i.status = 'queued' AND ($2::int IS NULL OR (i.position, i.id) > ($2::int, $3::uuid))
        ORDER BY i.position, i.id LIMIT $4`,
      [roomId, after ? Number(after[0]) : null, after?.[1] ?? null, limit + 1],
    );
    return toPage(rows, limit, (r) => [String(r.position), r.id], itemView);
  }

  async currentItem(roomId: string): Promise<PlaylistItemView | null> {
    const [row]: ItemRow[] = await this.dataSource.query(`SELECT ${ITEM_COLUMNS} FROM room_playlist_items i WHERE i.room_id = $1 AND i.status = 'playing'`, [roomId]);
    return row ? itemView(row) : null;
  }

  /** The live copy's parts for a room, as committed (a rebuilt room starts from these). */
  async liveParts(roomId: string, manager: EntityManager = this.dataSource.manager): Promise<MediaLiveParts & { revision: number }> {
    const record = await this.playback(roomId);
    const queue = isUuid(roomId) ? await this.queue(manager, roomId) : [];
    return { revision: record.revision, playback: livePlayback(record), playlist: playlistPart(queue), nowPlaying: record.nowPlaying };
  }

  /**
   * Rooms whose playing item ended by `now`, locked for this transaction; rooms another process
   * is changing (or advancing) right now are skipped, not waited for.
   */
  async lockEnded(tx: EntityManager, now: number, limit: number): Promise<{ roomId: string; open: boolean }[]> {
    const rows: { room_id: string; open: boolean }[] = await tx.query(
      `SELECT p.room_id, r.status = 'open' AS open
         FROM room_playback p JOIN rooms r ON r.id = p.room_id
        WHERE p.state = 'playing' AND p.ends_at <= to_timestamp($1::double precision / 1000)
        ORDER BY p.ends_at
        LIMIT $2
        FOR UPDATE OF p SKIP LOCKED`,
      [now, limit],
    );
    return rows.map((r) => ({ roomId: r.room_id, open: r.open }));
  }
}

/** The playlist part of the live copy: the queue's length and its first items. */
export function playlistPart(queue: readonly PlaylistItemView[]): LivePlaylist {
  return {
    length: queue.length,
    head: queue.slice(0, PLAYLIST_HEAD_ITEMS).map((i) => ({
      id: i.id,
      videoId: i.videoId,
      title: i.title,
      durationMs: i.durationMs,
      thumbnailUrl: i.thumbnailUrl,
      addedBy: i.addedBy,
    })),
  };
}
