import type { DataSource } from 'typeorm';

export interface ClaimRecord {
  date: string;
  day: number;
  coins: number;
  streak: number;
  claimedAt: string;
}

export interface ClaimPage {
  items: ClaimRecord[];
  /** Pass as `before` to get the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** A user's claimed days, newest first, paginated by a cursor on the claim date. */
export class DailyRewardClaims {
  constructor(private readonly dataSource: DataSource) {}

  async listForUser(userId: string, page: { limit: number; before?: string }): Promise<ClaimPage> {
    const rows: { claim_date: string; cycle_day: number; coins: number; streak: number; created_at: Date }[] =
      await this.dataSource.query(
        `SELECT to_char(claim_date, 'YYYY-MM-DD') AS claim_date, cycle_day, coins, streak, created_at
           FROM daily_reward_claims
          WHERE user_id = $1 AND ($2::date IS NULL OR claim_date < $2::date)
          ORDER BY claim_date DESC
          LIMIT $3`,
        [userId, page.before ?? null, page.limit + 1],
      );
    const items = rows.slice(0, page.limit).map((r) => ({
      date: r.claim_date,
      day: r.cycle_day,
      coins: r.coins,
      streak: r.streak,
      claimedAt: r.created_at.toISOString(),
    }));
    return { items, nextCursor: rows.length > page.limit ? (items.at(-1)?.date ?? null) : null };
  }
}
