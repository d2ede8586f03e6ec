import type { DataSource, EntityManager } from 'typeorm';
import type { Membership, PurchaseKind, VipTier } from '../../domain/vip/membership';

interface TierRow {
  level: number;
  name: string;
  price_coins: number;
  badge: boolean;
  room_entry_effect: boolean;
  exclusive_gifts: boolean;
  profile_frame: boolean;
  daily_reward_percent: number;
}

const TIER_COLUMNS = 'level, name, price_coins, badge, room_entry_effect, exclusive_gifts, profile_frame, daily_reward_percent';

function tierOf(r: TierRow): VipTier {
  return {
    level: Number(r.level),
    name: r.name,
    priceCoins: Number(r.price_coins),
    perks: {
      badge: r.badge,
      roomEntryEffect: r.room_entry_effect,
      exclusiveGifts: r.exclusive_gifts,
      profileFrame: r.profile_frame,
      dailyRewardPercent: Number(r.daily_reward_percent),
    },
  };
}

/** The buyer as a purchase sees them, under the locks of their wallet and user rows. */
export interface LockedBuyer extends Membership {
  coins: number;
  coinsOwed: number;
  /** Their last purchase's sequence number (0 before any). */
  seq: number;
}

export interface NewVipPurchase {
  id: string;
  userId: string;
  seq: number;
  kind: PurchaseKind;
  tier: number;
  periods: number;
  priceCoins: number;
  previous: Membership;
  convertedMs: number;
  expiresAt: Date;
  ledgerEntryId: string;
  createdAt: Date;
}

/** VIP tiers (reference data) and memberships (`users.vip_tier`, `users.vip_expires_at`, `vip_purchases`). */
export class VipRecords {
  constructor(private readonly dataSource: DataSource) {}

  /** Tiers on sale, lowest first. */
  async tiers(manager: EntityManager = this.dataSource.manager): Promise<VipTier[]> {
    const rows: TierRow[] = await manager.query(`SELECT ${TIER_COLUMNS} FROM vip_tiers WHERE enabled ORDER BY level`);
    return rows.map(tierOf);
  }

  /** A tier by level, on sale or not (a member keeps a tier withdrawn from sale). */
  async tier(level: number, manager: EntityManager = this.dataSource.manager): Promise<(VipTier & { enabled: boolean }) | null> {
    const rows: (TierRow & { enabled: boolean })[] = await manager.query(`SELECT ${TIER_COLUMNS}, enabled FROM vip_tiers WHERE level = $1`, [level]);
    return rows[0] ? { ...tierOf(rows[0]), enabled: rows[0].enabled } : null;
  }

  async membership(userId: string): Promise<Membership | null> {
    const rows: { vip_tier: number; vip_expires_at: Date | null }[] = await this.dataSource.query(
      `SELECT vip_tier, vip_expires_at FROM users WHERE id = $1`,
      [userId],
    );
    const row = rows[0];
    return row ? { tier: Number(row.vip_tier), expiresAt: row.vip_expires_at?.getTime() ?? null } : null;
  }

  /** The daily reward multiplier (percent) of the tier in force now; 100 without VIP. */
  async dailyRewardPercent(userId: string): Promise<number> {
    const rows: { percent: number }[] = await this.dataSource.query(
      `SELECT t.daily_reward_percent AS percent FROM users u JOIN vip_tiers t ON t.level = u.vip_tier
        WHERE u.id = $1 AND u.vip_expires_at > now()`,
      [userId],
    );
    return rows[0] ? Number(rows[0].percent) : 100;
  }

  /**
   * Locks the buyer's wallet and user rows: their purchases apply one at a time, and the expiry
   * (an UPDATE of the user row) waits for a purchase in progress, then finds the expiry moved.
   */
  async lockBuyer(userId: string, tx: EntityManager): Promise<LockedBuyer | null> {
    const rows: { coins: string; coins_owed: string; vip_tier: number; vip_expires_at: Date | null; seq: number }[] = await tx.query(
      `SELECT w.coins, w.coins_owed, u.vip_tier, u.vip_expires_at,
              (SELECT COALESCE(max(seq), 0) FROM vip_purchases p WHERE p.user_id = u.id) AS seq
         FROM wallets w JOIN users u ON u.id = w.user_id WHERE w.user_id = $1 FOR UPDATE OF w FOR NO KEY UPDATE OF u`,
      [userId],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      coins: Number(row.coins),
      coinsOwed: Number(row.coins_owed),
      tier: Number(row.vip_tier),
      expiresAt: row.vip_expires_at?.getTime() ?? null,
      seq: Number(row.seq),
    };
  }

  /** The membership change and its purchase row (the ledger debit is posted by the caller, in the same transaction). */
  async recordPurchase(p: NewVipPurchase, tx: EntityManager): Promise<void> {
    await tx.query(`UPDATE users SET vip_tier = $2, vip_expires_at = $3 WHERE id = $1`, [p.userId, p.tier, p.expiresAt]);
    await tx.query(
      `INSERT INTO vip_purchases (id, user_id, seq, kind, tier, periods, price_coins, previous_tier, previous_expires_at, converted_ms, expires_at, ledger_entry_id, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
      [
        p.id, p.userId, p.seq, p.kind, p.tier, p.periods, p.priceCoins, p.previous.tier,
        p.previous.expiresAt === null ? null : new Date(p.previous.expiresAt), p.convertedMs, p.expiresAt, p.ledgerEntryId, p.createdAt,
      ],
    );
  }

  /**
   * Memberships still on record more than `graceMs` past their expiry: their flow missed it (a
   * purchase whose signal never reached Temporal). Oldest first, with their last purchase.
   */
  async overdue(graceMs: number, limit: number): Promise<{ userId: string; tier: number; expiresAt: number; seq: number }[]> {
    const rows: { id: string; vip_tier: number; vip_expires_at: Date; seq: number }[] = await this.dataSource.query(
      `SELECT u.id, u.vip_tier, u.vip_expires_at, (SELECT COALESCE(max(seq), 0) FROM vip_purchases p WHERE p.user_id = u.id) AS seq
         FROM users u WHERE u.vip_expires_at < now() - make_interval(secs => $1::double precision / 1000)
        ORDER BY u.vip_expires_at LIMIT $2`,
      [graceMs, limit],
    );
    return rows.map((r) => ({ userId: r.id, tier: Number(r.vip_tier), expiresAt: r.vip_expires_at.getTime(), seq: Number(r.seq) }));
  }

  /**
   * Ends a VIP at the expiry a timer was set for: tier 0 and no expiry, only while the record
   * still holds exactly that expiry. A purchase holding the row waits this out and wins (the
   * UPDATE re-reads the row after it commits). Already ended (a retry): reported as expired.
   */
  async expire(userId: string, expiresAt: Date): Promise<{ expired: boolean; tier: number; expiresAt: Date | null; seq: number }> {
    const [reset] = (await this.dataSource.query(
      `WITH reset AS (UPDATE users SET vip_tier = 0, vip_expires_at = NULL WHERE id = $1 AND vip_expires_at = $2 RETURNING id)
       SELECT count(*)::int AS n FROM reset`,
      [userId, expiresAt],
    )) as { n: number }[];
    // A statement of its own: its snapshot sees the purchase the UPDATE waited for.
    const rows: { vip_tier: number; vip_expires_at: Date | null; seq: number }[] = await this.dataSource.query(
      `SELECT u.vip_tier, u.vip_expires_at, (SELECT COALESCE(max(seq), 0) FROM vip_purchases p WHERE p.user_id = u.id) AS seq
         FROM users u WHERE u.id = $1`,
      [userId],
    );
    const row = rows[0];
    if (!row) return { expired: true, tier: 0, expiresAt: null, seq: 0 };
    return {
      expired: reset!.n > 0 || row.vip_expires_at === null,
      tier: Number(row.vip_tier),
      expiresAt: row.vip_expires_at,
      seq: Number(row.seq),
    };
  }
}
