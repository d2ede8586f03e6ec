import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { CatalogGift } from '../../domain/economy/gifts';
import type { GiftCatalogReader } from '../../services/gifts/gift-service';
import type { RealStack } from './real-stack';

/** A catalog gift of the test's own (unique id), written to the real catalog tables. */
export async function createTestGift(
  dataSource: DataSource,
  overrides: Partial<Pick<CatalogGift, 'priceCoins' | 'diamondValue' | 'regions' | 'minVipTier' | 'enabled'>> & { regionPrices?: Record<string, number> } = {},
): Promise<string> {
  const id = `t-${randomUUID().slice(0, 12)}`;
  await dataSource.query(`INSERT INTO gift_categories (id, names) VALUES ('test', '{"en":"Test"}') ON CONFLICT (id) DO NOTHING`);
  await dataSource.query(
    `INSERT INTO gifts (id, category_id, names, price_coins, diamond_value, regions, min_vip_tier, enabled, animation)
     VALUES ($1, 'test', $2, $3, $4, $5, $6, $7, $8)`,
    [
      id,
      JSON.stringify({ en: `Test gift ${id}` }),
      overrides.priceCoins ?? 10,
      overrides.diamondValue ?? 7,
      overrides.regions ?? null,
      overrides.minVipTier ?? 0,
      overrides.enabled ?? true,
      JSON.stringify({ format: 'svga', url: `https://cdn.aura.example/gifts/${id}.svga`, durationMs: 2000, display: 'banner' }),
    ],
  );
  for (const [region, price] of Object.entries(overrides.regionPrices ?? {})) {
    await dataSource.query(`INSERT INTO gift_region_prices (gift_id, region, price_coins) VALUES ($1, $2, $3)`, [id, region, price]);
  }
  return id;
}

/** Reads gifts straight from PostgreSQL: the catalog as the send path sees it, uncached. */
export function uncachedCatalog(dataSource: DataSource): GiftCatalogReader {
  return {
    async gift(id) {
      const rows = (await dataSource.query(
        `SELECT g.*, COALESCE((SELECT jsonb_object_agg(region, price_coins) FROM gift_region_prices p WHERE p.gift_id = g.id), '{}') AS region_prices
           FROM gifts g WHERE g.id = $1`,
        [id],
      )) as Record<string, unknown>[];
      const r = rows[0];
      if (!r) return null;
      return {
        id: r.id as string,
        categoryId: r.category_id as string,
        names: r.names as Record<string, string>,
        priceCoins: Number(r.price_coins),
        diamondValue: Number(r.diamond_value),
        regions: (r.regions as string[] | null) ?? null,
        regionPrices: r.region_prices as Record<string, number>,
        minVipTier: Number(r.min_vip_tier),
        sortOrder: Number(r.sort_order),
        enabled: r.enabled as boolean,
        animation: r.animation as CatalogGift['animation'],
      };
    },
  };
}

/** Gives a user coins the way a recharge would (a real ledger credit). */
export async function fundCoins(stack: RealStack, userId: string, coins: number): Promise<void> {
  await stack.ledger.creditCoins({ userId, amount: coins, reason: 'recharge', idempotencyKey: `test-fund:${randomUUID()}` });
}

export async function fundDiamonds(stack: RealStack, userId: string, diamonds: number): Promise<void> {
  await stack.ledger.post({ userId, currency: 'diamonds', amount: diamonds, reason: 'settlement', idempotencyKey: `test-fund-d:${randomUUID()}` });
}

/** Every wallet balance equals the sum of its ledger entries, per currency. */
export async function ledgerDisagreements(dataSource: DataSource, userIds: string[]): Promise<unknown[]> {
  return dataSource.query(
    `SELECT w.user_id FROM wallets w
      LEFT JOIN LATERAL (
        SELECT COALESCE(SUM(amount) FILTER (WHERE currency = 'coins'), 0) AS coins,
               COALESCE(SUM(amount) FILTER (WHERE currency = 'diamonds'), 0) AS diamonds,
               COALESCE(SUM(amount) FILTER (WHERE currency = 'coins_owed'), 0) AS owed
          FROM ledger_entries e WHERE e.user_id = w.user_id) s ON true
      WHERE w.user_id = ANY($1::uuid[]) AND (w.coins <> s.coins OR w.diamonds <> s.diamonds OR w.coins_owed <> s.owed)`,
    [userIds],
  );
}
