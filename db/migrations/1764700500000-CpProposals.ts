import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * CP proposals (issue 11, item 5): a proposal holds the ring's coins in escrow until it is
 * answered, and the tables that keep "each coin counted once" true around it.
 *
 *  - `cp_proposals`: one row per proposal. The escrow debit (`cp_escrow`) commits with the row;
 *    a proposal closed without a pair (declined, expired, withdrawn, cancelled) has its refund
 *    entry (`cp_refund`) in the same transaction that closed it (the CHECK below), and an
 *    accepted one names its pair and the gift its coins became. At most one pending proposal
 *    between two people, either direction (partial unique index).
 *  - `cp_pairs` gains the proposal that formed it (unique: a retried accept finds its pair) and
 *    the breakup fee's ledger entry.
 *  - `cp_intimacy_gifts`: each gift receipt that counted toward a pair's intimacy, keyed by the
 *    receipt, so the after-commit listener and its repair can never count one twice.
 *  - A ring gift has no room: gift_sends.room_id and gift_receipts.room_id become nullable
 *    (room boards skip receipts without a room).
 */
export class CpProposals1764700500000 implements MigrationInterface {
  name = 'CpProposals1764700500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE gift_sends ALTER COLUMN room_id DROP NOT NULL`);
    await q.query(`ALTER TABLE gift_receipts ALTER COLUMN room_id DROP NOT NULL`);

    await q.query(`
      CREATE TABLE cp_proposals (
        id uuid PRIMARY KEY,
        proposer_id uuid NOT NULL REFERENCES users(id),
        addressee_id uuid NOT NULL REFERENCES users(id),
        ring_gift_id varchar(64) NOT NULL REFERENCES gifts(id),
        coins bigint NOT NULL CHECK (coins > 0),
        diamonds bigint NOT NULL CHECK (diamonds >= 0),
        state varchar(16) NOT NULL DEFAULT 'pending'
          CHECK (state IN ('pending', 'accepted', 'declined', 'expired', 'withdrawn', 'cancelled')),
        -- Why a proposal was cancelled: the code that refused its accept, or what paired a party elsewhere.
        cancel_reason varchar(32),
        escrow_entry_id bigint NOT NULL UNIQUE REFERENCES ledger_entries(id),
        refund_entry_id bigint UNIQUE REFERENCES ledger_entries(id),
        pair_id uuid REFERENCES cp_pairs(id),
        send_id uuid UNIQUE REFERENCES gift_sends(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        answered_at timestamptz,
        -- Set once its cp-proposal flow is known to run; the worker's sweep starts flows a crash left unstarted.
        flow_started_at timestamptz,
        CONSTRAINT cp_proposals_not_self CHECK (proposer_id <> addressee_id),
        CONSTRAINT cp_proposals_expiry_after_creation CHECK (expires_at > created_at),
        CONSTRAINT cp_proposals_accepted_has_pair CHECK ((state = 'accepted') = (pair_id IS NOT NULL AND send_id IS NOT NULL)),
        CONSTRAINT cp_proposals_closed_is_refunded CHECK ((state IN ('declined', 'expired', 'withdrawn', 'cancelled')) = (refund_entry_id IS NOT NULL)),
        CONSTRAINT cp_proposals_open_unanswered CHECK ((state = 'pending') = (answered_at IS NULL))
      )`);
    await q.query(`CREATE UNIQUE INDEX uq_cp_proposals_pending_between ON cp_proposals
      (least(proposer_id, addressee_id), greatest(proposer_id, addressee_id)) WHERE state = 'pending'`);
    await q.query(`CREATE INDEX ix_cp_proposals_pending_out ON cp_proposals (proposer_id, created_at DESC, id DESC) WHERE state = 'pending'`);
    await q.query(`CREATE INDEX ix_cp_proposals_pending_in ON cp_proposals (addressee_id, created_at DESC, id DESC) WHERE state = 'pending'`);
    await q.query(`CREATE INDEX ix_cp_proposals_unstarted ON cp_proposals (created_at) WHERE state = 'pending' AND flow_started_at IS NULL`);

    await q.query(`
      ALTER TABLE cp_pairs
        ADD COLUMN proposal_id uuid UNIQUE REFERENCES cp_proposals(id),
        ADD COLUMN breakup_fee_entry_id bigint UNIQUE REFERENCES ledger_entries(id),
        ADD CONSTRAINT cp_pairs_ended_by_party CHECK (ended_by IS NULL OR ended_by IN (user_a, user_b)),
        ADD CONSTRAINT cp_pairs_ended_has_who CHECK ((ended_at IS NULL) = (ended_by IS NULL))`);
    // Gifts between two users find their pair; cooldowns find a user's last ended pair.
    await q.query(`CREATE INDEX ix_cp_pairs_users ON cp_pairs (user_a, user_b, formed_at)`);
    await q.query(`CREATE INDEX ix_cp_pairs_a_ended ON cp_pairs (user_a, ended_at) WHERE ended_at IS NOT NULL`);
    await q.query(`CREATE INDEX ix_cp_pairs_b_ended ON cp_pairs (user_b, ended_at) WHERE ended_at IS NOT NULL`);

    // One partner at a time, really: the foundation's two partial unique indexes (open pairs by
    // user_a, by user_b) let a user be user_a of one open pair and user_b of another. Each open
    // pair's two users get a row here (primary key: the user), kept by triggers on cp_pairs, so
    // any writer of cp_pairs is held to it and two pairs racing for one person conflict.
    await q.query(`
      CREATE TABLE cp_open_partners (
        user_id uuid PRIMARY KEY REFERENCES users(id),
        pair_id uuid NOT NULL REFERENCES cp_pairs(id)
      )`);
    await q.query(`INSERT INTO cp_open_partners (user_id, pair_id)
      SELECT user_a, id FROM cp_pairs WHERE ended_at IS NULL UNION ALL SELECT user_b, id FROM cp_pairs WHERE ended_at IS NULL`);
    await q.query(`
      CREATE FUNCTION cp_pairs_keep_open_partners() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          IF NEW.ended_at IS NULL THEN
            INSERT INTO cp_open_partners (user_id, pair_id) VALUES (NEW.user_a, NEW.id), (NEW.user_b, NEW.id);
          END IF;
        ELSIF OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL THEN
          DELETE FROM cp_open_partners WHERE pair_id = NEW.id;
        ELSIF OLD.ended_at IS NOT NULL AND NEW.ended_at IS NULL THEN
          RAISE EXCEPTION 'an ended CP pair stays ended' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER cp_pairs_keep_open_partners AFTER INSERT OR UPDATE OF ended_at ON cp_pairs
      FOR EACH ROW EXECUTE FUNCTION cp_pairs_keep_open_partners()`);

    await q.query(`
      CREATE TABLE cp_intimacy_gifts (
        receipt_id bigint PRIMARY KEY REFERENCES gift_receipts(id),
        pair_id uuid NOT NULL REFERENCES cp_pairs(id),
        coins bigint NOT NULL CHECK (coins > 0),
        -- The receipt's created_at: the week it counts in.
        created_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX ix_cp_intimacy_gifts_pair ON cp_intimacy_gifts (pair_id, created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE cp_intimacy_gifts`);
    await q.query(`DROP TRIGGER cp_pairs_keep_open_partners ON cp_pairs`);
    await q.query(`DROP FUNCTION cp_pairs_keep_open_partners`);
    await q.query(`DROP TABLE cp_open_partners`);
    await q.query(`DROP INDEX ix_cp_pairs_users, ix_cp_pairs_a_ended, ix_cp_pairs_b_ended`);
    await q.query(`ALTER TABLE cp_pairs DROP CONSTRAINT cp_pairs_ended_has_who, DROP CONSTRAINT cp_pairs_ended_by_party,
      DROP COLUMN breakup_fee_entry_id, DROP COLUMN proposal_id`);
    await q.query(`DROP TABLE cp_proposals`);
    await q.query(`ALTER TABLE gift_receipts ALTER COLUMN room_id SET NOT NULL`);
    await q.query(`ALTER TABLE gift_sends ALTER COLUMN room_id SET NOT NULL`);
  }
}
