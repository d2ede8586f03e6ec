import { AppError, ErrorCode } from '../errors';

/** Where an animation is shown: a banner over the chat, or the whole screen. */
export type AnimationDisplay = 'banner' | 'fullscreen';
export type AnimationFormat = 'svga' | 'mp4-alpha' | 'vap' | 'lottie';

export interface GiftAnimation {
  format: AnimationFormat;
  url: string;
  durationMs: number;
  display: AnimationDisplay;
  soundUrl?: string;
}

/** A catalog gift as the send path needs it (prices in coins, values in diamonds). */
export interface CatalogGift {
  id: string;
  categoryId: string;
  names: Record<string, string>;
  priceCoins: number;
  diamondValue: number;
  /** ISO 3166-1 alpha-2 regions where it is offered; null: everywhere. */
  regions: string[] | null;
  /** Regional prices where they differ from priceCoins. */
  regionPrices: Record<string, number>;
  minVipTier: number;
  sortOrder: number;
  enabled: boolean;
  animation: GiftAnimation;
}

export interface GiftSender {
  /** The sender's profile region (ISO alpha-2) or null when unknown. */
  region: string | null;
  vipTier: number;
}

/**
 * What one unit of the gift costs this sender, or why they may not send it. A sender without a
 * region may send only gifts offered everywhere; a regional price applies in its region.
 */
export function offerTo(gift: CatalogGift, sender: GiftSender): { unitPriceCoins: number; unitDiamonds: number } {
  if (!gift.enabled) throw new AppError(ErrorCode.GiftNotFound, 'this gift is not available');
  if (gift.regions && (!sender.region || !gift.regions.includes(sender.region))) {
    throw new AppError(ErrorCode.GiftNotOffered, 'this gift is not offered in your region', { regions: gift.regions });
  }
  if (sender.vipTier < gift.minVipTier) {
    throw new AppError(ErrorCode.GiftVipRequired, `this gift needs VIP tier ${gift.minVipTier}`, { minVipTier: gift.minVipTier });
  }
  const regional = sender.region ? gift.regionPrices[sender.region] : undefined;
  return { unitPriceCoins: regional ?? gift.priceCoins, unitDiamonds: gift.diamondValue };
}

/** Whether the catalog offers the gift in a region (for listing). */
export function offeredIn(gift: CatalogGift, region: string | null): boolean {
  return gift.enabled && (!gift.regions || (region !== null && gift.regions.includes(region)));
}

/**
 * Animation priority, 1 (lowest) to 5: a client that can play only a few animations at once
 * plays the highest first and drops the lowest. It grows with the coins the send is worth, and a
 * full-screen gift is never below 3.
 */
export function giftPriority(totalCoins: number, display: AnimationDisplay): number {
  const byValue = totalCoins >= 100_000 ? 5 : totalCoins >= 10_000 ? 4 : totalCoins >= 1_000 ? 3 : totalCoins >= 100 ? 2 : 1;
  return display === 'fullscreen' ? Math.max(3, byValue) : byValue;
}

/** Who a gift goes to: named users, everyone seated, or everyone in the room. */
export type GiftTarget = { users: string[] } | { everyone: 'seated' | 'room' };

export interface GiftTotals {
  totalCoins: number;
  coinsPerReceiver: number;
  diamondsPerReceiver: number;
}

export function giftTotals(offer: { unitPriceCoins: number; unitDiamonds: number }, quantity: number, receivers: number): GiftTotals {
  const coinsPerReceiver = offer.unitPriceCoins * quantity;
  const totalCoins = coinsPerReceiver * receivers;
  if (!Number.isSafeInteger(totalCoins)) throw new AppError(ErrorCode.ValidationFailed, 'the gift is too large');
  return { totalCoins, coinsPerReceiver, diamondsPerReceiver: offer.unitDiamonds * quantity };
}
