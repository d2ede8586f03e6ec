/**
 * What a referred user (the referee) must do within the referral window for the referrer and
 * the referee to be paid, and the flow's bookkeeping. Pure: the workflow sequences these rules,
 * the activity reads the records they are measured on.
 *
 * Milestones, each measured on PostgreSQL's records from the referee's sign-up to the end of the
 * window (never after):
 * - `active-days`: signed in on 3 distinct days. A day counts when a session of the referee got a
 *   refresh token that day (the sign-in itself, or a token refresh: an app in use refreshes every
 *   15 minutes), in the referee's profile time zone.
 * - `first-recharge`: a store recharge credited (a ledger entry with reason `recharge`).
 * - `streak-7`: a daily reward claimed with a streak of 7 or more (seven consecutive reward days,
 *   as the daily-reward flow counts them).
 */
export const REFERRAL_MILESTONES = ['active-days', 'first-recharge', 'streak-7'] as const;
export type ReferralMilestone = (typeof REFERRAL_MILESTONES)[number];

export const ACTIVE_DAYS_REQUIRED = 3;
export const STREAK_REQUIRED = 7;

export interface MilestoneReward {
  milestone: ReferralMilestone;
  referrerCoins: number;
  refereeCoins: number;
}

/** Carried in the flow's input, so a flow pays what was announced when its referee signed up. */
export interface ReferralPolicy {
  /** How often the flow re-reads the records without a nudge (a lost nudge still pays). */
  checkEveryMs: number;
  /** After a failed check or payout (the ledger down), the first wait before trying again; doubles up to checkEveryMs. */
  retryAfterMs: number;
  rewards: MilestoneReward[];
}

export const DEFAULT_REFERRAL_REWARDS: MilestoneReward[] = [
  { milestone: 'active-days', referrerCoins: 100, refereeCoins: 50 },
  { milestone: 'first-recharge', referrerCoins: 300, refereeCoins: 100 },
  { milestone: 'streak-7', referrerCoins: 200, refereeCoins: 100 },
];

/** Rewards from the two configured lists (coins in milestone order). */
export function rewardsFrom(referrerCoins: readonly number[], refereeCoins: readonly number[]): MilestoneReward[] {
  return REFERRAL_MILESTONES.map((milestone, i) => ({ milestone, referrerCoins: referrerCoins[i] ?? 0, refereeCoins: refereeCoins[i] ?? 0 }));
}

export function validateReferralPolicy(policy: ReferralPolicy): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(policy.checkEveryMs) || policy.checkEveryMs < 60_000) problems.push('checkEveryMs must be at least a minute');
  if (!Number.isInteger(policy.retryAfterMs) || policy.retryAfterMs < 1_000) problems.push('retryAfterMs must be at least a second');
  const seen = new Set<string>();
  for (const r of policy.rewards) {
    if (!(REFERRAL_MILESTONES as readonly string[]).includes(r.milestone)) problems.push(`unknown milestone ${r.milestone}`);
    if (seen.has(r.milestone)) problems.push(`milestone ${r.milestone} twice`);
    seen.add(r.milestone);
    for (const coins of [r.referrerCoins, r.refereeCoins]) {
      if (!Number.isSafeInteger(coins) || coins < 0) problems.push(`coins for ${r.milestone} must be whole and not negative`);
    }
  }
  return problems;
}

/** Each side's ledger key: one credit per referee, milestone and side, ever. */
export function referralPayoutKey(refereeId: string, milestone: ReferralMilestone, side: 'referrer' | 'referee'): string {
  return `referral:${refereeId}:${milestone}:${side}`;
}

export function referralWorkflowId(refereeId: string): string {
  return `referral:${refereeId}`;
}

/** What the records say the referee has done within the window. */
export interface MilestoneFacts {
  activeDays: number;
  recharged: boolean;
  longestStreak: number;
}

export function milestonesReached(facts: MilestoneFacts): ReferralMilestone[] {
  return REFERRAL_MILESTONES.filter((m) => {
    switch (m) {
      case 'active-days':
        return facts.activeDays >= ACTIVE_DAYS_REQUIRED;
      case 'first-recharge':
        return facts.recharged;
      case 'streak-7':
        return facts.longestStreak >= STREAK_REQUIRED;
    }
  });
}

/** Milestones reached and not yet paid, in the policy's order (each paid once). */
export function payoutsDue(policy: ReferralPolicy, reached: readonly ReferralMilestone[], paid: readonly ReferralMilestone[]): MilestoneReward[] {
  return policy.rewards.filter((r) => reached.includes(r.milestone) && !paid.includes(r.milestone));
}

export function allPaid(policy: ReferralPolicy, paid: readonly ReferralMilestone[]): boolean {
  return policy.rewards.every((r) => paid.includes(r.milestone));
}

/** The wait before the next look at the records: the regular period, or a backoff after failures, never past the window. */
export function nextCheckInMs(policy: ReferralPolicy, failedRounds: number, nowMs: number, windowEndsAt: number): number {
  const regular = failedRounds === 0 ? policy.checkEveryMs : Math.min(policy.checkEveryMs, policy.retryAfterMs * 2 ** Math.min(failedRounds - 1, 20));
  return Math.max(0, Math.min(regular, windowEndsAt - nowMs));
}

export interface ReferralFlowState {
  paid: ReferralMilestone[];
  checks: number;
  /** Consecutive checks or payouts that failed (reset by a good one). */
  failedRounds: number;
  nudges: number;
}

export function initialReferralState(): ReferralFlowState {
  return { paid: [], checks: 0, failedRounds: 0, nudges: 0 };
}

/** One line for support (memo and current details): counts and instants only. */
export function summarizeReferral(policy: ReferralPolicy, state: ReferralFlowState, windowEndsAt: number, ended?: 'completed' | 'expired'): string {
  const paid = `${state.paid.length} of ${policy.rewards.length} milestones paid${state.paid.length ? ` (${state.paid.join(', ')})` : ''}`;
  const end = ended ? `ended: ${ended}` : `window ends ${new Date(windowEndsAt).toISOString()}`;
  return `referral: ${paid}; ${end}; ${state.checks} checks, ${state.nudges} nudges${state.failedRounds ? `, ${state.failedRounds} failed round(s)` : ''}`;
}
