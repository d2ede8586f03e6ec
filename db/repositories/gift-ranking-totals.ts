import type { DataSource } from 'typeorm';
import type { Period } from '../../domain/economy/ranking-periods';
import type { Board } from '../../domain/economy/rankings';

/** A board's content: member (user id) and score, highest first. */
export type BoardTotals = [member: string, score: number][];

/**
 * Gift rankings as PostgreSQL has them: the record the Redis boards are rebuilt from. One
 * GROUP BY over the period's receipts (ix_gift_receipts_created, or ix_gift_receipts_room_created
 * for a room), reversed receipts left out.
 */
export class GiftRankingTotals {
  constructor(private readonly dataSource: DataSource) {}

  async totals(board: Board, period: Period): Promise<BoardTotals> {
    const range = [new Date(period.startsAt), new Date(period.endsAt)];
    let rows: { member: string; score: string }[];
    switch (board.kind) {
      case 'wealth':
        rows = await this.dataSource.query(
          `SELECT sender_id AS member, sum(coins) AS score FROM gift_receipts
            WHERE created_at >= $1 AND created_at < $2 AND state <> 'reversed'
            GROUP BY sender_id`,
          range,
        );
        break;
      case 'charm':
        rows = await this.dataSource.query(
          `SELECT receiver_id AS member, sum(diamonds) AS score FROM gift_receipts
            WHERE created_at >= $1 AND created_at < $2 AND state <> 'reversed'
            GROUP BY receiver_id HAVING sum(diamonds) > 0`,
          range,
        );
        break;
      case 'room':
        rows = await this.dataSource.query(
          `SELECT sender_id AS member, sum(coins) AS score FROM gift_receipts
            WHERE room_id = $3 AND created_at >= $1 AND created_at < $2 AND state <> 'reversed'
            GROUP BY sender_id`,
          [...range, board.roomId],
        );
        break;
    }
    return rows.map((r): [string, number] => [r.member, Number(r.score)]).sort(byRank);
  }
}

/** Highest score first; equal scores by member, descending, as Redis's ZREVRANGE orders them. */
export function byRank(a: [string, number], b: [string, number]): number {
  return b[1] - a[1] || (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0);
}
