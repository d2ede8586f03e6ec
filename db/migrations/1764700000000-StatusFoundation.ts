import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What several status features read about a user, in one place (issue 11): the VIP expiry
 * beside the tier the economy added, the running totals levels are computed from, the levels
 * themselves, the user's invite code, the medals they hold and show, and CP pairs. Each
 * feature's own tables (VIP tiers and purchases, medal definitions, referrals, CP proposals,
 * push tokens) come in its own migration.
 */
export class StatusFoundation1764700000000 implements MigrationInterface {
  name = 'StatusFoundation1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE users
        ADD COLUMN vip_expires_at timestamptz,
        -- Levels are derived from these totals (domain rules); kept here so a profile read is one row.
        ADD COLUMN coins_spent bigint NOT NULL DEFAULT 0 CHECK (coins_spent >= 0),
        ADD COLUMN diamonds_received bigint NOT NULL DEFAULT 0 CHECK (diamonds_received >= 0),
        ADD COLUMN wealth_level smallint NOT NULL DEFAULT 0 CHECK (wealth_level >= 0),
        ADD COLUMN charm_level smallint NOT NULL DEFAULT 0 CHECK (charm_level >= 0),
        -- Shown in invite links; unique, upper-case letters and digits.
        ADD COLUMN invite_code varchar(12) CHECK (invite_code ~ '^[A-Z0-9]{6,12}$'),
        ADD CONSTRAINT users_vip_tier_has_expiry CHECK ((vip_tier = 0) = (vip_expires_at IS NULL))`);
    await q.query(`CREATE UNIQUE INDEX uq_users_invite_code ON users (invite_code) WHERE invite_code IS NOT NULL`);

    // Medals a user holds (awarded once each); display_slot 1..N marks the ones their profile shows.
    await q.query(`
      CREATE TABLE user_medals (
        user_id uuid NOT NULL REFERENCES users(id),
        medal_id varchar(64) NOT NULL,
        awarded_at timestamptz NOT NULL DEFAULT now(),
        display_slot smallint CHECK (display_slot BETWEEN 1 AND 10),
        PRIMARY KEY (user_id, medal_id)
      )`);
    await q.query(`CREATE UNIQUE INDEX uq_user_medals_slot ON user_medals (user_id, display_slot) WHERE display_slot IS NOT NULL`);

    // CP (couple) pairs: user_a < user_b; one open pair per user at a time (the two partial
    // unique indexes), history kept when a pair ends.
    await q.query(`
      CREATE TABLE cp_pairs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_a uuid NOT NULL REFERENCES users(id),
        user_b uuid NOT NULL REFERENCES users(id),
        formed_at timestamptz NOT NULL DEFAULT now(),
        ended_at timestamptz,
        ended_by uuid REFERENCES users(id),
        -- Gifts the two exchange while paired, in coins: the CP level is read from it.
        intimacy bigint NOT NULL DEFAULT 0 CHECK (intimacy >= 0),
        CONSTRAINT cp_pairs_ordered CHECK (user_a < user_b)
      )`);
    await q.query(`CREATE UNIQUE INDEX uq_cp_pairs_open_a ON cp_pairs (user_a) WHERE ended_at IS NULL`);
    await q.query(`CREATE UNIQUE INDEX uq_cp_pairs_open_b ON cp_pairs (user_b) WHERE ended_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE cp_pairs`);
    await q.query(`DROP TABLE user_medals`);
    await q.query(`ALTER TABLE users DROP CONSTRAINT users_vip_tier_has_expiry, DROP COLUMN invite_code, DROP COLUMN charm_level,
      DROP COLUMN wealth_level, DROP COLUMN diamonds_received, DROP COLUMN coins_spent, DROP COLUMN vip_expires_at`);
  }
}
