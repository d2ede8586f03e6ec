import { NO_BADGES, badgesAt, visibleVipTier } from './badges';

describe('visibleVipTier', () => {
  const now = Date.UTC(2026, 0, 10, 12);

  it('shows the tier while the expiry is ahead', () => {
    expect(visibleVipTier(3, now + 1, now)).toBe(3);
  });

  it('hides it at the expiry instant and after', () => {
    expect(visibleVipTier(3, now, now)).toBe(0);
    expect(visibleVipTier(3, now - 86_400_000, now)).toBe(0);
  });

  it('shows nothing without a tier or an expiry', () => {
    expect(visibleVipTier(0, null, now)).toBe(0);
    expect(visibleVipTier(2, null, now)).toBe(0);
    expect(visibleVipTier(0, now + 1000, now)).toBe(0);
  });
});

describe('badgesAt', () => {
  it('keeps levels and the CP partner, and reads the tier at the given instant', () => {
    const facts = { vipTier: 2, vipExpiresAtMs: 1_000, wealthLevel: 7, charmLevel: 4, cpPartnerId: 'p' };
    expect(badgesAt(facts, 999)).toEqual({ vipTier: 2, wealthLevel: 7, charmLevel: 4, cpPartnerId: 'p' });
    expect(badgesAt(facts, 1_000)).toEqual({ vipTier: 0, wealthLevel: 7, charmLevel: 4, cpPartnerId: 'p' });
  });

  it('has an empty default', () => {
    expect(NO_BADGES).toEqual({ vipTier: 0, wealthLevel: 0, charmLevel: 0, cpPartnerId: null });
  });
});
