import type { DataSource } from 'typeorm';
import { NotificationInbox } from '../../activities/notifications/inbox';
import { PushOutbox } from '../../db/repositories/push-outbox';
import type { UserEventPublisher } from '../../platform/events/publisher';
import { notificationCreatedEvent, type Notice, type Notifier } from './notifier';

/**
 * The row, the socket event, and a push to each of the user's phones: the row and one outbox
 * row per token commit together (unless the user turned push off for the kind), and the worker's
 * push drain sends them. Notifying never waits on FCM. A repeated notice (same key) adds neither
 * a row nor a push.
 */
export class PushingNotifier implements Notifier {
  private readonly inbox: NotificationInbox;
  private readonly outbox: PushOutbox;

  constructor(
    private readonly dataSource: DataSource,
    private readonly events?: UserEventPublisher,
  ) {
    this.inbox = new NotificationInbox(dataSource);
    this.outbox = new PushOutbox(dataSource);
  }

  async notify(notice: Notice): Promise<{ id: string }> {
    const id = await this.dataSource.transaction(async (tx) => {
      const row = await this.inbox.addWithin(tx, notice);
      if (row.created) await this.outbox.enqueue(tx, { id: row.id, userId: notice.userId, kind: notice.kind });
      return row.id;
    });
    await this.events?.publishToUser(notice.userId, notificationCreatedEvent(notice, id));
    return { id };
  }
}
