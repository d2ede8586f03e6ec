import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Users, wallets, the append-only ledger, daily-reward claims and notifications.
 * The money rules live in the database so no code path can break them:
 *  - a wallet starts at zero and its balances change only through a ledger insert;
 *  - each entry records the balance after it, under the wallet's row lock;
 *  - no balance and no balance_after can be negative (CHECK);
 *  - ledger entries can't be updated, deleted or truncated;
 *  - one entry per idempotency key (UNIQUE).
 */
export class Foundation1764144000000 implements MigrationInterface {
  name = 'Foundation1764144000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE EXTENSION IF NOT EXISTS pgcrypto`);
    await q.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        display_name varchar(64) NOT NULL,
        time_zone varchar(64) NOT NULL DEFAULT 'UTC',
        status varchar(16) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'banned')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE wallets (
        user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE RESTRICT,
        coins bigint NOT NULL DEFAULT 0 CONSTRAINT wallets_coins_non_negative CHECK (coins >= 0),
        diamonds bigint NOT NULL DEFAULT 0 CONSTRAINT wallets_diamonds_non_negative CHECK (diamonds >= 0),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE ledger_entries (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES wallets(user_id) ON DELETE RESTRICT,
        currency varchar(16) NOT NULL CHECK (currency IN ('coins', 'diamonds')),
        amount bigint NOT NULL CHECK (amount <> 0),
        balance_after bigint NOT NULL CONSTRAINT ledger_balance_non_negative CHECK (balance_after >= 0),
        reason varchar(64) NOT NULL,
        idempotency_key varchar(200) NOT NULL CONSTRAINT uq_ledger_idempotency_key UNIQUE,
        metadata jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX ix_ledger_entries_user_created ON ledger_entries (user_id, created_at DESC)`);

    // Before insert: read the balance under the wallet's row lock and record what it becomes.
    // This also runs for an ON CONFLICT insert that ends up skipped, so it must not write.
    await q.query(`
      CREATE FUNCTION ledger_compute_balance_after() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE current_balance bigint;
      BEGIN
        IF NEW.currency = 'coins' THEN
          SELECT coins INTO current_balance FROM wallets WHERE user_id = NEW.user_id FOR UPDATE;
        ELSE
          SELECT diamonds INTO current_balance FROM wallets WHERE user_id = NEW.user_id FOR UPDATE;
        END IF;
        IF NOT FOUND THEN
          RAISE EXCEPTION 'no wallet for user %', NEW.user_id USING ERRCODE = 'foreign_key_violation';
        END IF;
        NEW.balance_after := current_balance + NEW.amount;
        RETURN NEW;
      END $$`);
    // After insert (only rows really inserted): move the wallet to the recorded balance.
    await q.query(`
      CREATE FUNCTION ledger_apply_to_wallet() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE applied bigint;
      BEGIN
        IF NEW.currency = 'coins' THEN
          UPDATE wallets SET coins = coins + NEW.amount, updated_at = now()
            WHERE user_id = NEW.user_id RETURNING coins INTO applied;
        ELSE
          UPDATE wallets SET diamonds = diamonds + NEW.amount, updated_at = now()
            WHERE user_id = NEW.user_id RETURNING diamonds INTO applied;
        END IF;
        IF applied IS DISTINCT FROM NEW.balance_after THEN
          RAISE EXCEPTION 'ledger entry % disagrees with wallet balance (% vs %): insert entries one per statement',
            NEW.id, NEW.balance_after, applied USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'ledger entries are append-only' USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`
      CREATE FUNCTION wallets_guard_balances() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          IF NEW.coins <> 0 OR NEW.diamonds <> 0 THEN
            RAISE EXCEPTION 'a wallet starts empty; credit it through ledger_entries' USING ERRCODE = 'check_violation';
          END IF;
        ELSIF (NEW.coins IS DISTINCT FROM OLD.coins OR NEW.diamonds IS DISTINCT FROM OLD.diamonds)
              AND pg_trigger_depth() < 2 THEN
          RAISE EXCEPTION 'wallet balances change only through ledger_entries' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER ledger_entries_balance_after BEFORE INSERT ON ledger_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_compute_balance_after()`);
    await q.query(`CREATE TRIGGER ledger_entries_apply AFTER INSERT ON ledger_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_apply_to_wallet()`);
    await q.query(`CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()`);
    await q.query(`CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()`);
    await q.query(`CREATE TRIGGER wallets_balances_guard BEFORE INSERT OR UPDATE ON wallets
      FOR EACH ROW EXECUTE FUNCTION wallets_guard_balances()`);
    await q.query(`CREATE TRIGGER wallets_no_delete BEFORE DELETE OR TRUNCATE ON wallets
      FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()`);

    await q.query(`
      CREATE TABLE daily_reward_claims (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id),
        claim_date date NOT NULL,
        cycle_day smallint NOT NULL CHECK (cycle_day BETWEEN 1 AND 7),
        coins integer NOT NULL CHECK (coins > 0),
        streak integer NOT NULL CHECK (streak > 0),
        ledger_entry_id bigint NOT NULL UNIQUE REFERENCES ledger_entries(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_daily_reward_claims_user_date UNIQUE (user_id, claim_date)
      )`);
    await q.query(`
      CREATE TABLE notifications (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users(id),
        kind varchar(64) NOT NULL,
        title varchar(200) NOT NULL,
        body varchar(1000) NOT NULL,
        data jsonb NOT NULL DEFAULT '{}',
        idempotency_key varchar(200) NOT NULL CONSTRAINT uq_notifications_idempotency_key UNIQUE,
        read_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX ix_notifications_user_created ON notifications (user_id, created_at DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE notifications`);
    await q.query(`DROP TABLE daily_reward_claims`);
    await q.query(`DROP TABLE ledger_entries`);
    await q.query(`DROP TABLE wallets`);
    await q.query(`DROP TABLE users`);
    await q.query(`DROP FUNCTION wallets_guard_balances, ledger_refuse_change, ledger_apply_to_wallet, ledger_compute_balance_after`);
  }
}
