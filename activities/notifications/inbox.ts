import type { DataSource, EntityManager } from 'typeorm';

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
    return (await this.addWithin(this.dataSource.manager, n)).id;
  }

  /** Adds within `manager`'s transaction; `created` is false when the key was added before. */
  async addWithin(manager: EntityManager, n: NewNotification): Promise<{ id: string; created: boolean }> {
    const rows: { id: string; created: boolean }[] = await manager.query(
      `WITH inserted AS (
         INSERT INTO notifications (user_id, kind, title, body, data, idempotency_key)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id)
       SELECT id, true AS created FROM inserted
       UNION ALL
       SELECT id, false AS created FROM notifications WHERE idempotency_key = $6
       LIMIT 1`,
      [n.userId, n.kind, n.title, n.body, n.data ?? {}, n.idempotencyKey],
    );
    const row = rows[0];
    if (!row) throw new Error('notification was neither inserted nor found');
    return row;
  }
}
