/**
 * Wealth and charm levels: a published threshold table per track. Wealth grows with the coins a
 * user has spent on gifts, charm with the diamonds their gifts received were worth. Level L is
 * reached when the total is at least the L-th threshold; below the first a user is level 0.
 * The table is data the app shows (GET /v1/levels); changing it needs a migration that
 * recomputes users' levels, since the database keeps each user's level beside their totals.
 */

export const LEVEL_TRACKS = ['wealth', 'charm'] as const;
export type LevelTrack = (typeof LEVEL_TRACKS)[number];

export const MAX_LEVEL = 50;

/** Thresholds grow with the cube of the level: the first levels come in a day, the last take years. */
function cubicTable(scale: number): readonly number[] {
  return Object.freeze(Array.from({ length: MAX_LEVEL }, (_, i) => scale * (i + 1) ** 3));
}

/** Coins spent to reach wealth level 1..50 (index 0 is level 1): 200, 1,600, 5,400 ... 25,000,000. */
export const WEALTH_THRESHOLDS = cubicTable(200);
/** Diamonds received to reach charm level 1..50: 140, 1,120, 3,780 ... 17,500,000 (gifts pay ~70% of their price as diamonds). */
export const CHARM_THRESHOLDS = cubicTable(140);

export function thresholdsOf(track: LevelTrack): readonly number[] {
  return track === 'wealth' ? WEALTH_THRESHOLDS : CHARM_THRESHOLDS;
}

/** The level a total reaches on a track (0..MAX_LEVEL); a negative or fractional total counts what it floors to. */
export function levelFor(track: LevelTrack, total: number): number {
  const table = thresholdsOf(track);
  // Binary search for the number of thresholds <= total.
  let lo = 0;
  let hi = table.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (table[mid]! <= total) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface LevelProgress {
  level: number;
  total: number;
  /** The threshold of the current level (0 at level 0). */
  levelFloor: number;
  /** The next level's threshold; null at the top level. */
  nextThreshold: number | null;
  /** Still needed for the next level; 0 at the top. */
  remaining: number;
  /** How far from this level's floor to the next threshold, 0..1 (1 at the top). */
  progress: number;
}

export function progressOf(track: LevelTrack, total: number): LevelProgress {
  const table = thresholdsOf(track);
  const safeTotal = Math.max(0, Math.floor(total));
  const level = levelFor(track, safeTotal);
  const levelFloor = level === 0 ? 0 : table[level - 1]!;
  const nextThreshold = level >= table.length ? null : table[level]!;
  if (nextThreshold === null) return { level, total: safeTotal, levelFloor, nextThreshold, remaining: 0, progress: 1 };
  const progress = Math.floor(((safeTotal - levelFloor) / (nextThreshold - levelFloor)) * 10_000) / 10_000;
  return { level, total: safeTotal, levelFloor, nextThreshold, remaining: nextThreshold - safeTotal, progress };
}

/** The table as the API publishes it. */
export function levelTable(): { maxLevel: number; tracks: Record<LevelTrack, { level: number; threshold: number }[]> } {
  const rows = (track: LevelTrack) => thresholdsOf(track).map((threshold, i) => ({ level: i + 1, threshold }));
  return { maxLevel: MAX_LEVEL, tracks: { wealth: rows('wealth'), charm: rows('charm') } };
}

/** A level that rose: what is announced (only the new top level, however many were passed at once). */
export interface LevelUp {
  userId: string;
  track: LevelTrack;
  level: number;
  previous: number;
}

/** The level-ups between two totals of one user (none when a level stayed or fell). */
export function levelUpsBetween(
  userId: string,
  before: { wealthLevel: number; charmLevel: number },
  after: { wealthLevel: number; charmLevel: number },
): LevelUp[] {
  const ups: LevelUp[] = [];
  if (after.wealthLevel > before.wealthLevel) ups.push({ userId, track: 'wealth', level: after.wealthLevel, previous: before.wealthLevel });
  if (after.charmLevel > before.charmLevel) ups.push({ userId, track: 'charm', level: after.charmLevel, previous: before.charmLevel });
  return ups;
}
