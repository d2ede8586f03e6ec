import { activeTier, convertRemaining, decidePurchase, scaleDailyRewardTable, VIP_MAX_TERM_MS, VIP_PERIOD_MS, type VipTier } from './membership';

const tier = (level: number, priceCoins: number): VipTier => ({
  level,
  name: `T${level}`,
  priceCoins,
  perks: { badge: true, roomEntryEffect: false, exclusiveGifts: true, profileFrame: false, dailyRewardPercent: 100 },
});
const BRONZE = tier(1, 3_000);
const GOLD = tier(3, 30_000);
const NOW = Date.UTC(2026, 0, 1, 12);
const DAY = 86_400_000;

describe('VIP purchases', () => {
  it('starts a new term now for someone without VIP, or whose VIP has passed its expiry', () => {
    for (const current of [{ tier: 0, expiresAt: null }, { tier: 3, expiresAt: NOW }]) {
      expect(decidePurchase({ current, currentTier: null, target: BRONZE, periods: 2, now: NOW })).toEqual({
        ok: true, kind: 'new', priceCoins: 6_000, expiresAt: NOW + 2 * VIP_PERIOD_MS, convertedMs: 0,
      });
    }
  });

  it('adds a renewal of the same tier to the current expiry', () => {
    const current = { tier: 1, expiresAt: NOW + 5 * DAY };
    expect(decidePurchase({ current, currentTier: BRONZE, target: BRONZE, periods: 1, now: NOW })).toEqual({
      ok: true, kind: 'renewal', priceCoins: 3_000, expiresAt: NOW + 5 * DAY + VIP_PERIOD_MS, convertedMs: 0,
    });
  });

  it('converts what is left of a lower tier into time of the higher one, pro rata by price', () => {
    const current = { tier: 1, expiresAt: NOW + 20 * DAY };
    const decision = decidePurchase({ current, currentTier: BRONZE, target: GOLD, periods: 1, now: NOW });
    // 20 days of a 3,000-coin tier are worth 2 days of a 30,000-coin tier.
    expect(decision).toEqual({ ok: true, kind: 'upgrade', priceCoins: 30_000, expiresAt: NOW + 2 * DAY + VIP_PERIOD_MS, convertedMs: 2 * DAY });
    expect(convertRemaining(1_234_567, 3, 7)).toBe(529_000); // whole seconds, rounded down
  });

  it('refuses a downgrade while a higher tier is active, and a term past two years', () => {
    expect(decidePurchase({ current: { tier: 3, expiresAt: NOW + DAY }, currentTier: GOLD, target: BRONZE, periods: 1, now: NOW })).toEqual({
      ok: false, reason: 'DOWNGRADE_WHILE_ACTIVE', currentTier: 3, expiresAt: NOW + DAY,
    });
    const long = { tier: 1, expiresAt: NOW + 20 * VIP_PERIOD_MS };
    expect(decidePurchase({ current: long, currentTier: BRONZE, target: BRONZE, periods: 12, now: NOW })).toEqual({
      ok: false, reason: 'TERM_TOO_LONG', latestExpiry: NOW + VIP_MAX_TERM_MS,
    });
    expect(() => decidePurchase({ current: long, currentTier: BRONZE, target: BRONZE, periods: 13, now: NOW })).toThrow(RangeError);
  });

  it('counts a tier as active only before its expiry', () => {
    expect(activeTier({ tier: 2, expiresAt: NOW + 1 }, NOW)).toBe(2);
    expect(activeTier({ tier: 2, expiresAt: NOW }, NOW)).toBe(0);
    expect(activeTier({ tier: 0, expiresAt: null }, NOW)).toBe(0);
  });
});

describe('the daily reward perk', () => {
  it('multiplies the coin table, rounding down, and keeps day 7 the largest', () => {
    expect(scaleDailyRewardTable([10, 20, 30, 40, 50, 60, 150], 150)).toEqual([15, 30, 45, 60, 75, 90, 225]);
    expect(scaleDailyRewardTable([10, 20, 30, 40, 50, 60, 150], 100)).toEqual([10, 20, 30, 40, 50, 60, 150]);
    // Flooring would tie day 6 with day 7: the table is kept.
    expect(scaleDailyRewardTable([1, 1, 1, 1, 1, 2, 3], 110)).toEqual([1, 1, 1, 1, 1, 2, 3]);
  });
});
