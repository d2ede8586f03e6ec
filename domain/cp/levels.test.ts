import { CP_LEVELS, cpLevel } from './levels';

describe('CP levels', () => {
  it('is a table with strictly rising thresholds starting at 0, levels numbered in order', () => {
    expect(CP_LEVELS[0]).toMatchObject({ level: 0, minIntimacy: 0 });
    for (let i = 1; i < CP_LEVELS.length; i++) {
      expect(CP_LEVELS[i]!.level).toBe(i);
      expect(CP_LEVELS[i]!.minIntimacy).toBeGreaterThan(CP_LEVELS[i - 1]!.minIntimacy);
    }
  });

  it('reads the level from the thresholds, inclusive', () => {
    expect(cpLevel(0)).toEqual({ level: 0, name: 'Acquainted', intimacy: 0, levelStartsAt: 0, nextLevelAt: 520 });
    expect(cpLevel(519).level).toBe(0);
    // The seeded CP Ring (520 coins) makes a new pair level 1.
    expect(cpLevel(520)).toMatchObject({ level: 1, levelStartsAt: 520, nextLevelAt: 2_000 });
    expect(cpLevel(1_999).level).toBe(1);
    expect(cpLevel(2_000).level).toBe(2);
    expect(cpLevel(52_000).level).toBe(6);
  });

  it('stops at the top level with no next threshold', () => {
    expect(cpLevel(1_314_000)).toMatchObject({ level: 10, nextLevelAt: null });
    expect(cpLevel(Number.MAX_SAFE_INTEGER)).toMatchObject({ level: 10, nextLevelAt: null });
  });

  it('refuses what is not a whole, non-negative number of coins', () => {
    expect(() => cpLevel(-1)).toThrow(RangeError);
    expect(() => cpLevel(1.5)).toThrow(RangeError);
    expect(() => cpLevel(Number.NaN)).toThrow(RangeError);
  });
});
