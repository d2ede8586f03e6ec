import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Gifting anti-fraud: patterns the scanner flags for support staff to review, and who is staff.
 *
 *  - A flag holds the receipts it names: the scanner moves them from `pending` to `held` in the
 *    transaction that records the flag, and the settlement flow never settles `held` receipts.
 *    Receipts already settled are not clawed back by a flag; the evidence counts them.
 *  - One open flag per pattern (`kind`, `subject_key`): a re-scan adds the pattern's new
 *    receipts to it instead of opening another. A receipt joins at most one flag of each kind,
 *    so after a release the same receipts never come back; only new ones open a new flag.
 *  - Evidence holds counts and sums only: no device ids (shared-device flags count devices).
 *  - Every review decision is an append-only row in `gift_fraud_reviews`, written in the
 *    transaction that applies it.
 */
export class GiftFraudReview1764500300000 implements MigrationInterface {
  name = 'GiftFraudReview1764500300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE staff_members (
        user_id uuid PRIMARY KEY REFERENCES users(id),
        role varchar(16) NOT NULL DEFAULT 'support' CHECK (role IN ('support', 'admin')),
        granted_by varchar(128) NOT NULL,
        granted_at timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE TABLE gift_fraud_flags (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        kind varchar(16) NOT NULL CHECK (kind IN ('round-trip', 'shared-device')),
        -- The pattern: 'round-trip:<lower id>:<higher id>' or 'shared-device:<receiver id>'.
        subject_key varchar(100) NOT NULL,
        -- Who got the diamonds (for a round trip, whoever received more coins when first flagged).
        receiver_id uuid NOT NULL REFERENCES users(id),
        user_ids uuid[] NOT NULL CHECK (cardinality(user_ids) >= 2),
        coins bigint NOT NULL DEFAULT 0 CHECK (coins >= 0),
        diamonds bigint NOT NULL DEFAULT 0 CHECK (diamonds >= 0),
        receipt_count integer NOT NULL DEFAULT 0 CHECK (receipt_count >= 0),
        evidence jsonb NOT NULL,
        status varchar(16) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'released', 'reversed')),
        reviewed_by uuid REFERENCES users(id),
        reviewed_at timestamptz,
        note varchar(500),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT gift_fraud_flags_reviewed CHECK ((status = 'open') = (reviewed_at IS NULL) AND (reviewed_at IS NULL) = (reviewed_by IS NULL))
      )`);
    await q.query(`CREATE UNIQUE INDEX uq_gift_fraud_flags_open_subject ON gift_fraud_flags (kind, subject_key) WHERE status = 'open'`);
    // The staff list: by status, newest first (keyset on created_at, id).
    await q.query(`CREATE INDEX ix_gift_fraud_flags_status_created ON gift_fraud_flags (status, created_at DESC, id DESC)`);

    await q.query(`
      CREATE TABLE gift_fraud_flag_receipts (
        flag_id uuid NOT NULL REFERENCES gift_fraud_flags(id),
        receipt_id bigint NOT NULL REFERENCES gift_receipts(id),
        -- Copied from the flag so a receipt joins at most one flag of each kind.
        kind varchar(16) NOT NULL,
        PRIMARY KEY (flag_id, receipt_id),
        CONSTRAINT uq_gift_fraud_flag_receipts_receipt_kind UNIQUE (receipt_id, kind)
      )`);

    await q.query(`
      CREATE TABLE gift_fraud_reviews (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        flag_id uuid NOT NULL REFERENCES gift_fraud_flags(id),
        reviewed_by uuid NOT NULL REFERENCES users(id),
        decision varchar(16) NOT NULL CHECK (decision IN ('release', 'reverse')),
        note varchar(500) NOT NULL,
        -- What the decision moved: receipt ids and totals.
        effect jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX ix_gift_fraud_reviews_flag ON gift_fraud_reviews (flag_id)`);
    await q.query(`CREATE TRIGGER gift_fraud_reviews_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON gift_fraud_reviews
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()`);
    await q.query(`CREATE TRIGGER gift_fraud_flag_receipts_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON gift_fraud_flag_receipts
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()`);
    // The shared-device rule reads which devices a sender signed in from lately.
    await q.query(`CREATE INDEX ix_sessions_user_device ON sessions (user_id, last_used_at) WHERE device_id IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ix_sessions_user_device`);
    await q.query(`DROP TABLE gift_fraud_reviews, gift_fraud_flag_receipts, gift_fraud_flags, staff_members`);
  }
}
