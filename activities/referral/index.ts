import type { DataSource } from 'typeorm';
import { ReferralRecords } from '../../db/repositories/referrals';
import { milestonesReached, type MilestoneReward, type ReferralMilestone } from '../../domain/referrals/milestones';
import type { UserEventPublisher } from '../../platform/events/publisher';
import { InboxNotifier, type Notifier } from '../../services/notifications/notifier';
import type { ReferralLeaderboard } from '../../services/referrals/leaderboard';
import { asActivity } from '../failures';

export interface ReferralActivityDeps {
  dataSource: DataSource;
  /** How referrers and referees hear of a payout; the worker gives the inbox (+ push) notifier. */
  notifier?: Notifier;
  /** Without a notifier: the inbox notifier over these events. */
  events?: UserEventPublisher;
  /** Where a payout counts the referral; without it the boards rebuild from PostgreSQL when read. */
  referralLeaderboard?: ReferralLeaderboard;
}

export type ReferralActivities = ReturnType<typeof createReferralActivities>;

const MILESTONE_TEXT: Record<ReferralMilestone, string> = {
  'active-days': 'signed in on 3 days',
  'first-recharge': 'made a first recharge',
  'streak-7': 'reached a 7-day reward streak',
};

export function createReferralActivities({ dataSource, notifier: given, events, referralLeaderboard }: ReferralActivityDeps) {
  const records = new ReferralRecords(dataSource);
  const notifier = given ?? new InboxNotifier(dataSource, events);

  return {
    /** Which milestones the records show within the window (read-only: safe to retry). */
    async evaluateReferralMilestones(input: { refereeId: string }): Promise<{ reached: ReferralMilestone[] }> {
      return asActivity(async () => ({ reached: milestonesReached(await records.milestoneFacts(input.refereeId)) }));
    },

    /**
     * Pays a milestone to both sides in one transaction (once, whatever the retries), then tells
     * both and counts the referral on the leaderboards; those two are idempotent too, so a retry
     * after the commit repeats them harmlessly.
     */
    async payReferralMilestone(input: { refereeId: string; reward: MilestoneReward }): Promise<{ applied: boolean }> {
      return asActivity(async () => {
        const { refereeId, reward } = input;
        const paid = await records.payMilestone(refereeId, reward);
        const what = MILESTONE_TEXT[reward.milestone];
        const data = { refereeId, milestone: reward.milestone };
        {
          if (reward.referrerCoins > 0) {
            await notifier.notify({
              userId: paid.referrerId,
              kind: 'referral_payout',
              title: `+${reward.referrerCoins} coins for an invite`,
              body: `A friend you invited ${what}.`,
              data: { ...data, coins: reward.referrerCoins, side: 'referrer' },
              idempotencyKey: `referral-payout:${refereeId}:${reward.milestone}:referrer`,
            });
          }
          if (reward.refereeCoins > 0) {
            await notifier.notify({
              userId: refereeId,
              kind: 'referral_payout',
              title: `+${reward.refereeCoins} coins`,
              body: `You ${what}: a welcome reward for joining with an invite.`,
              data: { ...data, coins: reward.refereeCoins, side: 'referee' },
              idempotencyKey: `referral-payout:${refereeId}:${reward.milestone}:referee`,
            });
          }
        }
        await referralLeaderboard?.record(paid.referrerId, refereeId, paid.qualifiedAt);
        return { applied: paid.applied };
      });
    },

    /** Marks the referral ended (the nudges stop; the referrer's list shows it). */
    async closeReferral(input: { refereeId: string; reason: 'completed' | 'expired' }): Promise<void> {
      return asActivity(() => records.markEnded(input.refereeId, input.reason));
    },
  };
}
