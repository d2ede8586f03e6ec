import type { EntityManager } from 'typeorm';
import { levelFor, levelUpsBetween, type LevelTrack, type LevelUp } from '../../domain/levels/levels';

/** One user's change to the totals levels are computed from (negative on a reversal). */
export interface TotalsChange {
  userId: string;
  coinsSpent?: number;
  diamondsReceived?: number;
  giftsSent?: number;
}

interface TotalsRow {
  id: string;
  coins_spent: string;
  diamonds_received: string;
  gifts_sent: string;
  wealth_level: number;
  charm_level: number;
}

/** A level-up that was recorded and still waits to be told to its user. */
export interface PendingLevelUp extends LevelUp {
  reachedAt: Date;
}

/**
 * users.coins_spent / diamonds_received / gifts_sent and the levels read from them, changed
 * inside the caller's transaction (the gift send's, a reversal's), so the totals are exactly the
 * gifts that committed: a replayed send commits nothing, so it adds nothing. Rows are locked in
 * id order, after whatever wallet the caller locked (wallets before users, everywhere), and
 * FOR NO KEY UPDATE: the send's own inserts hold KEY SHARE locks on the same users rows (the
 * foreign keys of gift_sends and gift_receipts), which a FOR UPDATE would wait on crosswise
 * between two sends (a deadlock); NO KEY UPDATE does not conflict with them.
 * A level that rose is recorded in level_ups in the same transaction: the outbox its
 * announcement is sent from, and re-sent from by the periodic re-check if the process died.
 */
export class LevelTotals {
  async apply(tx: EntityManager, changes: readonly TotalsChange[], at: Date): Promise<LevelUp[]> {
    const merged = new Map<string, { coins: number; diamonds: number; gifts: number }>();
    for (const c of changes) {
      const m = merged.get(c.userId) ?? { coins: 0, diamonds: 0, gifts: 0 };
      m.coins += c.coinsSpent ?? 0;
      m.diamonds += c.diamondsReceived ?? 0;
      m.gifts += c.giftsSent ?? 0;
      merged.set(c.userId, m);
    }
    for (const [id, m] of merged) if (m.coins === 0 && m.diamonds === 0 && m.gifts === 0) merged.delete(id);
    if (merged.size === 0) return [];
    const ids = [...merged.keys()].sort();
    const rows = (await tx.query(
      `SELECT id, coins_spent, diamonds_received, gifts_sent, wealth_level, charm_level FROM users WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE`,
      [ids],
    )) as TotalsRow[];
    const next = rows.map((r) => {
      const m = merged.get(r.id)!;
      // Never below zero: a reversal of a gift sent before the totals existed subtracts what was never added.
      const coins = Math.max(0, Number(r.coins_spent) + m.coins);
      const diamonds = Math.max(0, Number(r.diamonds_received) + m.diamonds);
      const gifts = Math.max(0, Number(r.gifts_sent) + m.gifts);
      const before = { wealthLevel: r.wealth_level, charmLevel: r.charm_level };
      const after = { wealthLevel: levelFor('wealth', coins), charmLevel: levelFor('charm', diamonds) };
      return { id: r.id, coins, diamonds, gifts, after, ups: levelUpsBetween(r.id, before, after) };
    });
    await tx.query(
      `UPDATE users u SET coins_spent = t.coins, diamonds_received = t.diamonds, gifts_sent = t.gifts, wealth_level = t.wealth, charm_level = t.charm
         FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::smallint[], $6::smallint[]) AS t(id, coins, diamonds, gifts, wealth, charm)
        WHERE u.id = t.id`,
      [next.map((n) => n.id), next.map((n) => n.coins), next.map((n) => n.diamonds), next.map((n) => n.gifts), next.map((n) => n.after.wealthLevel), next.map((n) => n.after.charmLevel)],
    );
    const ups = next.flatMap((n) => n.ups);
    if (ups.length === 0) return [];
    // A level reached before (then lost to a reversal) is not announced twice.
    const recorded = (await tx.query(
      `INSERT INTO level_ups (user_id, track, level, previous, reached_at)
       SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::smallint[], $4::smallint[], $5::timestamptz[])
       ON CONFLICT (user_id, track, level) DO NOTHING
       RETURNING user_id, track, level`,
      [ups.map((u) => u.userId), ups.map((u) => u.track), ups.map((u) => u.level), ups.map((u) => u.previous), ups.map(() => at)],
    )) as { user_id: string; track: LevelTrack; level: number }[];
    const fresh = new Set(recorded.map((r) => `${r.user_id}|${r.track}|${r.level}`));
    return ups.filter((u) => fresh.has(`${u.userId}|${u.track}|${u.level}`));
  }

  /** Takes reversed receipts out of the totals: the sender's coins and gifts, the receiver's diamonds. */
  async subtractReceipts(tx: EntityManager, receiptIds: readonly string[], at: Date): Promise<void> {
    if (receiptIds.length === 0) return;
    const rows = (await tx.query(
      `SELECT r.sender_id, r.receiver_id, r.coins, r.diamonds, s.quantity
         FROM gift_receipts r JOIN gift_sends s ON s.id = r.send_id
        WHERE r.id = ANY($1::bigint[])`,
      [receiptIds],
    )) as { sender_id: string; receiver_id: string; coins: string; diamonds: string; quantity: number }[];
    await this.apply(
      tx,
      rows.flatMap((r) => [
        { userId: r.sender_id, coinsSpent: -Number(r.coins), giftsSent: -Number(r.quantity) },
        { userId: r.receiver_id, diamondsReceived: -Number(r.diamonds) },
      ]),
      at,
    );
  }

  /** Level-ups recorded at or before `reachedBy` and not yet announced (oldest first). */
  async unannounced(manager: EntityManager, reachedBy: Date, limit: number): Promise<PendingLevelUp[]> {
    const rows = (await manager.query(
      `SELECT user_id, track, level, previous, reached_at FROM level_ups
        WHERE announced_at IS NULL AND reached_at <= $1 ORDER BY reached_at LIMIT $2`,
      [reachedBy, limit],
    )) as { user_id: string; track: LevelTrack; level: number; previous: number; reached_at: Date }[];
    return rows.map((r) => ({ userId: r.user_id, track: r.track, level: r.level, previous: r.previous, reachedAt: r.reached_at }));
  }

  async markAnnounced(manager: EntityManager, up: Pick<LevelUp, 'userId' | 'track' | 'level'>): Promise<void> {
    await manager.query(`UPDATE level_ups SET announced_at = now() WHERE user_id = $1 AND track = $2 AND level = $3 AND announced_at IS NULL`, [
      up.userId,
      up.track,
      up.level,
    ]);
  }

  async of(manager: EntityManager, userId: string): Promise<{ coinsSpent: number; diamondsReceived: number; giftsSent: number; wealthLevel: number; charmLevel: number } | null> {
    const rows = (await manager.query(`SELECT id, coins_spent, diamonds_received, gifts_sent, wealth_level, charm_level FROM users WHERE id = $1`, [userId])) as TotalsRow[];
    const r = rows[0];
    if (!r) return null;
    return { coinsSpent: Number(r.coins_spent), diamondsReceived: Number(r.diamonds_received), giftsSent: Number(r.gifts_sent), wealthLevel: r.wealth_level, charmLevel: r.charm_level };
  }
}
