import type { DataSource } from 'typeorm';
import type { UtcDay } from '../../domain/economy/settlement';

export interface ReceiverDay {
  receiverId: string;
  day: UtcDay;
}

/**
 * A gift send's transaction stamps `created_at` when it begins and commits a moment later, so a
 * receipt can become visible after a scan that started later than its `created_at`. Each scan
 * re-reads this much before the cursor; a send open longer than this would be caught by the
 * overdue sweep instead (every statement is cut at 5 s, a send is a few statements).
 */
export const DISPATCH_CURSOR_MARGIN_MS = 5 * 60_000;

/**
 * A pending receipt whose hold ended this long ago has been missed by its flow (the flow waits
 * for the day's end plus the hold, at most a day past any receipt's own hold, and retries
 * failures within hours): its flow was terminated or failed, and the dispatcher starts it again.
 */
export const OVERDUE_AFTER_HOLD_MS = 2 * 24 * 3_600_000;

/** The dispatcher's bookkeeping: which receiver-days have a settlement flow, and how far it has read. */
export class SettlementFlowRecords {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Receiver-days with pending receipts that arrived since the cursor (less the margin) and no
   * flow recorded yet, oldest day first. `scanStartedAt` is the database's clock when the scan
   * began: the cursor's next value once every pair it found has a flow.
   */
  async unstartedDays(limit: number): Promise<{ pairs: ReceiverDay[]; scanStartedAt: Date }> {
    const clock: { now: Date; cursor: Date | null }[] = await this.dataSource.query(
      `SELECT now() AS now, (SELECT scanned_until FROM settlement_dispatch_cursor) AS cursor`,
    );
    const { now, cursor } = clock[0] ?? { now: new Date(), cursor: null };
    const since = cursor ? new Date(cursor.getTime() - DISPATCH_CURSOR_MARGIN_MS) : new Date(0);
    const rows: { receiver_id: string; day: string }[] = await this.dataSource.query(
      `SELECT r.receiver_id, to_char((r.created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day
         FROM gift_receipts r
        WHERE r.created_at >= $1 AND r.state = 'pending'
          AND NOT EXISTS (SELECT 1 FROM settlement_flows f
                           WHERE f.receiver_id = r.receiver_id AND f.day = (r.created_at AT TIME ZONE 'UTC')::date)
        GROUP BY 1, 2
        ORDER BY 2, 1
        LIMIT $2`,
      [since, limit],
    );
    return { pairs: rows.map((r) => ({ receiverId: r.receiver_id, day: r.day })), scanStartedAt: now };
  }

  /** Receiver-days with a pending receipt long past its hold (see OVERDUE_AFTER_HOLD_MS). */
  async overdueDays(limit: number): Promise<ReceiverDay[]> {
    const rows: { receiver_id: string; day: string }[] = await this.dataSource.query(
      `SELECT receiver_id, to_char((created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day
         FROM gift_receipts
        WHERE state = 'pending' AND hold_until < now() - $1 * interval '1 millisecond'
        GROUP BY 1, 2
        ORDER BY 2, 1
        LIMIT $2`,
      [OVERDUE_AFTER_HOLD_MS, limit],
    );
    return rows.map((r) => ({ receiverId: r.receiver_id, day: r.day }));
  }

  /** Recorded after the start, so a crash in between only means the next run starts it again (a no-op). */
  async record(pair: ReceiverDay, workflowId: string): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO settlement_flows (receiver_id, day, workflow_id) VALUES ($1, $2, $3) ON CONFLICT (receiver_id, day) DO NOTHING`,
      [pair.receiverId, pair.day, workflowId],
    );
  }

  async advanceCursor(to: Date): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO settlement_dispatch_cursor (id, scanned_until) VALUES (true, $1)
       ON CONFLICT (id) DO UPDATE SET scanned_until = GREATEST(settlement_dispatch_cursor.scanned_until, EXCLUDED.scanned_until), updated_at = now()`,
      [to],
    );
  }

  async find(receiverId: string, day: UtcDay): Promise<{ workflowId: string; startedAt: Date } | null> {
    const rows: { workflow_id: string; started_at: Date }[] = await this.dataSource.query(
      `SELECT workflow_id, started_at FROM settlement_flows WHERE receiver_id = $1 AND day = $2`,
      [receiverId, day],
    );
    return rows[0] ? { workflowId: rows[0].workflow_id, startedAt: rows[0].started_at } : null;
  }
}
