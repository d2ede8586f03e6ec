import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The durable side of rooms, and who follows or blocks whom. Seats, presence and the
 * popularity ranking are live state in Redis; what must outlive a restart lives here:
 *  - a room row with its settings; rooms are closed, never deleted (the audit log points at them);
 *  - admins and bans per room;
 *  - the chat archive, idempotent per sender and client message id, with recall/delete tombstones;
 *  - the moderation audit log, which can't be updated, deleted or truncated;
 *  - user reports for the trust-and-safety queue;
 *  - follows and blocks between users.
 */
export class Rooms1764300000000 implements MigrationInterface {
  name = 'Rooms1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE rooms (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        owner_id uuid NOT NULL REFERENCES users(id),
        type text NOT NULL CHECK (type IN ('voice', 'video', 'music')),
        name varchar(64) NOT NULL CHECK (length(trim(name)) BETWEEN 1 AND 64),
        cover_url varchar(512),
        topic varchar(200),
        -- ISO 3166-1 alpha-2, for regional discovery.
        region varchar(2) CHECK (region ~ '^[A-Z]{2}$'),
        -- Fixed at creation: the live seat map in Redis is sized from it.
        seat_count integer NOT NULL CHECK (seat_count BETWEEN 1 AND 20),
        seat_mode text NOT NULL CHECK (seat_mode IN ('free', 'apply')),
        -- scrypt$N$r$p$salt$hash; never the password itself.
        password_hash text,
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        closed_reason text CHECK (closed_reason IN ('owner', 'empty', 'admin')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        closed_at timestamptz,
        CONSTRAINT rooms_closed_at_matches_status CHECK ((status = 'closed') = (closed_at IS NOT NULL))
      )`);
    // Discovery lists open rooms newest first with keyset pagination on (created_at, id).
    await q.query(`CREATE INDEX ix_rooms_open_new ON rooms (created_at DESC, id DESC) WHERE status = 'open'`);
    await q.query(`CREATE INDEX ix_rooms_open_region_new ON rooms (region, created_at DESC, id DESC) WHERE status = 'open'`);
    await q.query(`CREATE INDEX ix_rooms_open_owner ON rooms (owner_id) WHERE status = 'open'`);

    await q.query(`
      CREATE TABLE room_admins (
        room_id uuid NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users(id),
        granted_by uuid NOT NULL,
        granted_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (room_id, user_id)
      )`);
    await q.query(`
      CREATE TABLE room_bans (
        room_id uuid NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users(id),
        banned_by uuid NOT NULL,
        reason varchar(200),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (room_id, user_id)
      )`);
    // Ban lists page newest first.
    await q.query(`CREATE INDEX ix_room_bans_room_created ON room_bans (room_id, created_at DESC, user_id DESC)`);

    // body is up to 2000 characters because system messages can be long; the 500-character
    // limit on what users type is enforced in code. A recalled or deleted message keeps its
    // body for moderation and reports; clients only ever see the tombstone.
    await q.query(`
      CREATE TABLE room_messages (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        room_id uuid NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        sender_id uuid REFERENCES users(id),
        kind text NOT NULL CHECK (kind IN ('text', 'system')),
        body varchar(2000) NOT NULL CHECK (length(body) > 0),
        client_msg_id varchar(64),
        created_at timestamptz NOT NULL DEFAULT now(),
        recalled_at timestamptz,
        deleted_at timestamptz,
        deleted_by uuid,
        -- A system message is the only kind without a sender.
        CONSTRAINT room_messages_system_has_no_sender CHECK ((kind = 'system') = (sender_id IS NULL)),
        CONSTRAINT room_messages_deleted_by_with_deleted_at CHECK ((deleted_by IS NULL) OR (deleted_at IS NOT NULL))
      )`);
    // One row per client retry. NULLS NOT DISTINCT so system messages (no sender) dedupe too.
    await q.query(`
      CREATE UNIQUE INDEX uq_room_messages_client_msg ON room_messages (room_id, sender_id, client_msg_id)
        NULLS NOT DISTINCT WHERE client_msg_id IS NOT NULL`);
    await q.query(`CREATE INDEX ix_room_messages_room_id ON room_messages (room_id, id DESC)`);

    // No ON DELETE CASCADE: the log is append-only, so a room with a log can't be deleted.
    await q.query(`
      CREATE TABLE room_moderation_log (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        room_id uuid NOT NULL REFERENCES rooms(id),
        actor_id uuid NOT NULL,
        action text NOT NULL,
        target_user_id uuid,
        target_message_id bigint,
        details jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX ix_room_moderation_log_room_id ON room_moderation_log (room_id, id DESC)`);
    // Same approach as ledger_entries: row triggers refuse UPDATE/DELETE, a statement trigger TRUNCATE.
    await q.query(`
      CREATE FUNCTION room_moderation_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'the room moderation log is append-only' USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`CREATE TRIGGER room_moderation_log_append_only BEFORE UPDATE OR DELETE ON room_moderation_log
      FOR EACH ROW EXECUTE FUNCTION room_moderation_log_refuse_change()`);
    await q.query(`CREATE TRIGGER room_moderation_log_no_truncate BEFORE TRUNCATE ON room_moderation_log
      FOR EACH STATEMENT EXECUTE FUNCTION room_moderation_log_refuse_change()`);

    // Reports outlive what they point at being recalled or closed, so nothing cascades.
    await q.query(`
      CREATE TABLE reports (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        reporter_id uuid NOT NULL REFERENCES users(id),
        room_id uuid REFERENCES rooms(id),
        target_user_id uuid REFERENCES users(id),
        target_message_id bigint REFERENCES room_messages(id),
        reason text NOT NULL CHECK (reason IN ('spam', 'harassment', 'hate', 'sexual', 'violence', 'other')),
        details varchar(500),
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'reviewed', 'dismissed')),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT reports_have_a_target CHECK (target_user_id IS NOT NULL OR target_message_id IS NOT NULL OR room_id IS NOT NULL)
      )`);
    await q.query(`CREATE INDEX ix_reports_open ON reports (created_at) WHERE status = 'open'`);

    await q.query(`
      CREATE TABLE user_follows (
        follower_id uuid NOT NULL REFERENCES users(id),
        followee_id uuid NOT NULL REFERENCES users(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (follower_id, followee_id),
        CONSTRAINT user_follows_not_self CHECK (follower_id <> followee_id)
      )`);
    // Followers of a user (the PK covers who a user follows).
    await q.query(`CREATE INDEX ix_user_follows_followee ON user_follows (followee_id)`);
    await q.query(`
      CREATE TABLE user_blocks (
        blocker_id uuid NOT NULL REFERENCES users(id),
        blocked_id uuid NOT NULL REFERENCES users(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (blocker_id, blocked_id),
        CONSTRAINT user_blocks_not_self CHECK (blocker_id <> blocked_id)
      )`);
    // "Is either blocking the other" looks both ways.
    await q.query(`CREATE INDEX ix_user_blocks_blocked ON user_blocks (blocked_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE user_blocks`);
    await q.query(`DROP TABLE user_follows`);
    await q.query(`DROP TABLE reports`);
    await q.query(`DROP TABLE room_moderation_log`);
    await q.query(`DROP FUNCTION room_moderation_log_refuse_change`);
    await q.query(`DROP TABLE room_messages`);
    await q.query(`DROP TABLE room_bans`);
    await q.query(`DROP TABLE room_admins`);
    await q.query(`DROP TABLE rooms`);
  }
}
