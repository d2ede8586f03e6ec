import type { DataSource, EntityManager } from 'typeorm';
import { medalCriteria, medalReward, NO_FACTS, type MedalCategory, type MedalDefinition, type MedalFacts } from '../../domain/medals/medals';

interface DefinitionRow {
  id: string;
  category: MedalCategory;
  names: Record<string, string>;
  descriptions: Record<string, string>;
  icon_key: string;
  criteria: unknown;
  reward: unknown;
  sort_order: number;
}

export interface HeldMedal {
  medalId: string;
  awardedAt: Date;
  displaySlot: number | null;
}

/** An award not yet told to its user. */
export interface UnannouncedAward {
  userId: string;
  medalId: string;
  awardedAt: Date;
}

/**
 * Medal definitions, who holds what, and the facts medals are awarded from, all read from the
 * records other features write (claims, purchases, the users row the gift send keeps).
 */
export class MedalRecords {
  constructor(private readonly dataSource: DataSource) {}

  /** Enabled definitions in display order. A row whose criteria or reward this code can't read is skipped (logged by the caller). */
  async definitions(manager: EntityManager = this.dataSource.manager): Promise<{ definitions: MedalDefinition[]; unreadable: string[] }> {
    const rows = (await manager.query(
      `SELECT id, category, names, descriptions, icon_key, criteria, reward, sort_order FROM medals WHERE enabled ORDER BY sort_order, id`,
    )) as DefinitionRow[];
    const definitions: MedalDefinition[] = [];
    const unreadable: string[] = [];
    for (const r of rows) {
      const criteria = medalCriteria.safeParse(r.criteria);
      const reward = medalReward.safeParse(r.reward);
      if (!criteria.success || !reward.success) {
        unreadable.push(r.id);
        continue;
      }
      definitions.push({ id: r.id, category: r.category, names: r.names, descriptions: r.descriptions, iconKey: r.icon_key, criteria: criteria.data, reward: reward.data, sortOrder: r.sort_order });
    }
    return { definitions, unreadable };
  }

  async held(userId: string, manager: EntityManager = this.dataSource.manager): Promise<HeldMedal[]> {
    const rows = (await manager.query(
      `SELECT medal_id, awarded_at, display_slot FROM user_medals WHERE user_id = $1 ORDER BY awarded_at, medal_id`,
      [userId],
    )) as { medal_id: string; awarded_at: Date; display_slot: number | null }[];
    return rows.map((r) => ({ medalId: r.medal_id, awardedAt: r.awarded_at, displaySlot: r.display_slot }));
  }

  /** One query: the best streak, gifts sent, whether a recharge was credited, VIP tier and levels. */
  async facts(userId: string, manager: EntityManager = this.dataSource.manager): Promise<MedalFacts> {
    const rows = (await manager.query(
      `SELECT u.gifts_sent, u.vip_tier, u.wealth_level, u.charm_level,
              (SELECT coalesce(max(streak), 0) FROM daily_reward_claims c WHERE c.user_id = u.id) AS best_streak,
              EXISTS (SELECT 1 FROM store_purchases p WHERE p.user_id = u.id AND p.credited_at IS NOT NULL) AS recharged
         FROM users u WHERE u.id = $1`,
      [userId],
    )) as { gifts_sent: string; vip_tier: number; wealth_level: number; charm_level: number; best_streak: number; recharged: boolean }[];
    const r = rows[0];
    if (!r) return NO_FACTS;
    return {
      bestStreak: Number(r.best_streak),
      giftsSent: Number(r.gifts_sent),
      recharged: r.recharged,
      vipTier: r.vip_tier,
      wealthLevel: r.wealth_level,
      charmLevel: r.charm_level,
    };
  }

  /** Records the award; false when the user already held it (a repeated event, a racing re-check). */
  async insertAward(tx: EntityManager, userId: string, medalId: string, at: Date): Promise<boolean> {
    const rows = (await tx.query(
      `INSERT INTO user_medals (user_id, medal_id, awarded_at) VALUES ($1, $2, $3) ON CONFLICT (user_id, medal_id) DO NOTHING RETURNING medal_id`,
      [userId, medalId, at],
    )) as unknown[];
    return rows.length === 1;
  }

  async grantItem(tx: EntityManager, userId: string, medalId: string, itemKey: string): Promise<void> {
    await tx.query(`INSERT INTO medal_item_grants (user_id, medal_id, item_key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [userId, medalId, itemKey]);
  }

  async markAnnounced(userId: string, medalId: string): Promise<void> {
    await this.dataSource.query(`UPDATE user_medals SET announced_at = now() WHERE user_id = $1 AND medal_id = $2 AND announced_at IS NULL`, [userId, medalId]);
  }

  async unannounced(awardedBy: Date, limit: number): Promise<UnannouncedAward[]> {
    const rows = (await this.dataSource.query(
      `SELECT user_id, medal_id, awarded_at FROM user_medals WHERE announced_at IS NULL AND awarded_at <= $1 ORDER BY awarded_at LIMIT $2`,
      [awardedBy, limit],
    )) as { user_id: string; medal_id: string; awarded_at: Date }[];
    return rows.map((r) => ({ userId: r.user_id, medalId: r.medal_id, awardedAt: r.awarded_at }));
  }

  /**
   * Replaces the user's displayed medals with `medalIds` in slot order (1..n), under a lock of
   * their medal rows so two concurrent choices apply one after the other. Returns the ids the
   * user holds among those locked (the caller checks the choice against them first).
   */
  async setDisplay(userId: string, choose: (held: Set<string>) => string[]): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      const rows = (await tx.query(`SELECT medal_id FROM user_medals WHERE user_id = $1 ORDER BY medal_id FOR UPDATE`, [userId])) as { medal_id: string }[];
      const ordered = choose(new Set(rows.map((r) => r.medal_id)));
      // Clear first: the unique (user, slot) index would refuse a swap done row by row.
      await tx.query(`UPDATE user_medals SET display_slot = NULL WHERE user_id = $1 AND display_slot IS NOT NULL`, [userId]);
      if (ordered.length > 0) {
        await tx.query(
          `UPDATE user_medals m SET display_slot = t.slot FROM unnest($2::varchar[]) WITH ORDINALITY AS t(medal_id, slot)
            WHERE m.user_id = $1 AND m.medal_id = t.medal_id`,
          [userId, ordered],
        );
      }
    });
  }

  /**
   * Users with something recent in the ledger (claims, gift debits, recharges, VIP purchases,
   * rewards) or a gift received since `since`: who the re-check looks at. Paged by user id.
   */
  async activeSince(since: Date, asOf: Date, afterUserId: string | null, limit: number): Promise<string[]> {
    const rows = (await this.dataSource.query(
      `SELECT user_id FROM (
         SELECT user_id FROM ledger_entries WHERE created_at >= $1 AND created_at <= $2
         UNION
         SELECT receiver_id FROM gift_receipts WHERE created_at >= $1 AND created_at <= $2
       ) AS active
       WHERE $3::uuid IS NULL OR user_id > $3::uuid
       ORDER BY user_id LIMIT $4`,
      [since, asOf, afterUserId, limit],
    )) as { user_id: string }[];
    return rows.map((r) => r.user_id);
  }
}
