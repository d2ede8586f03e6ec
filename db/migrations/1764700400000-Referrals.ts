import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Referrals (issue 11): who was attributed to whom (one row per referee, ever), what each
 * milestone paid, and every refused attempt with its reason. These tables are the record the
 * referral leaderboards in Redis are rebuilt from.
 *
 * Sessions get the indexes the fraud rules read them by: the device id, the address (GiST, for
 * "within this /24 or /64"), and the user without the active-only filter (a referee's sign-in
 * days count revoked sessions too).
 */
export class Referrals1764700400000 implements MigrationInterface {
  name = 'Referrals1764700400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE referrals (
        referee_id uuid PRIMARY KEY REFERENCES users(id),
        referrer_id uuid NOT NULL REFERENCES users(id),
        invite_code varchar(12) NOT NULL,
        via varchar(8) NOT NULL CHECK (via IN ('sign-up', 'later')),
        attributed_at timestamptz NOT NULL DEFAULT now(),
        -- Milestones count only records before this instant.
        window_ends_at timestamptz NOT NULL,
        device_id varchar(128),
        network cidr,
        -- Set once the referee's flow is known to run (a start that failed is started again by the next nudge).
        flow_started_at timestamptz,
        -- The first milestone paid: the referral counts on the leaderboards from then, in that week.
        qualified_at timestamptz,
        ended_at timestamptz,
        end_reason varchar(16) CHECK (end_reason IN ('completed', 'expired')),
        CONSTRAINT referrals_not_self CHECK (referee_id <> referrer_id),
        CONSTRAINT referrals_window CHECK (window_ends_at > attributed_at)
      )`);
    await q.query(`CREATE INDEX ix_referrals_referrer ON referrals (referrer_id, attributed_at DESC, referee_id DESC)`);
    await q.query(`CREATE INDEX ix_referrals_qualified ON referrals (qualified_at) WHERE qualified_at IS NOT NULL`);

    await q.query(`
      CREATE TABLE referral_payouts (
        referee_id uuid NOT NULL REFERENCES referrals(referee_id),
        milestone varchar(32) NOT NULL CHECK (milestone IN ('active-days', 'first-recharge', 'streak-7')),
        referrer_id uuid NOT NULL REFERENCES users(id),
        referrer_coins integer NOT NULL CHECK (referrer_coins >= 0),
        referee_coins integer NOT NULL CHECK (referee_coins >= 0),
        referrer_entry_id bigint REFERENCES ledger_entries(id),
        referee_entry_id bigint REFERENCES ledger_entries(id),
        paid_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (referee_id, milestone)
      )`);
    await q.query(`CREATE INDEX ix_referral_payouts_referrer ON referral_payouts (referrer_id)`);

    await q.query(`
      CREATE TABLE referral_refusals (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        referee_id uuid NOT NULL REFERENCES users(id),
        -- The code in its stored form; null when what was sent can be no code at all.
        invite_code varchar(12),
        referrer_id uuid REFERENCES users(id),
        reason varchar(32) NOT NULL CHECK (reason IN ('unknown_code', 'self', 'not_new_user', 'already_attributed',
                                                      'same_device', 'same_network', 'too_many_attempts')),
        via varchar(8) NOT NULL CHECK (via IN ('sign-up', 'later')),
        device_id varchar(128),
        network cidr,
        refused_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX ix_referral_refusals_referee ON referral_refusals (referee_id)`);

    await q.query(`CREATE INDEX ix_sessions_device_id ON sessions (device_id) WHERE device_id IS NOT NULL`);
    await q.query(`CREATE INDEX ix_sessions_ip ON sessions USING gist (ip inet_ops) WHERE ip IS NOT NULL`);
    await q.query(`CREATE INDEX ix_sessions_user_all ON sessions (user_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ix_sessions_user_all`);
    await q.query(`DROP INDEX ix_sessions_ip`);
    await q.query(`DROP INDEX ix_sessions_device_id`);
    await q.query(`DROP TABLE referral_refusals`);
    await q.query(`DROP TABLE referral_payouts`);
    await q.query(`DROP TABLE referrals`);
  }
}
