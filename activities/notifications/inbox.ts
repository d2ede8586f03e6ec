import type { DataSource } from 'typeorm';

export interface NewNotification {
  userId: string;
  kind: string;
  title: string;
  body: string;
  data?: Record<string, unknown>;
  idempotencyKey: string;
}

/** The in-app notification list. Adding is idempotent by key. */
export class NotificationInbox {
  constructor(private readonly dataSource: DataSource) {}

  async add(n: NewNotification): Promise<string> {
    const rows: { id: string }[] = await this.dataSource.query(
      `WITH inserted AS (
         INSERT INTO notifications (user_id, kind, title, body, data, idempotency_key)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id)
       SELECT id FROM inserted
       UNION ALL
       SELECT id FROM notifications WHERE idempotency_key = $6
       LIMIT 1`,
      [n.userId, n.kind, n.title, n.body, n.data ?? {}, n.idempotencyKey],
    );
    const row = rows[0];
    if (!row) throw new Error('notification was neither inserted nor found');
    return row.id;
  }
}
