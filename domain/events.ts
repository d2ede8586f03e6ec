import type { GiftAnimation } from './economy/gifts';

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

/** A gift as its events show it: enough to play the animation without asking the catalog. */
export interface GiftEventGift {
  id: string;
  /** The English name (clients localise from the catalog by id). */
  name: string;
  animation: GiftAnimation;
}

/** The sender's run of the same gift to the same receivers (see docs/realtime-protocol.md, gifts). */
export interface GiftCombo {
  /** The sendId of the combo's first send. */
  id: string;
  /** Units sent in the combo so far (the sum of the sends' quantities). */
  count: number;
  /** When the combo ends (ms since the epoch) unless another send extends it. */
  endsAt: number;
}

/** Data of the room event `gift.sent`: a send that starts a combo (most sends). */
export interface GiftSentData {
  sendId: string;
  senderId: string;
  /** The first receivers (at most GIFT_EVENT_RECEIVER_IDS_MAX); receiverCount says how many in all. */
  receiverIds: string[];
  receiverCount: number;
  gift: GiftEventGift;
  quantity: number;
  totalCoins: number;
  /** 1 (lowest) to 5: which animations to play first (domain/economy/gifts.ts giftPriority). */
  priority: number;
  combo: GiftCombo;
}

/** Data of the room event `gift.combo`: the running count of a combo, at most about twice a second. */
export interface GiftComboData {
  /** The latest send counted. */
  sendId: string;
  senderId: string;
  receiverIds: string[];
  receiverCount: number;
  gift: GiftEventGift;
  /** Coins the whole combo is worth so far; priority follows it. */
  totalCoins: number;
  priority: number;
  combo: GiftCombo;
}

export const GIFT_EVENT_RECEIVER_IDS_MAX = 20;

/**
 * To a receiver: gifts received. Sends that continue a combo are summed up (quantity, diamonds,
 * sends) in one event about twice a second instead of one event each.
 */
export type GiftReceivedEvent = RealtimeEvent<
  'gift.received',
  {
    /** The latest send this event covers. */
    sendId: string;
    /** How many sends it covers (1 unless a combo's sends were summed up). */
    sends: number;
    roomId: string;
    senderId: string;
    gift: GiftEventGift;
    quantity: number;
    /** Diamonds for this receiver, pending until the gift settles. */
    diamonds: number;
    combo: { id: string; count: number };
  }
>;

/** To the user: a VIP purchase, renewal or upgrade committed (the app refreshes badge and perks). */
export type VipChangedEvent = RealtimeEvent<
  'vip.changed',
  { purchaseId: string; kind: 'new' | 'renewal' | 'upgrade'; tier: number; expiresAt: string }
>;

/** To the user: their VIP ended at its expiry; perks are gone everywhere (users.vip_tier is 0). */
export type VipExpiredEvent = RealtimeEvent<'vip.expired', { tier: number; expiredAt: string }>;

export function userChannel(userId: string): string {
  return `aura:user:${userId}`;
}
