import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Media assets in the object store.
 *
 *  - `media_uploads`: one row per presigned upload. `pending` until the client says it is done
 *    and the object passes verification (`ready`) or fails it (`rejected`, object deleted).
 *    A ready upload is attached at most once (`used_by`: 'user:<id>', 'room:<id>',
 *    'gift:<id>'); the one it replaces becomes `replaced` and is deleted from the store.
 *    `deleting`: claimed by the sweep, whose object is being removed (then the row goes).
 *  - `users.avatar_key`, `rooms.cover_key`: the asset in use, by key (the views build the URL
 *    from MEDIA_CDN_BASE_URL, so the CDN can move). The old `*_url` columns stay for avatars a
 *    social sign-in brought and legacy rows; a key, when set, wins.
 *  - `gift_catalog_changes`: the audit of staff changes to the catalog (append-only), written
 *    in the change's transaction.
 */
export class MediaAssets1764600200000 implements MigrationInterface {
  name = 'MediaAssets1764600200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE media_uploads (
        id uuid PRIMARY KEY,
        owner_id uuid NOT NULL REFERENCES users(id),
        kind varchar(16) NOT NULL CHECK (kind IN ('avatar', 'room-cover', 'gift-animation')),
        object_key varchar(200) NOT NULL CONSTRAINT uq_media_uploads_object_key UNIQUE,
        content_type varchar(64) NOT NULL,
        declared_bytes integer NOT NULL CHECK (declared_bytes > 0),
        status varchar(16) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'rejected', 'replaced', 'deleting')),
        bytes integer CHECK (bytes > 0),
        width integer CHECK (width > 0),
        height integer CHECK (height > 0),
        rejection_reason varchar(48),
        rejection_detail varchar(200),
        used_by varchar(80),
        created_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        expires_at timestamptz NOT NULL,
        CHECK (status <> 'ready' OR (bytes IS NOT NULL AND completed_at IS NOT NULL)),
        CHECK (status <> 'rejected' OR rejection_reason IS NOT NULL)
      )`);
    await q.query(`CREATE INDEX ix_media_uploads_owner ON media_uploads (owner_id, created_at)`);
    // The sweep's work lists: expired pendings, leftovers to delete, ready files nobody used.
    await q.query(`CREATE INDEX ix_media_uploads_pending ON media_uploads (expires_at) WHERE status IN ('pending', 'rejected')`);
    await q.query(`CREATE INDEX ix_media_uploads_leftover ON media_uploads (status) WHERE status IN ('replaced', 'deleting')`);
    await q.query(`CREATE INDEX ix_media_uploads_unused ON media_uploads (completed_at) WHERE status = 'ready' AND used_by IS NULL`);

    await q.query(`ALTER TABLE users ADD COLUMN avatar_key varchar(200) REFERENCES media_uploads(object_key)`);
    await q.query(`ALTER TABLE rooms ADD COLUMN cover_key varchar(200) REFERENCES media_uploads(object_key)`);

    await q.query(`
      CREATE TABLE gift_catalog_changes (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        gift_id varchar(64) NOT NULL REFERENCES gifts(id),
        changed_by uuid NOT NULL REFERENCES users(id),
        field varchar(32) NOT NULL CHECK (field IN ('animation')),
        before jsonb NOT NULL,
        after jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX ix_gift_catalog_changes_gift ON gift_catalog_changes (gift_id, created_at)`);
    await q.query(`CREATE TRIGGER gift_catalog_changes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON gift_catalog_changes
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE gift_catalog_changes`);
    await q.query(`ALTER TABLE rooms DROP COLUMN cover_key`);
    await q.query(`ALTER TABLE users DROP COLUMN avatar_key`);
    await q.query(`DROP TABLE media_uploads`);
  }
}
