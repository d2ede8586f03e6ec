/**
 * CP levels, read from a pair's intimacy: the coins of the gifts the two exchanged while paired
 * (the ring that formed the pair included). Published table: the level is the highest whose
 * threshold the intimacy has reached. Pure.
 */
export interface CpLevelStep {
  level: number;
  name: string;
  /** Intimacy (coins) needed, inclusive. */
  minIntimacy: number;
}

export const CP_LEVELS: readonly CpLevelStep[] = [
  { level: 0, name: 'Acquainted', minIntimacy: 0 },
  { level: 1, name: 'Sweethearts', minIntimacy: 520 },
  { level: 2, name: 'Close', minIntimacy: 2_000 },
  { level: 3, name: 'Devoted', minIntimacy: 5_000 },
  { level: 4, name: 'Inseparable', minIntimacy: 13_140 },
  { level: 5, name: 'Soulmates', minIntimacy: 30_000 },
  { level: 6, name: 'Forever', minIntimacy: 52_000 },
  { level: 7, name: 'Legendary', minIntimacy: 131_400 },
  { level: 8, name: 'Eternal', minIntimacy: 314_000 },
  { level: 9, name: 'Mythic', minIntimacy: 520_000 },
  { level: 10, name: 'Infinite', minIntimacy: 1_314_000 },
];

export interface CpLevel {
  level: number;
  name: string;
  intimacy: number;
  /** The current level's threshold. */
  levelStartsAt: number;
  /** The next level's threshold; null at the top. */
  nextLevelAt: number | null;
}

/** The level of an intimacy (a non-negative whole number of coins). */
export function cpLevel(intimacy: number): CpLevel {
  if (!Number.isSafeInteger(intimacy) || intimacy < 0) throw new RangeError(`intimacy must be a non-negative integer, got ${intimacy}`);
  let index = 0;
  while (index + 1 < CP_LEVELS.length && intimacy >= CP_LEVELS[index + 1]!.minIntimacy) index += 1;
  const step = CP_LEVELS[index]!;
  const next = CP_LEVELS[index + 1];
  return { level: step.level, name: step.name, intimacy, levelStartsAt: step.minIntimacy, nextLevelAt: next ? next.minIntimacy : null };
}
