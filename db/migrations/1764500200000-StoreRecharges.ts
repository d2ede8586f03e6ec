import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Store recharges: the coin packages sold in the app (reference data, with the price shown per
 * region), one row per store purchase, and the voided-purchases reader's cursor.
 *
 *  - A purchase is keyed by the SHA-256 of its purchase token. The token itself is a bearer
 *    secret (with it anyone holding our service account can consume the purchase), so it is kept
 *    only encrypted (AES-256-GCM), for the activities that call Google; workflow inputs,
 *    histories and logs carry the row's id and never the token.
 *  - `order_id` is unique: the ledger key of the credit (`recharge:google-play:<orderId>`) and
 *    what a voided purchase is matched by.
 *  - state: verifying (asked Google, nothing credited), credited (coins in the ledger; the
 *    purchase not yet consumed at Google), consumed, refused (refusal_code says why; a replay
 *    answers the same), voided (refunded or charged back; coins clawed back).
 */
export class StoreRecharges1764500200000 implements MigrationInterface {
  name = 'StoreRecharges1764500200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE coin_packages (
        -- The Play Console product id (lower case, digits, dots and underscores).
        product_id varchar(64) PRIMARY KEY CHECK (product_id ~ '^[a-z0-9][a-z0-9._]{0,63}$'),
        coins integer NOT NULL CHECK (coins > 0),
        bonus_coins integer NOT NULL DEFAULT 0 CHECK (bonus_coins >= 0),
        enabled boolean NOT NULL DEFAULT true,
        sort_order integer NOT NULL DEFAULT 0
      )`);
    // The price shown in the app before the store sheet opens (the store charges its own price).
    // region 'default' applies where no row for the caller's region exists.
    await q.query(`
      CREATE TABLE coin_package_prices (
        product_id varchar(64) NOT NULL REFERENCES coin_packages(product_id),
        region varchar(7) NOT NULL CHECK (region ~ '^[A-Z]{2}$' OR region = 'default'),
        price_micros bigint NOT NULL CHECK (price_micros > 0),
        currency_code char(3) NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
        PRIMARY KEY (product_id, region)
      )`);
    const packages: [string, number, number, number][] = [
      ['coins_100', 100, 0, 10],
      ['coins_500', 500, 25, 20],
      ['coins_1200', 1200, 100, 30],
      ['coins_3000', 3000, 300, 40],
      ['coins_6500', 6500, 800, 50],
      ['coins_14000', 14000, 2000, 60],
    ];
    for (const [id, coins, bonus, order] of packages) {
      await q.query(`INSERT INTO coin_packages (product_id, coins, bonus_coins, sort_order) VALUES ($1, $2, $3, $4)`, [id, coins, bonus, order]);
    }
    // Prices in micros of the currency, as Google Play reports them.
    const prices: Record<string, [string, string, number[]]> = {
      default: ['default', 'USD', [0.99, 4.99, 9.99, 24.99, 49.99, 99.99]],
      US: ['US', 'USD', [0.99, 4.99, 9.99, 24.99, 49.99, 99.99]],
      IN: ['IN', 'INR', [89, 449, 899, 2199, 4499, 8999]],
      SA: ['SA', 'SAR', [3.99, 18.99, 37.99, 94.99, 189.99, 379.99]],
    };
    for (const [region, currency, amounts] of Object.values(prices)) {
      for (const [i, amount] of amounts.entries()) {
        await q.query(`INSERT INTO coin_package_prices (product_id, region, price_micros, currency_code) VALUES ($1, $2, $3, $4)`, [
          packages[i]![0],
          region,
          Math.round(amount * 1_000_000),
          currency,
        ]);
      }
    }

    await q.query(`
      CREATE TABLE store_purchases (
        id uuid PRIMARY KEY,
        store varchar(16) NOT NULL CHECK (store IN ('google-play')),
        token_hash char(64) NOT NULL CHECK (token_hash ~ '^[0-9a-f]{64}$'),
        token_ciphertext text NOT NULL,
        user_id uuid NOT NULL REFERENCES users(id),
        product_id varchar(64) NOT NULL REFERENCES coin_packages(product_id),
        order_id varchar(128),
        quantity integer CHECK (quantity > 0),
        coins integer CHECK (coins > 0),
        bonus_coins integer CHECK (bonus_coins >= 0),
        state varchar(16) NOT NULL DEFAULT 'verifying' CHECK (state IN ('verifying', 'credited', 'consumed', 'refused', 'voided')),
        refusal_code varchar(64),
        ledger_entry_id bigint REFERENCES ledger_entries(id),
        purchase_time timestamptz,
        credited_at timestamptz,
        consumed_at timestamptz,
        voided_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_store_purchases_token UNIQUE (store, token_hash),
        CONSTRAINT uq_store_purchases_order UNIQUE (store, order_id),
        CONSTRAINT store_purchases_refused_has_code CHECK ((state = 'refused') = (refusal_code IS NOT NULL)),
        CONSTRAINT store_purchases_credit_has_entry CHECK (state IN ('verifying', 'refused') OR ledger_entry_id IS NOT NULL)
      )`);
    await q.query(`CREATE INDEX ix_store_purchases_user_created ON store_purchases (user_id, created_at DESC)`);

    // Where the voided-purchases reader goes on from (Google keeps 30 days of voids).
    await q.query(`
      CREATE TABLE store_void_cursors (
        store varchar(16) PRIMARY KEY CHECK (store IN ('google-play')),
        start_time_millis bigint NOT NULL CHECK (start_time_millis >= 0),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE store_void_cursors, store_purchases, coin_package_prices, coin_packages`);
  }
}
