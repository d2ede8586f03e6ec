import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * VIP (issue 11): the tiers as reference data (this migration is their one source; rows are
 * inserted with ON CONFLICT DO NOTHING, so a tier edited in place by operations is never
 * overwritten) and one row per purchase, renewal or upgrade. `users.vip_tier` and
 * `users.vip_expires_at` (the foundation's migration) are the record of who is VIP until when.
 */
interface SeedTier {
  level: number;
  name: string;
  priceCoins: number;
  badge: boolean;
  roomEntryEffect: boolean;
  exclusiveGifts: boolean;
  profileFrame: boolean;
  dailyRewardPercent: number;
}

/**
 * Five tiers, each period 30 days. Exclusive gifts follow the catalog's min_vip_tier (the seeded
 * VIP Crown needs tier 1, the VIP Dragon tier 3). Prices rise about threefold a tier, so an
 * upgrade's converted days (see domain/vip/membership.ts) stay a fair share of the new tier.
 */
export const SEED_VIP_TIERS: SeedTier[] = [
  { level: 1, name: 'Bronze', priceCoins: 3_000, badge: true, roomEntryEffect: false, exclusiveGifts: true, profileFrame: false, dailyRewardPercent: 110 },
  { level: 2, name: 'Silver', priceCoins: 9_000, badge: true, roomEntryEffect: true, exclusiveGifts: true, profileFrame: false, dailyRewardPercent: 125 },
  { level: 3, name: 'Gold', priceCoins: 30_000, badge: true, roomEntryEffect: true, exclusiveGifts: true, profileFrame: true, dailyRewardPercent: 150 },
  { level: 4, name: 'Platinum', priceCoins: 90_000, badge: true, roomEntryEffect: true, exclusiveGifts: true, profileFrame: true, dailyRewardPercent: 200 },
  { level: 5, name: 'Diamond', priceCoins: 300_000, badge: true, roomEntryEffect: true, exclusiveGifts: true, profileFrame: true, dailyRewardPercent: 300 },
];

export class VipTiers1764700200000 implements MigrationInterface {
  name = 'VipTiers1764700200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE vip_tiers (
        level smallint PRIMARY KEY CHECK (level BETWEEN 1 AND 10),
        name varchar(32) NOT NULL,
        -- The price of one period (30 days).
        price_coins integer NOT NULL CHECK (price_coins > 0),
        badge boolean NOT NULL,
        room_entry_effect boolean NOT NULL,
        -- Gifts whose min_vip_tier is at most this level (the gift catalog decides which).
        exclusive_gifts boolean NOT NULL,
        profile_frame boolean NOT NULL,
        -- The daily reward's coin table times this, in percent (100: unchanged).
        daily_reward_percent smallint NOT NULL CHECK (daily_reward_percent BETWEEN 100 AND 1000),
        enabled boolean NOT NULL DEFAULT true
      )`);
    for (const t of SEED_VIP_TIERS) {
      await q.query(
        `INSERT INTO vip_tiers (level, name, price_coins, badge, room_entry_effect, exclusive_gifts, profile_frame, daily_reward_percent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (level) DO NOTHING`,
        [t.level, t.name, t.priceCoins, t.badge, t.roomEntryEffect, t.exclusiveGifts, t.profileFrame, t.dailyRewardPercent],
      );
    }

    // One row per purchase; seq orders a user's purchases (taken under their row lock), so the
    // flow can tell a late signal from a newer one.
    await q.query(`
      CREATE TABLE vip_purchases (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id),
        seq integer NOT NULL CHECK (seq > 0),
        kind varchar(16) NOT NULL CHECK (kind IN ('new', 'renewal', 'upgrade')),
        tier smallint NOT NULL REFERENCES vip_tiers(level),
        periods smallint NOT NULL CHECK (periods BETWEEN 1 AND 12),
        price_coins integer NOT NULL CHECK (price_coins > 0),
        previous_tier smallint NOT NULL CHECK (previous_tier >= 0),
        previous_expires_at timestamptz,
        -- Upgrades: the old tier's remaining time, converted to time of the new tier (ms).
        converted_ms bigint NOT NULL DEFAULT 0 CHECK (converted_ms >= 0),
        expires_at timestamptz NOT NULL,
        ledger_entry_id bigint NOT NULL REFERENCES ledger_entries(id),
        created_at timestamptz NOT NULL,
        UNIQUE (user_id, seq)
      )`);
    await q.query(`CREATE INDEX ix_vip_purchases_user ON vip_purchases (user_id, created_at DESC, id DESC)`);
    // The expiry sweep's look-up: VIPs past their expiry (a flow that missed it).
    await q.query(`CREATE INDEX ix_users_vip_expires_at ON users (vip_expires_at) WHERE vip_expires_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ix_users_vip_expires_at`);
    await q.query(`DROP TABLE vip_purchases`);
    await q.query(`DROP TABLE vip_tiers`);
  }
}
