import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Bans and mutes become records. Redis keeps a copy for fast checks and is rebuilt from these
 * tables when it loses it:
 *  - account_bans: account, IP and device bans. A row is never deleted: lifting one sets
 *    lifted_at, and a new ban of the same subject lifts the one it replaces, so at most one
 *    ban per subject is in force. changed_at moves with every change, so each process can
 *    fetch what changed since its last look;
 *  - room_chat_mutes (timed, expiring by muted_until), room_seat_mutes (a moderator's mute of a
 *    speaker, which follows them from seat to seat) and room_mute_all (the room's chat is
 *    closed to all but moderators). A lifted mute is deleted: the moderation log keeps the story;
 *  - an index to find recently revoked sessions, which every process keeps in memory.
 */
export class AccountBansAndRoomMutes1764400000000 implements MigrationInterface {
  name = 'AccountBansAndRoomMutes1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE account_bans (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('user', 'ip', 'device')),
        subject varchar(128) NOT NULL CHECK (length(subject) > 0),
        reason varchar(200) NOT NULL,
        -- Who decided: an operator's name or a staff user id, as the tool that banned reports it.
        created_by varchar(128) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz,
        lifted_at timestamptz,
        lifted_by varchar(128),
        changed_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT account_bans_expiry_after_start CHECK (expires_at IS NULL OR expires_at > created_at),
        CONSTRAINT account_bans_lift_has_author CHECK ((lifted_at IS NULL) = (lifted_by IS NULL))
      )`);
    await q.query(`CREATE UNIQUE INDEX uq_account_bans_in_force ON account_bans (kind, subject) WHERE lifted_at IS NULL`);
    await q.query(`CREATE INDEX ix_account_bans_changed ON account_bans (changed_at)`);
    // A ban's facts are fixed once written; only a lift (once) may follow.
    await q.query(`
      CREATE FUNCTION account_bans_guard_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP <> 'UPDATE' OR OLD.lifted_at IS NOT NULL
           OR NEW.id <> OLD.id OR NEW.kind <> OLD.kind OR NEW.subject <> OLD.subject OR NEW.reason <> OLD.reason
           OR NEW.created_by <> OLD.created_by OR NEW.created_at <> OLD.created_at
           OR NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
          RAISE EXCEPTION 'account bans are kept: a ban can only be lifted, once' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER account_bans_kept BEFORE UPDATE OR DELETE ON account_bans
      FOR EACH ROW EXECUTE FUNCTION account_bans_guard_change()`);

    await q.query(`
      CREATE TABLE room_chat_mutes (
        room_id uuid NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users(id),
        muted_until timestamptz NOT NULL,
        muted_by uuid NOT NULL,
        muted_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (room_id, user_id)
      )`);
    await q.query(`
      CREATE TABLE room_seat_mutes (
        room_id uuid NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users(id),
        muted_by uuid NOT NULL,
        muted_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (room_id, user_id)
      )`);
    await q.query(`
      CREATE TABLE room_mute_all (
        room_id uuid PRIMARY KEY REFERENCES rooms(id) ON DELETE CASCADE,
        muted_by uuid NOT NULL,
        muted_at timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`CREATE INDEX ix_sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ix_sessions_revoked`);
    await q.query(`DROP TABLE room_mute_all`);
    await q.query(`DROP TABLE room_seat_mutes`);
    await q.query(`DROP TABLE room_chat_mutes`);
    await q.query(`DROP TABLE account_bans`);
    await q.query(`DROP FUNCTION account_bans_guard_change`);
  }
}
