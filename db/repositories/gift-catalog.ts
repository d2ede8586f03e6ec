import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { GiftCatalogData, GiftCategory } from '../../domain/economy/catalog';
import type { CatalogGift } from '../../domain/economy/gifts';

interface CatalogRow {
  categories: GiftCategory[];
  gifts: CatalogGift[];
  updated_at: Date | null;
}

/**
 * The gift catalog's records (reference data, seeded by the GiftCatalogSeed migration). Read
 * whole, in one statement (one snapshot: categories, gifts and regional prices agree); it is a
 * few dozen rows that every process keeps a copy of.
 */
export class GiftCatalogRecords {
  constructor(private readonly dataSource: DataSource) {}

  async load(): Promise<GiftCatalogData> {
    const rows: CatalogRow[] = await this.dataSource.query(`
      SELECT
        (SELECT COALESCE(jsonb_agg(jsonb_build_object('id', c.id, 'names', c.names, 'sortOrder', c.sort_order) ORDER BY c.id), '[]'::jsonb)
           FROM gift_categories c) AS categories,
        (SELECT COALESCE(jsonb_agg(jsonb_build_object(
                  'id', g.id, 'categoryId', g.category_id, 'names', g.names,
                  'priceCoins', g.price_coins, 'diamondValue', g.diamond_value,
                  'regions', to_jsonb(g.regions),
                  'regionPrices', COALESCE((SELECT jsonb_object_agg(p.region, p.price_coins) FROM gift_region_prices p WHERE p.gift_id = g.id), '{}'::jsonb),
                  'minVipTier', g.min_vip_tier, 'sortOrder', g.sort_order, 'enabled', g.enabled, 'animation', g.animation)
                ORDER BY g.id), '[]'::jsonb)
           FROM gifts g) AS gifts,
        (SELECT max(updated_at) FROM gifts) AS updated_at`);
    const row = rows[0]!;
    // jsonb orders object keys itself, so equal content serializes equally.
    const version = createHash('sha256').update(JSON.stringify([row.categories, row.gifts])).digest('base64url').slice(0, 22);
    return { version, updatedAt: row.updated_at?.toISOString() ?? null, categories: row.categories, gifts: row.gifts };
  }

  /** A user's profile region, the listing's default (null: none set, or no such user). */
  async regionOf(userId: string): Promise<string | null> {
    const rows: { region: string | null }[] = await this.dataSource.query(`SELECT region FROM users WHERE id = $1`, [userId]);
    return rows[0]?.region ?? null;
  }
}
