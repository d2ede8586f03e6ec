/**
 * What others see of a user's status beside their name: on the profile, on a mic seat, in the
 * member list and on chat lines. Pure rules; PostgreSQL holds the facts.
 */

/** A user's badges as rooms show them (snapshot `users` map, member list `badges`). */
export interface UserBadges {
  /** 0 when the user has no VIP now. */
  vipTier: number;
  wealthLevel: number;
  charmLevel: number;
  /** The open CP pair's other user, if any. */
  cpPartnerId: string | null;
}

/** The stored facts badges are read from: a cache may keep these a few seconds. */
export interface BadgeFacts {
  vipTier: number;
  /** Epoch ms; null when the user never had, or no longer has, VIP. */
  vipExpiresAtMs: number | null;
  wealthLevel: number;
  charmLevel: number;
  cpPartnerId: string | null;
}

/**
 * The VIP tier others see at `nowMs`: the stored tier only while its expiry is ahead. The VIP
 * flow clears the tier at the expiry; reading the expiry as well means a badge never outlives
 * it, even when that clearing is late or the facts come from a cache.
 */
export function visibleVipTier(tier: number, expiresAtMs: number | null, nowMs: number): number {
  if (tier <= 0 || expiresAtMs === null) return 0;
  return expiresAtMs > nowMs ? tier : 0;
}

export function badgesAt(facts: BadgeFacts, nowMs: number): UserBadges {
  return {
    vipTier: visibleVipTier(facts.vipTier, facts.vipExpiresAtMs, nowMs),
    wealthLevel: facts.wealthLevel,
    charmLevel: facts.charmLevel,
    cpPartnerId: facts.cpPartnerId,
  };
}

/** Badges of a user with nothing to show (also for an id with no user behind it). */
export const NO_BADGES: UserBadges = Object.freeze({ vipTier: 0, wealthLevel: 0, charmLevel: 0, cpPartnerId: null });
