import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Gift settlement bookkeeping.
 *
 *  - `settlement_flows`: one row per (receiver, UTC day of receipt) whose settlement workflow
 *    (`settlement:<receiverId>:<day>`) the dispatcher has started. The grain is the receiver-day,
 *    not the gift: a room's gift storm adds receipts, never workflow starts.
 *  - `settlement_dispatch_cursor`: how far the dispatcher has read `gift_receipts.created_at`, so
 *    each run reads only what arrived since (less a margin for transactions still open), not
 *    every receipt in the hold.
 *  - A receiver's receipts by day (the settlement's working set, in every state) get an index.
 *  - Pending receipts by hold_until: the dispatcher's sweep for overdue ones (a flow that was
 *    terminated or failed) reads this, and normally finds nothing.
 *  - A receipt worth 0 diamonds (a gift with no diamond value) settles without a ledger entry:
 *    the ledger refuses zero amounts, so the "settled has an entry" rule allows that one case.
 */
export class SettlementFlows1764500400000 implements MigrationInterface {
  name = 'SettlementFlows1764500400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE settlement_flows (
        receiver_id uuid NOT NULL REFERENCES users(id),
        day date NOT NULL,
        workflow_id varchar(128) NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (receiver_id, day)
      )`);
    await q.query(`
      CREATE TABLE settlement_dispatch_cursor (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        scanned_until timestamptz NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX ix_gift_receipts_receiver_created ON gift_receipts (receiver_id, created_at)`);
    await q.query(`CREATE INDEX ix_gift_receipts_pending_hold ON gift_receipts (hold_until) WHERE state = 'pending'`);
    await q.query(`ALTER TABLE gift_receipts DROP CONSTRAINT gift_receipts_settled_has_entry`);
    await q.query(`ALTER TABLE gift_receipts ADD CONSTRAINT gift_receipts_settled_has_entry CHECK (
      CASE WHEN state = 'settled' THEN settled_entry_id IS NOT NULL OR diamonds = 0 ELSE settled_entry_id IS NULL END)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE gift_receipts DROP CONSTRAINT gift_receipts_settled_has_entry`);
    await q.query(`ALTER TABLE gift_receipts ADD CONSTRAINT gift_receipts_settled_has_entry CHECK ((state = 'settled') = (settled_entry_id IS NOT NULL))`);
    await q.query(`DROP INDEX ix_gift_receipts_pending_hold`);
    await q.query(`DROP INDEX ix_gift_receipts_receiver_created`);
    await q.query(`DROP TABLE settlement_dispatch_cursor, settlement_flows`);
  }
}
