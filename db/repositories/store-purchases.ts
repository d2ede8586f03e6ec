import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { PurchaseRecordState, StoreName } from '../../domain/economy/recharge';

export interface CoinPackage {
  productId: string;
  coins: number;
  bonusCoins: number;
  enabled: boolean;
  sortOrder: number;
}

export interface ShownPrice {
  /** The region the price is for: the caller's, or 'default' when it has none of its own. */
  region: string;
  priceMicros: number;
  currencyCode: string;
}

export interface PurchaseRecord {
  id: string;
  store: StoreName;
  tokenHash: string;
  tokenCiphertext: string;
  userId: string;
  productId: string;
  orderId: string | null;
  quantity: number | null;
  coins: number | null;
  bonusCoins: number | null;
  state: PurchaseRecordState;
  refusalCode: string | null;
  ledgerEntryId: string | null;
  purchaseTime: Date | null;
  creditedAt: Date | null;
  createdAt: Date;
}

interface PurchaseRow {
  id: string;
  store: StoreName;
  token_hash: string;
  token_ciphertext: string;
  user_id: string;
  product_id: string;
  order_id: string | null;
  quantity: number | null;
  coins: number | null;
  bonus_coins: number | null;
  state: PurchaseRecordState;
  refusal_code: string | null;
  ledger_entry_id: string | null;
  purchase_time: Date | null;
  credited_at: Date | null;
  created_at: Date;
}

function toRecord(r: PurchaseRow): PurchaseRecord {
  return {
    id: r.id,
    store: r.store,
    tokenHash: r.token_hash,
    tokenCiphertext: r.token_ciphertext,
    userId: r.user_id,
    productId: r.product_id,
    orderId: r.order_id,
    quantity: r.quantity,
    coins: r.coins,
    bonusCoins: r.bonus_coins,
    state: r.state,
    refusalCode: r.refusal_code,
    ledgerEntryId: r.ledger_entry_id === null ? null : String(r.ledger_entry_id),
    purchaseTime: r.purchase_time,
    creditedAt: r.credited_at,
    createdAt: r.created_at,
  };
}

/** Coin packages (reference data) and store purchases, as PostgreSQL keeps them. */
export class StorePurchaseRecords {
  constructor(private readonly dataSource: DataSource) {}

  async package(productId: string, manager: EntityManager = this.dataSource.manager): Promise<CoinPackage | null> {
    const rows = (await manager.query(`SELECT * FROM coin_packages WHERE product_id = $1`, [productId])) as Record<string, unknown>[];
    const r = rows[0];
    return r ? { productId: r.product_id as string, coins: Number(r.coins), bonusCoins: Number(r.bonus_coins), enabled: r.enabled as boolean, sortOrder: Number(r.sort_order) } : null;
  }

  /** Enabled packages in display order, each with the price shown in `region` (or the default one). */
  async packages(region: string | null): Promise<(CoinPackage & { price: ShownPrice | null })[]> {
    const rows = (await this.dataSource.query(
      `SELECT p.*, pr.region, pr.price_micros, pr.currency_code
         FROM coin_packages p
         LEFT JOIN LATERAL (
           SELECT region, price_micros, currency_code FROM coin_package_prices
            WHERE product_id = p.product_id AND region IN ($1, 'default')
            ORDER BY (region = 'default') LIMIT 1) pr ON true
        WHERE p.enabled ORDER BY p.sort_order, p.product_id`,
      [region ?? 'default'],
    )) as Record<string, unknown>[];
    return rows.map((r) => ({
      productId: r.product_id as string,
      coins: Number(r.coins),
      bonusCoins: Number(r.bonus_coins),
      enabled: true,
      sortOrder: Number(r.sort_order),
      price: r.region ? { region: r.region as string, priceMicros: Number(r.price_micros), currencyCode: r.currency_code as string } : null,
    }));
  }

  /**
   * The purchase row of a token, created on first sight. Whoever sent the token first owns the
   * row; the caller compares (a token bound to another user is refused there).
   */
  async register(input: { store: StoreName; tokenHash: string; tokenCiphertext: string; userId: string; productId: string }): Promise<PurchaseRecord> {
    await this.dataSource.query(
      `INSERT INTO store_purchases (id, store, token_hash, token_ciphertext, user_id, product_id)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (store, token_hash) DO NOTHING`,
      [randomUUID(), input.store, input.tokenHash, input.tokenCiphertext, input.userId, input.productId],
    );
    const found = await this.byTokenHash(input.store, input.tokenHash);
    if (!found) throw new Error('store purchase vanished right after its insert');
    return found;
  }

  async byTokenHash(store: StoreName, tokenHash: string): Promise<PurchaseRecord | null> {
    const rows = (await this.dataSource.query(`SELECT * FROM store_purchases WHERE store = $1 AND token_hash = $2`, [store, tokenHash])) as PurchaseRow[];
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async byId(id: string, manager: EntityManager = this.dataSource.manager, options: { lock?: boolean } = {}): Promise<PurchaseRecord | null> {
    const rows = (await manager.query(`SELECT * FROM store_purchases WHERE id = $1${options.lock ? ' FOR UPDATE' : ''}`, [id])) as PurchaseRow[];
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async byOrderId(store: StoreName, orderId: string, manager: EntityManager = this.dataSource.manager, options: { lock?: boolean } = {}): Promise<PurchaseRecord | null> {
    const rows = (await manager.query(`SELECT * FROM store_purchases WHERE store = $1 AND order_id = $2${options.lock ? ' FOR UPDATE' : ''}`, [
      store,
      orderId,
    ])) as PurchaseRow[];
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /** What Google said about a purchase still being verified: its order, quantity and worth. */
  async recordVerified(id: string, facts: { orderId: string; quantity: number; coins: number; bonusCoins: number; purchaseTime: Date }): Promise<void> {
    await this.dataSource.query(
      `UPDATE store_purchases SET order_id = $2, quantity = $3, coins = $4, bonus_coins = $5, purchase_time = $6, updated_at = now()
        WHERE id = $1 AND state = 'verifying'`,
      [id, facts.orderId, facts.quantity, facts.coins, facts.bonusCoins, facts.purchaseTime],
    );
  }

  /** Refuses a purchase still being verified; a refusal already recorded stays as it was. */
  async refuse(id: string, code: string): Promise<void> {
    await this.dataSource.query(`UPDATE store_purchases SET state = 'refused', refusal_code = $2, updated_at = now() WHERE id = $1 AND state = 'verifying'`, [id, code]);
  }

  async markCredited(id: string, ledgerEntryId: string, manager: EntityManager): Promise<void> {
    await manager.query(
      `UPDATE store_purchases SET state = 'credited', ledger_entry_id = $2, credited_at = now(), updated_at = now() WHERE id = $1 AND state = 'verifying'`,
      [id, ledgerEntryId],
    );
  }

  async markConsumed(id: string): Promise<void> {
    await this.dataSource.query(`UPDATE store_purchases SET state = 'consumed', consumed_at = now(), updated_at = now() WHERE id = $1 AND state = 'credited'`, [id]);
  }

  async markVoided(id: string, manager: EntityManager): Promise<void> {
    await manager.query(`UPDATE store_purchases SET state = 'voided', voided_at = now(), updated_at = now() WHERE id = $1 AND state IN ('credited', 'consumed')`, [id]);
  }

  /**
   * The coin balance right after a credit (its debt recovery included), from the ledger: the same
   * number however often and whenever it is asked, so a replayed request answers the first answer.
   */
  async balanceAfterCredit(creditKey: string, manager: EntityManager = this.dataSource.manager): Promise<number | null> {
    const rows = (await manager.query(
      `SELECT balance_after FROM ledger_entries WHERE idempotency_key IN ($1::text, $1::text || ':recovery') AND currency = 'coins' ORDER BY id DESC LIMIT 1`,
      [creditKey],
    )) as { balance_after: string }[];
    return rows[0] ? Number(rows[0].balance_after) : null;
  }

  async voidCursor(store: StoreName): Promise<number | null> {
    const rows = (await this.dataSource.query(`SELECT start_time_millis FROM store_void_cursors WHERE store = $1`, [store])) as { start_time_millis: string }[];
    return rows[0] ? Number(rows[0].start_time_millis) : null;
  }

  /** Moves the cursor forward only (two overlapping runs never move it back). */
  async saveVoidCursor(store: StoreName, startTimeMillis: number): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO store_void_cursors (store, start_time_millis) VALUES ($1, $2)
       ON CONFLICT (store) DO UPDATE SET start_time_millis = GREATEST(store_void_cursors.start_time_millis, EXCLUDED.start_time_millis), updated_at = now()`,
      [store, startTimeMillis],
    );
  }
}
