import { NO_FACTS, checkDisplayChoice, criteriaMet, medalCriteria, medalReward, medalsDue, withHint, type MedalDefinition } from './medals';

const def = (id: string, criteria: MedalDefinition['criteria']): MedalDefinition => ({
  id,
  category: 'activity',
  names: { en: id },
  descriptions: { en: id },
  iconKey: `medal/${id}`,
  criteria,
  reward: { coins: 10 },
  sortOrder: 0,
});

describe('medal criteria', () => {
  it('parses each criterion type and refuses unknown or malformed ones', () => {
    expect(medalCriteria.parse({ type: 'daily-streak', days: 7 })).toEqual({ type: 'daily-streak', days: 7 });
    expect(medalCriteria.parse({ type: 'first-recharge' })).toEqual({ type: 'first-recharge' });
    expect(medalCriteria.safeParse({ type: 'gifts-sent', count: 0 }).success).toBe(false);
    expect(medalCriteria.safeParse({ type: 'gifts-sent', count: 1.5 }).success).toBe(false);
    expect(medalCriteria.safeParse({ type: 'vip-tier', tier: 2, extra: 1 }).success).toBe(false);
    expect(medalCriteria.safeParse({ type: 'sunshine' }).success).toBe(false);
    expect(medalReward.safeParse({ coins: 5, item: 'x' }).success).toBe(false);
    expect(medalReward.parse({ item: 'frame-gold' })).toEqual({ item: 'frame-gold' });
  });

  it('is met at the threshold, not below', () => {
    const facts = { ...NO_FACTS, bestStreak: 7, giftsSent: 99, vipTier: 2, wealthLevel: 10, charmLevel: 3 };
    expect(criteriaMet({ type: 'daily-streak', days: 7 }, facts)).toBe(true);
    expect(criteriaMet({ type: 'daily-streak', days: 8 }, facts)).toBe(false);
    expect(criteriaMet({ type: 'gifts-sent', count: 100 }, facts)).toBe(false);
    expect(criteriaMet({ type: 'gifts-sent', count: 99 }, facts)).toBe(true);
    expect(criteriaMet({ type: 'first-recharge' }, facts)).toBe(false);
    expect(criteriaMet({ type: 'first-recharge' }, { ...facts, recharged: true })).toBe(true);
    expect(criteriaMet({ type: 'vip-tier', tier: 2 }, facts)).toBe(true);
    expect(criteriaMet({ type: 'vip-tier', tier: 3 }, facts)).toBe(false);
    expect(criteriaMet({ type: 'wealth-level', level: 10 }, facts)).toBe(true);
    expect(criteriaMet({ type: 'charm-level', level: 4 }, facts)).toBe(false);
  });

  it('lets an event raise a fact but never lower one', () => {
    const facts = { ...NO_FACTS, bestStreak: 5, vipTier: 3 };
    expect(withHint(facts, { bestStreak: 7, vipTier: 1, recharged: true })).toEqual({ ...NO_FACTS, bestStreak: 7, vipTier: 3, recharged: true });
  });

  it('lists the medals due and not yet held', () => {
    const defs = [def('a', { type: 'daily-streak', days: 7 }), def('b', { type: 'first-recharge' }), def('c', { type: 'gifts-sent', count: 1 })];
    const due = medalsDue(defs, new Set(['c']), { ...NO_FACTS, bestStreak: 7, giftsSent: 3 });
    expect(due.map((d) => d.id)).toEqual(['a']);
  });
});

describe('checkDisplayChoice', () => {
  const held = new Set(['a', 'b', 'c', 'd']);
  it('accepts held medals up to the limit, and none', () => {
    expect(checkDisplayChoice(['a', 'b', 'c'], held, 3)).toBeNull();
    expect(checkDisplayChoice([], held, 3)).toBeNull();
  });
  it('refuses too many, a repeat, or a medal not held', () => {
    expect(checkDisplayChoice(['a', 'b', 'c', 'd'], held, 3)).toEqual({ kind: 'too-many', max: 3 });
    expect(checkDisplayChoice(['a', 'a'], held, 3)).toEqual({ kind: 'duplicate', medalId: 'a' });
    expect(checkDisplayChoice(['a', 'z', 'y'], held, 3)).toEqual({ kind: 'not-held', medalIds: ['z', 'y'] });
  });
});
