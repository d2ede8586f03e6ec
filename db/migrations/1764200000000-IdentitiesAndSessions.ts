import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Sign-in methods and sessions. A phone identity's subject is the keyed hash of the number;
 * the number itself is kept only encrypted (`secret`) and masked (`display`).
 * Refresh tokens are stored as SHA-256 hashes; a session is one token family.
 */
export class IdentitiesAndSessions1764200000000 implements MigrationInterface {
  name = 'IdentitiesAndSessions1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE user_identities (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id),
        provider varchar(16) NOT NULL CHECK (provider IN ('phone', 'google', 'apple', 'facebook')),
        subject varchar(255) NOT NULL,
        display varchar(255),
        secret text,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_user_identities_provider_subject UNIQUE (provider, subject)
      )`);
    await q.query(`CREATE INDEX ix_user_identities_user ON user_identities (user_id)`);
    await q.query(`
      CREATE TABLE sessions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users(id),
        device_id varchar(128),
        device_name varchar(128),
        ip inet,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        revoke_reason varchar(32)
      )`);
    await q.query(`CREATE INDEX ix_sessions_user ON sessions (user_id) WHERE revoked_at IS NULL`);
    await q.query(`
      CREATE TABLE refresh_tokens (
        token_hash char(64) PRIMARY KEY,
        session_id uuid NOT NULL REFERENCES sessions(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        rotated_at timestamptz
      )`);
    await q.query(`CREATE INDEX ix_refresh_tokens_session ON refresh_tokens (session_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE refresh_tokens`);
    await q.query(`DROP TABLE sessions`);
    await q.query(`DROP TABLE user_identities`);
  }
}
