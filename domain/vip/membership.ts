/**
 * VIP membership rules, pure: the API decides purchases with them, the `vip:<userId>` flow its
 * reminders and expiry. Instants are epoch milliseconds.
 *
 * The rules:
 *  - A period is 30 days; one purchase buys 1..12 periods at the tier's price each.
 *  - Buy (no active VIP, or an expired one): the term starts now.
 *  - Renew (the same tier, active): the time adds up, from the current expiry.
 *  - Upgrade (a higher tier, active): what is left of the old tier is converted pro rata, by
 *    price, into time of the new tier, and the periods bought start after it:
 *    expiresAt = now + remaining × oldPrice / newPrice + periods × 30 days. No coins move for the
 *    old tier, so an upgrade can never cost less than nothing, and nothing paid is lost.
 *  - Downgrade (a lower tier, active): refused; buy it once the current tier has ended.
 *  - An expiry at most VIP_MAX_TERM_MS ahead (two years), so a term stays a sane number.
 *  - No grace period: the perks end at the exact expiry; a purchase after it is a new term.
 */
export const VIP_PERIOD_MS = 30 * 86_400_000;
export const VIP_MAX_PERIODS = 12;
export const VIP_MAX_TERM_MS = 24 * VIP_PERIOD_MS;

/** Perks as flags the app reads, and the daily reward's multiplier. */
export interface VipPerks {
  badge: boolean;
  roomEntryEffect: boolean;
  /** Gifts whose catalog `minVipTier` is at most this tier's level. */
  exclusiveGifts: boolean;
  profileFrame: boolean;
  /** The daily reward's coin table times this, in percent (100: unchanged). */
  dailyRewardPercent: number;
}

export interface VipTier {
  level: number;
  name: string;
  /** The price of one 30-day period. */
  priceCoins: number;
  perks: VipPerks;
}

/** What `users` records: tier 0 and no expiry when not VIP. */
export interface Membership {
  tier: number;
  expiresAt: number | null;
}

/** The tier in force at `now`: 0 once the expiry has passed, even before the flow has reset the row. */
export function activeTier(m: Membership, now: number): number {
  return m.expiresAt !== null && m.expiresAt > now && m.tier > 0 ? m.tier : 0;
}

export type PurchaseKind = 'new' | 'renewal' | 'upgrade';

export type PurchaseDecision =
  | { ok: true; kind: PurchaseKind; priceCoins: number; expiresAt: number; convertedMs: number }
  | { ok: false; reason: 'DOWNGRADE_WHILE_ACTIVE'; currentTier: number; expiresAt: number }
  | { ok: false; reason: 'TERM_TOO_LONG'; latestExpiry: number };

/**
 * What buying `periods` of `target` at `now` does for someone with membership `current`
 * (`currentTier` is the record of their active tier, for an upgrade's conversion).
 */
export function decidePurchase(input: {
  current: Membership;
  currentTier: VipTier | null;
  target: VipTier;
  periods: number;
  now: number;
}): PurchaseDecision {
  const { current, currentTier, target, periods, now } = input;
  if (!Number.isSafeInteger(periods) || periods < 1 || periods > VIP_MAX_PERIODS) throw new RangeError(`periods must be 1..${VIP_MAX_PERIODS}`);
  const priceCoins = target.priceCoins * periods;
  const bought = periods * VIP_PERIOD_MS;
  const active = activeTier(current, now);
  let decision: PurchaseDecision;
  if (active === 0) {
    decision = { ok: true, kind: 'new', priceCoins, expiresAt: now + bought, convertedMs: 0 };
  } else if (active === target.level) {
    decision = { ok: true, kind: 'renewal', priceCoins, expiresAt: current.expiresAt! + bought, convertedMs: 0 };
  } else if (active > target.level) {
    return { ok: false, reason: 'DOWNGRADE_WHILE_ACTIVE', currentTier: active, expiresAt: current.expiresAt! };
  } else {
    const convertedMs = convertRemaining(current.expiresAt! - now, currentTier?.priceCoins ?? 0, target.priceCoins);
    decision = { ok: true, kind: 'upgrade', priceCoins, expiresAt: now + convertedMs + bought, convertedMs };
  }
  if (decision.expiresAt - now > VIP_MAX_TERM_MS) return { ok: false, reason: 'TERM_TOO_LONG', latestExpiry: now + VIP_MAX_TERM_MS };
  return decision;
}

/** Remaining time of the old tier as time of the new one, pro rata by price, in whole seconds. */
export function convertRemaining(remainingMs: number, oldPrice: number, newPrice: number): number {
  if (remainingMs <= 0 || oldPrice <= 0) return 0;
  return Math.floor((remainingMs * oldPrice) / newPrice / 1000) * 1000;
}

/** The daily reward's coin table for a tier's multiplier; a table the multiplier would break is kept as is. */
export function scaleDailyRewardTable(coinsByDay: number[], percent: number): number[] {
  if (!Number.isSafeInteger(percent) || percent <= 100) return coinsByDay;
  const scaled = coinsByDay.map((c) => Math.floor((c * percent) / 100));
  const last = scaled[scaled.length - 1] ?? 0;
  // The daily-reward policy needs day 7 to stay the largest; flooring could tie it.
  if (scaled.slice(0, -1).some((c) => c >= last)) return coinsByDay;
  return scaled;
}
