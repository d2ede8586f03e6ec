import { CHARM_THRESHOLDS, MAX_LEVEL, WEALTH_THRESHOLDS, levelFor, levelTable, levelUpsBetween, progressOf } from './levels';

describe('the level table', () => {
  it('has 50 strictly growing thresholds per track, each step larger than the one before', () => {
    for (const table of [WEALTH_THRESHOLDS, CHARM_THRESHOLDS]) {
      expect(table).toHaveLength(MAX_LEVEL);
      for (let i = 1; i < table.length; i++) {
        expect(table[i]!).toBeGreaterThan(table[i - 1]!);
        if (i >= 2) expect(table[i]! - table[i - 1]!).toBeGreaterThan(table[i - 1]! - table[i - 2]!);
      }
      expect(table.every((t) => Number.isSafeInteger(t) && t > 0)).toBe(true);
    }
    expect(WEALTH_THRESHOLDS.slice(0, 3)).toEqual([200, 1_600, 5_400]);
    expect(WEALTH_THRESHOLDS[49]).toBe(25_000_000);
    expect(CHARM_THRESHOLDS[0]).toBe(140);
    expect(Object.isFrozen(WEALTH_THRESHOLDS)).toBe(true);
  });

  it('publishes both tracks with their levels', () => {
    const table = levelTable();
    expect(table.maxLevel).toBe(50);
    expect(table.tracks.wealth[0]).toEqual({ level: 1, threshold: 200 });
    expect(table.tracks.charm[49]).toEqual({ level: 50, threshold: 17_500_000 });
  });
});

describe('levelFor', () => {
  it('is 0 below the first threshold and reaches a level exactly at its threshold', () => {
    expect(levelFor('wealth', 0)).toBe(0);
    expect(levelFor('wealth', -5)).toBe(0);
    expect(levelFor('wealth', 199)).toBe(0);
    expect(levelFor('wealth', 200)).toBe(1);
    expect(levelFor('wealth', 1_599)).toBe(1);
    expect(levelFor('wealth', 1_600)).toBe(2);
    expect(levelFor('charm', 140)).toBe(1);
    expect(levelFor('charm', 139)).toBe(0);
  });

  it('stops at the top level however large the total', () => {
    expect(levelFor('wealth', 25_000_000)).toBe(50);
    expect(levelFor('wealth', Number.MAX_SAFE_INTEGER)).toBe(50);
  });

  it('agrees with a linear scan at every threshold and its neighbours', () => {
    for (const [track, table] of [['wealth', WEALTH_THRESHOLDS], ['charm', CHARM_THRESHOLDS]] as const) {
      for (const t of table) {
        for (const total of [t - 1, t, t + 1]) expect(levelFor(track, total)).toBe(table.filter((x) => x <= total).length);
      }
    }
  });
});

describe('progressOf', () => {
  it('says the next threshold, what remains and how far along the level is', () => {
    expect(progressOf('wealth', 0)).toEqual({ level: 0, total: 0, levelFloor: 0, nextThreshold: 200, remaining: 200, progress: 0 });
    expect(progressOf('wealth', 900)).toEqual({ level: 1, total: 900, levelFloor: 200, nextThreshold: 1_600, remaining: 700, progress: 0.5 });
  });

  it('is complete at the top level', () => {
    expect(progressOf('charm', 20_000_000)).toEqual({ level: 50, total: 20_000_000, levelFloor: 17_500_000, nextThreshold: null, remaining: 0, progress: 1 });
  });
});

describe('levelUpsBetween', () => {
  it('names the new top level of each track that rose, and nothing for one that stayed or fell', () => {
    expect(levelUpsBetween('u', { wealthLevel: 3, charmLevel: 5 }, { wealthLevel: 7, charmLevel: 5 })).toEqual([{ userId: 'u', track: 'wealth', level: 7, previous: 3 }]);
    expect(levelUpsBetween('u', { wealthLevel: 3, charmLevel: 5 }, { wealthLevel: 2, charmLevel: 6 })).toEqual([{ userId: 'u', track: 'charm', level: 6, previous: 5 }]);
    expect(levelUpsBetween('u', { wealthLevel: 1, charmLevel: 1 }, { wealthLevel: 1, charmLevel: 1 })).toEqual([]);
  });
});
