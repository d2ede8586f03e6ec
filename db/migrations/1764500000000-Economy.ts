import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The economy: what coins buy (the gift catalog), what a gift leaves behind (a send and one
 * receipt per receiver), coins owed after a refund, and replayable API requests.
 *
 *  - `coins_owed` is a third ledger currency. A refund claws back what the buyer still has and
 *    records the rest as owed (a positive balance of `coins_owed`), so no balance goes negative;
 *    later coin credits pay it down, and gifting is refused while anything is owed.
 *  - Diamonds from a gift are not credited at send time. Each receiver gets a `gift_receipts` row
 *    (pending), and the settlement flow moves matured receipts into the `diamonds` balance with
 *    one ledger entry per batch. A hot receiver's wallet row is therefore never locked by a send:
 *    a thousand senders gifting one host contend on nothing but their own wallets.
 *  - A receipt's coins and diamonds are what rankings and anti-fraud count, so PostgreSQL can
 *    rebuild every ranking from them.
 */
export class Economy1764500000000 implements MigrationInterface {
  name = 'Economy1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE wallets ADD COLUMN coins_owed bigint NOT NULL DEFAULT 0
      CONSTRAINT wallets_coins_owed_non_negative CHECK (coins_owed >= 0)`);
    await q.query(`ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_currency_check`);
    await q.query(`ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_currency_check
      CHECK (currency IN ('coins', 'diamonds', 'coins_owed'))`);
    await q.query(`
      CREATE OR REPLACE FUNCTION ledger_compute_balance_after() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE current_balance bigint;
      BEGIN
        IF NEW.currency = 'coins' THEN
          SELECT coins INTO current_balance FROM wallets WHERE user_id = NEW.user_id FOR UPDATE;
        ELSIF NEW.currency = 'diamonds' THEN
          SELECT diamonds INTO current_balance FROM wallets WHERE user_id = NEW.user_id FOR UPDATE;
        ELSE
          SELECT coins_owed INTO current_balance FROM wallets WHERE user_id = NEW.user_id FOR UPDATE;
        END IF;
        IF NOT FOUND THEN
          RAISE EXCEPTION 'no wallet for user %', NEW.user_id USING ERRCODE = 'foreign_key_violation';
        END IF;
        NEW.balance_after := current_balance + NEW.amount;
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION ledger_apply_to_wallet() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE applied bigint;
      BEGIN
        IF NEW.currency = 'coins' THEN
          UPDATE wallets SET coins = coins + NEW.amount, updated_at = now()
            WHERE user_id = NEW.user_id RETURNING coins INTO applied;
        ELSIF NEW.currency = 'diamonds' THEN
          UPDATE wallets SET diamonds = diamonds + NEW.amount, updated_at = now()
            WHERE user_id = NEW.user_id RETURNING diamonds INTO applied;
        ELSE
          UPDATE wallets SET coins_owed = coins_owed + NEW.amount, updated_at = now()
            WHERE user_id = NEW.user_id RETURNING coins_owed INTO applied;
        END IF;
        IF applied IS DISTINCT FROM NEW.balance_after THEN
          RAISE EXCEPTION 'ledger entry % disagrees with wallet balance (% vs %): insert entries one per statement',
            NEW.id, NEW.balance_after, applied USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION wallets_guard_balances() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          IF NEW.coins <> 0 OR NEW.diamonds <> 0 OR NEW.coins_owed <> 0 THEN
            RAISE EXCEPTION 'a wallet starts empty; credit it through ledger_entries' USING ERRCODE = 'check_violation';
          END IF;
        ELSIF (NEW.coins IS DISTINCT FROM OLD.coins OR NEW.diamonds IS DISTINCT FROM OLD.diamonds
               OR NEW.coins_owed IS DISTINCT FROM OLD.coins_owed)
              AND pg_trigger_depth() < 2 THEN
          RAISE EXCEPTION 'wallet balances change only through ledger_entries' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
      END $$`);
    // The wallet's transaction history pages newest first by id.
    await q.query(`CREATE INDEX ix_ledger_entries_user_id_desc ON ledger_entries (user_id, id DESC)`);

    // Exclusive gifts compare against this; VIP purchases (a later capability) set it.
    await q.query(`ALTER TABLE users ADD COLUMN vip_tier smallint NOT NULL DEFAULT 0 CHECK (vip_tier BETWEEN 0 AND 10)`);

    // ---- The gift catalog (reference data; rows are seeded by a later migration) ----
    await q.query(`
      CREATE TABLE gift_categories (
        id varchar(32) PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9-]{0,31}$'),
        -- Localized names: {"en": "Popular", "ar": "..."}; "en" is the fallback and required.
        names jsonb NOT NULL CHECK (names ? 'en'),
        sort_order integer NOT NULL DEFAULT 0
      )`);
    await q.query(`
      CREATE TABLE gifts (
        id varchar(64) PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
        category_id varchar(32) NOT NULL REFERENCES gift_categories(id),
        names jsonb NOT NULL CHECK (names ? 'en'),
        price_coins integer NOT NULL CHECK (price_coins > 0),
        diamond_value integer NOT NULL CHECK (diamond_value >= 0),
        -- ISO 3166-1 alpha-2 regions where the gift is offered; NULL: everywhere.
        regions varchar(2)[] CHECK (regions IS NULL OR cardinality(regions) > 0),
        min_vip_tier smallint NOT NULL DEFAULT 0 CHECK (min_vip_tier BETWEEN 0 AND 10),
        sort_order integer NOT NULL DEFAULT 0,
        enabled boolean NOT NULL DEFAULT true,
        -- {format: svga|mp4-alpha|vap|lottie, url, durationMs, display: banner|fullscreen, soundUrl?}
        animation jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE gift_region_prices (
        gift_id varchar(64) NOT NULL REFERENCES gifts(id),
        region varchar(2) NOT NULL CHECK (region ~ '^[A-Z]{2}$'),
        price_coins integer NOT NULL CHECK (price_coins > 0),
        PRIMARY KEY (gift_id, region)
      )`);

    // ---- What a gift leaves behind ----
    await q.query(`
      CREATE TABLE gift_sends (
        id uuid PRIMARY KEY,
        sender_id uuid NOT NULL REFERENCES users(id),
        room_id uuid NOT NULL REFERENCES rooms(id),
        gift_id varchar(64) NOT NULL REFERENCES gifts(id),
        quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 9999),
        unit_price_coins integer NOT NULL CHECK (unit_price_coins > 0),
        unit_diamonds integer NOT NULL CHECK (unit_diamonds >= 0),
        receiver_count integer NOT NULL CHECK (receiver_count >= 1),
        total_coins bigint NOT NULL CHECK (total_coins > 0),
        debit_entry_id bigint NOT NULL UNIQUE REFERENCES ledger_entries(id),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX ix_gift_sends_sender_created ON gift_sends (sender_id, created_at)`);
    // One row per receiver. state: pending (in the hold), held (anti-fraud: waits for review),
    // settled (credited as diamonds), reversed (the coins that paid for it were clawed back, or
    // review rejected it). Only the settlement and reversal paths move it, never backwards.
    await q.query(`
      CREATE TABLE gift_receipts (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        send_id uuid NOT NULL REFERENCES gift_sends(id),
        sender_id uuid NOT NULL REFERENCES users(id),
        receiver_id uuid NOT NULL REFERENCES users(id),
        room_id uuid NOT NULL REFERENCES rooms(id),
        coins bigint NOT NULL CHECK (coins > 0),
        diamonds bigint NOT NULL CHECK (diamonds >= 0),
        state varchar(16) NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'held', 'settled', 'reversed')),
        hold_until timestamptz NOT NULL,
        settled_entry_id bigint REFERENCES ledger_entries(id),
        reversed_reason varchar(32) CHECK (reversed_reason IN ('clawback', 'review')),
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        CONSTRAINT uq_gift_receipts_send_receiver UNIQUE (send_id, receiver_id),
        CONSTRAINT gift_receipts_settled_has_entry CHECK ((state = 'settled') = (settled_entry_id IS NOT NULL)),
        CONSTRAINT gift_receipts_reversed_has_reason CHECK ((state = 'reversed') = (reversed_reason IS NOT NULL))
      )`);
    await q.query(`CREATE INDEX ix_gift_receipts_open_receiver ON gift_receipts (receiver_id, hold_until) WHERE state IN ('pending', 'held')`);
    await q.query(`CREATE INDEX ix_gift_receipts_open_sender ON gift_receipts (sender_id, created_at) WHERE state IN ('pending', 'held')`);
    await q.query(`CREATE INDEX ix_gift_receipts_created ON gift_receipts (created_at)`);
    await q.query(`CREATE INDEX ix_gift_receipts_room_created ON gift_receipts (room_id, created_at)`);
    await q.query(`
      CREATE FUNCTION gift_receipts_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.id <> OLD.id OR NEW.send_id <> OLD.send_id OR NEW.sender_id <> OLD.sender_id
           OR NEW.receiver_id <> OLD.receiver_id OR NEW.coins <> OLD.coins OR NEW.diamonds <> OLD.diamonds THEN
          RAISE EXCEPTION 'a gift receipt''s parties and amounts never change' USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF OLD.state IN ('settled', 'reversed') AND NEW.state IS DISTINCT FROM OLD.state THEN
          RAISE EXCEPTION 'gift receipt % is already %', OLD.id, OLD.state USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER gift_receipts_forward_only BEFORE UPDATE ON gift_receipts
      FOR EACH ROW EXECUTE FUNCTION gift_receipts_forward_only()`);
    await q.query(`CREATE TRIGGER gift_receipts_no_delete BEFORE DELETE OR TRUNCATE ON gift_receipts
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()`);
    await q.query(`CREATE TRIGGER gift_sends_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON gift_sends
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()`);

    // Daily gifting totals the anti-fraud caps read under the sender's wallet lock (UTC days).
    await q.query(`
      CREATE TABLE gift_daily_totals (
        sender_id uuid NOT NULL REFERENCES users(id),
        day date NOT NULL,
        coins bigint NOT NULL CHECK (coins >= 0),
        PRIMARY KEY (sender_id, day)
      )`);
    await q.query(`
      CREATE TABLE gift_pair_daily_totals (
        sender_id uuid NOT NULL REFERENCES users(id),
        receiver_id uuid NOT NULL REFERENCES users(id),
        day date NOT NULL,
        coins bigint NOT NULL CHECK (coins >= 0),
        gifts integer NOT NULL CHECK (gifts >= 0),
        PRIMARY KEY (sender_id, receiver_id, day)
      )`);

    // ---- Replayable requests (the Idempotency-Key header, Stripe's semantics) ----
    // Written in the same transaction as the effect, so a key is never recorded for an effect
    // that did not commit, nor an effect committed without its key.
    await q.query(`
      CREATE TABLE idempotent_requests (
        user_id uuid NOT NULL REFERENCES users(id),
        key varchar(255) NOT NULL,
        -- Method and route template plus a SHA-256 of the canonical body: reuse with another
        -- request is refused.
        request_hash char(64) NOT NULL,
        status_code smallint NOT NULL,
        response jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, key)
      )`);
    await q.query(`CREATE INDEX ix_idempotent_requests_created ON idempotent_requests (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE idempotent_requests, gift_pair_daily_totals, gift_daily_totals, gift_receipts, gift_sends, gift_region_prices, gifts, gift_categories`);
    await q.query(`DROP FUNCTION gift_receipts_forward_only`);
    await q.query(`ALTER TABLE users DROP COLUMN vip_tier`);
    await q.query(`DROP INDEX ix_ledger_entries_user_id_desc`);
    await q.query(`ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_currency_check`);
    await q.query(`ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_currency_check CHECK (currency IN ('coins', 'diamonds'))`);
    await q.query(`ALTER TABLE wallets DROP COLUMN coins_owed`);
  }
}
