import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Notifications with push (issue 11, item 6): the list's paging and unread-count indexes, the
 * per-kind push preferences, the devices' FCM registration tokens, and the push outbox the
 * worker drains (one row per notification and token, written in the notification's transaction).
 */
export class Notifications1764700100000 implements MigrationInterface {
  name = 'Notifications1764700100000';

  async up(q: QueryRunner): Promise<void> {
    // The list pages by (created_at, id) newest first; the old index lacked the tie-breaker.
    await q.query(`CREATE INDEX ix_notifications_user_created_id ON notifications (user_id, created_at DESC, id DESC)`);
    await q.query(`DROP INDEX ix_notifications_user_created`);
    // Unread count and "mark all read" touch only unread rows: a small partial index.
    await q.query(`CREATE INDEX ix_notifications_user_unread ON notifications (user_id, created_at) WHERE read_at IS NULL`);

    // Push on/off per kind; no row means on. The row in the list is kept either way.
    await q.query(`
      CREATE TABLE notification_preferences (
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind varchar(64) NOT NULL,
        push boolean NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, kind)
      )`);

    // One row per app install. A token belongs to one user (the newest to register it); a
    // device registering a new token replaces its old one.
    await q.query(`
      CREATE TABLE push_tokens (
        token varchar(1024) PRIMARY KEY CHECK (token ~ '^[A-Za-z0-9_:.-]+$' AND length(token) >= 16),
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        platform varchar(16) NOT NULL CHECK (platform IN ('android')),
        device_id varchar(128) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        refreshed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX uq_push_tokens_user_device ON push_tokens (user_id, device_id)`);

    // Pushes still to send. A removed token takes its pending pushes with it.
    await q.query(`
      CREATE TABLE push_outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        notification_id uuid NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
        token varchar(1024) NOT NULL REFERENCES push_tokens(token) ON DELETE CASCADE,
        attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error varchar(300),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_push_outbox_notification_token UNIQUE (notification_id, token)
      )`);
    await q.query(`CREATE INDEX ix_push_outbox_due ON push_outbox (next_attempt_at)`);
    await q.query(`CREATE INDEX ix_push_outbox_token ON push_outbox (token)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE push_outbox`);
    await q.query(`DROP TABLE push_tokens`);
    await q.query(`DROP TABLE notification_preferences`);
    await q.query(`DROP INDEX ix_notifications_user_unread`);
    await q.query(`CREATE INDEX ix_notifications_user_created ON notifications (user_id, created_at DESC)`);
    await q.query(`DROP INDEX ix_notifications_user_created_id`);
  }
}
