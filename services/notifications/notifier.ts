import type { DataSource } from 'typeorm';
import { NotificationInbox, type NewNotification } from '../../activities/notifications/inbox';
import type { RealtimeEvent } from '../../domain/events';
import type { UserEventPublisher } from '../../platform/events/publisher';

/**
 * The kinds of notification a user can get (and turn off, for push, in their preferences).
 * Rows of other kinds may exist from before (e.g. `daily_reward_reminder`).
 */
export const NOTIFICATION_KINDS = [
  'reward',
  'reward_reminder',
  'gift_received',
  'follow',
  'room_invitation',
  'vip_reminder',
  'vip_expired',
  'medal',
  'level_up',
  'referral_payout',
  'cp_proposal',
  'cp_answer',
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export interface Notice extends NewNotification {
  kind: NotificationKind;
}

/**
 * How every feature tells a user something: one row in their notification list (idempotent by
 * key: a retried sender adds nothing), a `notification.created` event on their socket, and a push
 * to their phones unless they turned the kind off. Features depend on this interface only.
 */
export interface Notifier {
  notify(notice: Notice): Promise<{ id: string }>;
}

/**
 * The list and the socket event, without push: the base the push-sending notifier builds on,
 * and what a process without a push provider uses.
 */
export class InboxNotifier implements Notifier {
  private readonly inbox: NotificationInbox;

  constructor(dataSource: DataSource, private readonly events?: UserEventPublisher) {
    this.inbox = new NotificationInbox(dataSource);
  }

  async notify(notice: Notice): Promise<{ id: string }> {
    const id = await this.inbox.add(notice);
    await this.events?.publishToUser(notice.userId, notificationCreatedEvent(notice, id));
    return { id };
  }
}

/** The socket event for a new row; its id is the notice's key, so a repeat is recognised by the app. */
export function notificationCreatedEvent(notice: Notice, id: string): RealtimeEvent {
  return {
    id: notice.idempotencyKey,
    type: 'notification.created',
    at: new Date().toISOString(),
    data: { id, kind: notice.kind, title: notice.title, body: notice.body, data: notice.data ?? {} },
  };
}
