import type { DataSource, EntityManager } from 'typeorm';
import type { MediaKind } from '../../domain/media/assets';
import { modifyReturning } from './sql';

export type UploadStatus = 'pending' | 'ready' | 'rejected' | 'replaced' | 'deleting';

export interface MediaUpload {
  id: string;
  ownerId: string;
  kind: MediaKind;
  key: string;
  contentType: string;
  declaredBytes: number;
  status: UploadStatus;
  bytes: number | null;
  width: number | null;
  height: number | null;
  rejectionReason: string | null;
  rejectionDetail: string | null;
  usedBy: string | null;
  createdAt: Date;
  completedAt: Date | null;
  expiresAt: Date;
}

interface UploadRow {
  id: string;
  owner_id: string;
  kind: MediaKind;
  object_key: string;
  content_type: string;
  declared_bytes: number;
  status: UploadStatus;
  bytes: number | null;
  width: number | null;
  height: number | null;
  rejection_reason: string | null;
  rejection_detail: string | null;
  used_by: string | null;
  created_at: Date;
  completed_at: Date | null;
  expires_at: Date;
}

const toUpload = (r: UploadRow): MediaUpload => ({
  id: r.id,
  ownerId: r.owner_id,
  kind: r.kind,
  key: r.object_key,
  contentType: r.content_type,
  declaredBytes: r.declared_bytes,
  status: r.status,
  bytes: r.bytes,
  width: r.width,
  height: r.height,
  rejectionReason: r.rejection_reason,
  rejectionDetail: r.rejection_detail,
  usedBy: r.used_by,
  createdAt: r.created_at,
  completedAt: r.completed_at,
  expiresAt: r.expires_at,
});

/** What the sweep may delete: the upload's row and its object. */
export interface Leftover {
  id: string;
  key: string;
}

type Queryable = Pick<EntityManager, 'query'>;

/**
 * The record of every presigned upload (media_uploads): PostgreSQL says which objects in the
 * store are ours, whose, in what state, and what uses them; the store only holds bytes.
 */
export class MediaUploads {
  constructor(private readonly dataSource: DataSource) {}

  async create(input: { id: string; ownerId: string; kind: MediaKind; key: string; contentType: string; declaredBytes: number; expiresAt: Date }): Promise<MediaUpload> {
    const [row]: UploadRow[] = await this.dataSource.query(
      `INSERT INTO media_uploads (id, owner_id, kind, object_key, content_type, declared_bytes, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [input.id, input.ownerId, input.kind, input.key, input.contentType, input.declaredBytes, input.expiresAt],
    );
    return toUpload(row!);
  }

  async find(id: string): Promise<MediaUpload | null> {
    const [row]: UploadRow[] = await this.dataSource.query(`SELECT * FROM media_uploads WHERE id = $1`, [id]);
    return row ? toUpload(row) : null;
  }

  /** The upload under a key, locked until the caller's transaction ends (null: none). */
  async lockByKey(tx: Queryable, key: string): Promise<MediaUpload | null> {
    const [row]: UploadRow[] = await tx.query(`SELECT * FROM media_uploads WHERE object_key = $1 FOR UPDATE`, [key]);
    return row ? toUpload(row) : null;
  }

  /** pending -> ready; null when it was no longer pending (a concurrent completion or the sweep). */
  async markReady(id: string, measured: { bytes: number; width: number | null; height: number | null }): Promise<MediaUpload | null> {
    const rows = await modifyReturning<UploadRow>(
      this.dataSource.manager,
      `UPDATE media_uploads SET status = 'ready', bytes = $2, width = $3, height = $4, completed_at = now()
        WHERE id = $1 AND status = 'pending' RETURNING *`,
      [id, measured.bytes, measured.width, measured.height],
    );
    return rows[0] ? toUpload(rows[0]) : null;
  }

  /** pending -> rejected, with why; null when it was no longer pending. */
  async markRejected(id: string, reason: string, detail: string): Promise<MediaUpload | null> {
    const rows = await modifyReturning<UploadRow>(
      this.dataSource.manager,
      `UPDATE media_uploads SET status = 'rejected', rejection_reason = $2, rejection_detail = $3, completed_at = now()
        WHERE id = $1 AND status = 'pending' RETURNING *`,
      [id, reason, detail.slice(0, 200)],
    );
    return rows[0] ? toUpload(rows[0]) : null;
  }

  async markUsed(tx: Queryable, id: string, usedBy: string): Promise<void> {
    await tx.query(`UPDATE media_uploads SET used_by = $2 WHERE id = $1`, [id, usedBy]);
  }

  /** The file a new one replaced: out of use, to be deleted from the store (after the commit, or by the sweep). */
  async markReplaced(tx: Queryable, key: string): Promise<void> {
    await tx.query(`UPDATE media_uploads SET status = 'replaced' WHERE object_key = $1 AND status = 'ready'`, [key]);
  }

  /** The user's avatar key, the row locked for the caller's transaction. */
  async lockAvatar(tx: Queryable, userId: string): Promise<{ key: string | null } | null> {
    const [row]: { avatar_key: string | null }[] = await tx.query(`SELECT avatar_key FROM users WHERE id = $1 FOR UPDATE`, [userId]);
    return row ? { key: row.avatar_key } : null;
  }

  /** A chosen avatar replaces whatever URL a social sign-in brought; none clears both. */
  async setAvatar(tx: Queryable, userId: string, key: string | null): Promise<void> {
    await tx.query(`UPDATE users SET avatar_key = $2, avatar_url = NULL, updated_at = now() WHERE id = $1`, [userId, key]);
  }

  /** The room's cover key, the row locked for the caller's transaction (null: no open room). */
  async lockCover(tx: Queryable, roomId: string): Promise<{ key: string | null } | null> {
    const [row]: { cover_key: string | null }[] = await tx.query(`SELECT cover_key FROM rooms WHERE id = $1 AND status = 'open' FOR UPDATE`, [roomId]);
    return row ? { key: row.cover_key } : null;
  }

  async setCover(tx: Queryable, roomId: string, key: string | null): Promise<void> {
    await tx.query(`UPDATE rooms SET cover_key = $2, cover_url = NULL, updated_at = now() WHERE id = $1`, [roomId, key]);
  }

  /**
   * Claims up to `limit` uploads whose objects should go (marked `deleting`, so a completion
   * racing the sweep finds them gone): pending or rejected ones past their URL's expiry plus
   * `graceMs`, replaced ones, ready ones nobody attached within `unusedMs`, and claims an
   * earlier sweep left. Rows locked by someone else are skipped, so sweeps may run side by side.
   */
  async claimLeftovers(now: Date, graceMs: number, unusedMs: number, limit: number): Promise<Leftover[]> {
    const rows = await modifyReturning<{ id: string; object_key: string }>(
      this.dataSource.manager,
      `UPDATE media_uploads SET status = 'deleting'
        WHERE id IN (
          SELECT id FROM media_uploads
           WHERE (status IN ('pending', 'rejected') AND expires_at < $1::timestamptz - make_interval(secs => $2 / 1000.0))
              OR status IN ('replaced', 'deleting')
              OR (status = 'ready' AND used_by IS NULL AND completed_at < $1::timestamptz - make_interval(secs => $3 / 1000.0))
           LIMIT $4
           FOR UPDATE SKIP LOCKED)
        RETURNING id, object_key`,
      [now, graceMs, unusedMs, limit],
    );
    return rows.map((r) => ({ id: r.id, key: r.object_key }));
  }

  /** The row of an upload whose object is gone from the store. */
  async forget(id: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM media_uploads WHERE id = $1 AND status IN ('deleting', 'replaced')`, [id]);
  }

  /** A replaced upload's row, once its object is gone: moved to `deleting` then removed. */
  async forgetReplaced(key: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM media_uploads WHERE object_key = $1 AND status = 'replaced'`, [key]);
  }
}
