import type { DataSource } from 'typeorm';
import { Ledger } from '../../db/repositories/ledger';
import type { DailyRewardClaim } from '../../domain/daily-reward/cycle';
import type { RewardClaimedEvent, RewardReminderEvent } from '../../domain/events';
import type { UserEventPublisher } from '../../platform/events/publisher';
import { asActivity } from '../failures';
import { NotificationInbox } from '../notifications/inbox';
import type { Notifier } from '../../services/notifications/notifier';

export interface CreditDailyRewardInput {
  userId: string;
  coins: number;
  idempotencyKey: string;
  claim: DailyRewardClaim;
}

export interface CreditDailyRewardResult {
  ledgerEntryId: string;
  coinBalance: number;
  /** False when this key had been credited before (a retry or a duplicate). */
  applied: boolean;
}

export interface SendReminderInput {
  userId: string;
  forDate: string;
  idempotencyKey: string;
  streakBreaksAt?: string | null;
}

export interface DailyRewardActivityDeps {
  dataSource: DataSource;
  events: UserEventPublisher;
  /** Fault injection for the crash test: exit the process right after the credit commits. */
  crashAfterCreditCommit?: boolean;
  /**
   * How reminders reach the user's list (and phones, with push): kind `reward_reminder`, which
   * the user may turn off for push. Without it, the row alone (kind `daily_reward_reminder`).
   */
  notifier?: Notifier;
}

export type DailyRewardActivities = ReturnType<typeof createDailyRewardActivities>;

export function createDailyRewardActivities({ dataSource, events, crashAfterCreditCommit, notifier }: DailyRewardActivityDeps) {
  const ledger = new Ledger(dataSource);
  const inbox = new NotificationInbox(dataSource);

  return {
    /** Credits the day's coins once per key, records the claim, then tells the user's devices. */
    async creditDailyReward(input: CreditDailyRewardInput): Promise<CreditDailyRewardResult> {
      return asActivity(async () => {
        const result = await dataSource.transaction(async (tx) => {
          // creditCoins: a reward also pays down coins owed after a refund.
          const entry = await ledger.creditCoins(
            {
              userId: input.userId,
              amount: input.coins,
              reason: 'daily_reward',
              idempotencyKey: input.idempotencyKey,
              metadata: { date: input.claim.date, day: input.claim.day, streak: input.claim.streak },
            },
            tx,
          );
          await tx.query(
            `INSERT INTO daily_reward_claims (user_id, claim_date, cycle_day, coins, streak, ledger_entry_id)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
            [input.userId, input.claim.date, input.claim.day, input.coins, input.claim.streak, entry.entryId],
          );
          const balances = await ledger.balances(input.userId, tx);
          return { ledgerEntryId: entry.entryId, coinBalance: balances?.coins ?? entry.balanceAfter, applied: entry.applied };
        });
        if (crashAfterCreditCommit) process.kill(process.pid, 'SIGKILL');

        const event: RewardClaimedEvent = {
          id: input.idempotencyKey,
          type: 'reward.claimed',
          at: new Date().toISOString(),
          data: {
            date: input.claim.date,
            day: input.claim.day,
            coins: input.coins,
            streak: input.claim.streak,
            coinBalance: result.coinBalance,
          },
        };
        await events.publishToUser(input.userId, event);
        return result;
      });
    },

    /** An in-app notification row plus a realtime nudge, once per day reminded about. */
    async sendDailyRewardReminder(input: SendReminderInput): Promise<{ notificationId: string }> {
      return asActivity(async () => {
        const reminder = {
          userId: input.userId,
          title: 'Your daily reward is waiting',
          body: 'Claim today to keep your streak going.',
          data: { forDate: input.forDate },
          idempotencyKey: input.idempotencyKey,
        };
        const notificationId = notifier
          ? (await notifier.notify({ ...reminder, kind: 'reward_reminder' })).id
          : await inbox.add({ ...reminder, kind: 'daily_reward_reminder' });
        const event: RewardReminderEvent = {
          id: input.idempotencyKey,
          type: 'reward.reminder',
          at: new Date().toISOString(),
          data: { forDate: input.forDate, streakBreaksAt: input.streakBreaksAt ?? null, notificationId },
        };
        await events.publishToUser(input.userId, event);
        return { notificationId };
      });
    },
  };
}
