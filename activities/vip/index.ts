import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { DataSource } from 'typeorm';
import { VipRecords } from '../../db/repositories/vip';
import type { VipExpiredEvent } from '../../domain/events';
import type { UserEventPublisher } from '../../platform/events/publisher';
import type { VipPolicy } from '../../domain/vip/flow';
import { InboxNotifier, type Notifier } from '../../services/notifications/notifier';
import { VipFlows } from '../../services/vip/flow-client';
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
  /** Where the sweep signals flows; default: the activity's own client. */
  temporal?: Client;
}

export interface ResumeOverdueVipInput {
  policy: VipPolicy;
  /** How long past its expiry a membership must be before the sweep steps in (the flow's own timer is exact). */
  graceSeconds: number;
  limit: number;
}

export type VipActivities = ReturnType<typeof createVipActivities>;

export function createVipActivities({ dataSource, events, notifier, temporal }: VipActivityDeps) {
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

    /**
     * The repair for a purchase whose signal never reached its flow: memberships past their
     * expiry (by more than the grace) get their last purchase signalled again (signal-with-start),
     * so their flow expires them at once, with its notification, by the same path as any expiry.
     */
    async resumeOverdueVipFlows(input: ResumeOverdueVipInput): Promise<{ overdue: number; signalled: number }> {
      return asActivity(async () => {
        const context = Context.current();
        const flows = new VipFlows(temporal ?? context.client, context.info.taskQueue, input.policy);
        const overdue = await records.overdue(input.graceSeconds * 1000, input.limit);
        let signalled = 0;
        for (const m of overdue) {
          if (await flows.purchased(m.userId, { seq: m.seq, tier: m.tier, expiresAt: m.expiresAt, resync: true })) signalled += 1;
          context.heartbeat(signalled);
        }
        return { overdue: overdue.length, signalled };
      });
    },
  };
}
