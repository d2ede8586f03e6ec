import type { DataSource } from 'typeorm';
import { VipRecords } from '../../db/repositories/vip';
import type { VipExpiredEvent } from '../../domain/events';
import type { UserEventPublisher } from '../../platform/events/publisher';
import { InboxNotifier, type Notifier } from '../../services/notifications/notifier';
import { asActivity } from '../failures';

export interface SendVipReminderInput {
  userId: string;
  tier: number;
  /** ISO instant the VIP ends. */
  expiresAt: string;
  leadHours: number;
  idempotencyKey: string;
}

export interface ExpireVipInput {
  userId: string;
  /** The expiry the flow's timer was set for (ISO): nothing changes unless the record still holds it. */
  expiresAt: string;
  tier: number;
}

/** The record after the attempt: expired, or what a purchase that won the race left. */
export interface ExpireVipResult {
  expired: boolean;
  tier: number;
  expiresAt: string | null;
  seq: number;
}

export interface VipActivityDeps {
  dataSource: DataSource;
  events: UserEventPublisher;
  /** How users are told (push included where configured); default: the in-app list and a socket event. */
  notifier?: Notifier;
}

export type VipActivities = ReturnType<typeof createVipActivities>;

export function createVipActivities({ dataSource, events, notifier }: VipActivityDeps) {
  const records = new VipRecords(dataSource);
  const notify = notifier ?? new InboxNotifier(dataSource, events);

  return {
    /** One `vip_reminder` notification per expiry and lead (the key makes a retry or a restart add nothing). */
    async sendVipReminder(input: SendVipReminderInput): Promise<{ notificationId: string }> {
      return asActivity(async () => {
        const days = input.leadHours % 24 === 0 ? `${input.leadHours / 24} day${input.leadHours === 24 ? '' : 's'}` : `${input.leadHours} hours`;
        const { id } = await notify.notify({
          userId: input.userId,
          kind: 'vip_reminder',
          title: 'Your VIP ends soon',
          body: `Your VIP ends in ${days}. Renew to keep your badge and perks.`,
          data: { tier: input.tier, expiresAt: input.expiresAt, leadHours: input.leadHours },
          idempotencyKey: input.idempotencyKey,
        });
        return { notificationId: id };
      });
    },

    /**
     * Ends the VIP the timer was set for: tier 0 and no expiry, only if the record still holds
     * that expiry (a purchase committed meanwhile moved it, and wins). Then the user's socket
     * hears `vip.expired` and a `vip_expired` notification is added, both keyed by the expiry.
     */
    async expireVip(input: ExpireVipInput): Promise<ExpireVipResult> {
      return asActivity(async () => {
        const record = await records.expire(input.userId, new Date(input.expiresAt));
        const result: ExpireVipResult = {
          expired: record.expired,
          tier: record.tier,
          expiresAt: record.expiresAt?.toISOString() ?? null,
          seq: record.seq,
        };
        if (!record.expired) return result;
        const key = `vip-expired:${input.userId}:${input.expiresAt}`;
        const event: VipExpiredEvent = { id: key, type: 'vip.expired', at: new Date().toISOString(), data: { tier: input.tier, expiredAt: input.expiresAt } };
        await events.publishToUser(input.userId, event);
        await notify.notify({
          userId: input.userId,
          kind: 'vip_expired',
          title: 'Your VIP has ended',
          body: 'Your VIP perks have ended. Buy VIP again to get them back.',
          data: { tier: input.tier, expiredAt: input.expiresAt },
          idempotencyKey: key,
        });
        return result;
      });
    },
  };
}
