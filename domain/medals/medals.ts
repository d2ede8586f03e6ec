import { z } from 'zod';

/**
 * Medals: definitions are data (the `medals` table); what a medal asks for is one structured
 * criterion, checked against a user's facts read from the records. A medal is awarded once and
 * never taken back (a level that later falls, or a VIP that lapses, keeps its medal).
 */

export const MEDAL_CATEGORIES = ['activity', 'gifting', 'wealth', 'vip', 'social'] as const;
export type MedalCategory = (typeof MEDAL_CATEGORIES)[number];

const count = z.number().int().min(1).max(1_000_000);

export const medalCriteria = z.discriminatedUnion('type', [
  z.object({ type: z.literal('daily-streak'), days: z.number().int().min(1).max(3650) }).strict(),
  z.object({ type: z.literal('gifts-sent'), count }).strict(),
  z.object({ type: z.literal('first-recharge') }).strict(),
  z.object({ type: z.literal('vip-tier'), tier: z.number().int().min(1).max(10) }).strict(),
  z.object({ type: z.literal('wealth-level'), level: z.number().int().min(1).max(50) }).strict(),
  z.object({ type: z.literal('charm-level'), level: z.number().int().min(1).max(50) }).strict(),
]);
export type MedalCriteria = z.infer<typeof medalCriteria>;

export const medalReward = z.union([
  z.object({ coins: z.number().int().min(1).max(1_000_000) }).strict(),
  z.object({ item: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/) }).strict(),
]);
export type MedalReward = z.infer<typeof medalReward>;

export interface MedalDefinition {
  id: string;
  category: MedalCategory;
  /** Localized; "en" always there. */
  names: Record<string, string>;
  descriptions: Record<string, string>;
  iconKey: string;
  criteria: MedalCriteria;
  reward: MedalReward;
  sortOrder: number;
}

/** What the records say about a user, as far as medals care. */
export interface MedalFacts {
  /** The longest daily-reward streak they reached. */
  bestStreak: number;
  /** Gifts sent (each gift item to each receiver; reversed gifts do not count). */
  giftsSent: number;
  /** Whether a store recharge was ever credited to them. */
  recharged: boolean;
  /** The highest VIP tier known: the current one, or one a purchase event just told of. */
  vipTier: number;
  wealthLevel: number;
  charmLevel: number;
}

export const NO_FACTS: MedalFacts = { bestStreak: 0, giftsSent: 0, recharged: false, vipTier: 0, wealthLevel: 0, charmLevel: 0 };

export function criteriaMet(criteria: MedalCriteria, facts: MedalFacts): boolean {
  switch (criteria.type) {
    case 'daily-streak':
      return facts.bestStreak >= criteria.days;
    case 'gifts-sent':
      return facts.giftsSent >= criteria.count;
    case 'first-recharge':
      return facts.recharged;
    case 'vip-tier':
      return facts.vipTier >= criteria.tier;
    case 'wealth-level':
      return facts.wealthLevel >= criteria.level;
    case 'charm-level':
      return facts.charmLevel >= criteria.level;
  }
}

/** The facts with what an event just told (an event never lowers a fact). */
export function withHint(facts: MedalFacts, hint: Partial<MedalFacts>): MedalFacts {
  return {
    bestStreak: Math.max(facts.bestStreak, hint.bestStreak ?? 0),
    giftsSent: Math.max(facts.giftsSent, hint.giftsSent ?? 0),
    recharged: facts.recharged || hint.recharged === true,
    vipTier: Math.max(facts.vipTier, hint.vipTier ?? 0),
    wealthLevel: Math.max(facts.wealthLevel, hint.wealthLevel ?? 0),
    charmLevel: Math.max(facts.charmLevel, hint.charmLevel ?? 0),
  };
}

/** The definitions a user now qualifies for and does not hold yet. */
export function medalsDue(definitions: readonly MedalDefinition[], held: ReadonlySet<string>, facts: MedalFacts): MedalDefinition[] {
  return definitions.filter((d) => !held.has(d.id) && criteriaMet(d.criteria, facts));
}

/** Slots a user may fill with medals on their profile. */
export const MIN_DISPLAY_SLOTS = 3;
export const MAX_DISPLAY_SLOTS = 5;

export type DisplayRefusal = { kind: 'too-many'; max: number } | { kind: 'duplicate'; medalId: string } | { kind: 'not-held'; medalIds: string[] };

/** Checks a display choice (order = slots 1..n): at most `max`, no repeats, only held medals. */
export function checkDisplayChoice(medalIds: readonly string[], held: ReadonlySet<string>, max: number): DisplayRefusal | null {
  if (medalIds.length > max) return { kind: 'too-many', max };
  const seen = new Set<string>();
  for (const id of medalIds) {
    if (seen.has(id)) return { kind: 'duplicate', medalId: id };
    seen.add(id);
  }
  const notHeld = medalIds.filter((id) => !held.has(id));
  return notHeld.length ? { kind: 'not-held', medalIds: notHeld } : null;
}

/** A medal id as the API takes it (the same shape the table's CHECK enforces). */
export const MEDAL_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;
