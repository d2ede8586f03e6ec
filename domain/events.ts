/**
 * Events pushed to a user's realtime channel. `id` is the effect's idempotency key, so a
 * client that receives a redelivery (a retried activity publishes again) can drop it.
 */
export interface RealtimeEvent<T extends string = string, D = unknown> {
  id: string;
  type: T;
  /** ISO instant the event was produced. */
  at: string;
  data: D;
}

export type RewardClaimedEvent = RealtimeEvent<
  'reward.claimed',
  { date: string; day: number; coins: number; streak: number; coinBalance: number }
>;
export type RewardReminderEvent = RealtimeEvent<
  'reward.reminder',
  { forDate: string; streakBreaksAt: string | null; notificationId: string }
>;

export function userChannel(userId: string): string {
  return `aura:user:${userId}`;
}
