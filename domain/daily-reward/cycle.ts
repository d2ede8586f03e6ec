import { addDays, localDate, startOfLocalDay, type IsoDate } from '../calendar';

/**
 * The daily-reward rules, pure. The workflow applies them to its state; the API applies
 * the same functions to a status snapshot so "today" is always the caller's real today.
 */
export const CYCLE_LENGTH = 7;

export interface DailyRewardPolicy {
  /** Coins for days 1..7; day 7 is the largest. */
  coinsByDay: number[];
  /** How many hours before the streak breaks the reminder goes out. */
  reminderLeadHours: number;
  /** Claims one workflow run accepts before it continues as new (keeps history small). */
  maxClaimsPerRun: number;
}

export const DEFAULT_DAILY_REWARD_POLICY: DailyRewardPolicy = {
  coinsByDay: [10, 20, 30, 40, 50, 60, 150],
  reminderLeadHours: 4,
  maxClaimsPerRun: 100,
};

export function validatePolicy(policy: DailyRewardPolicy): string[] {
  const problems: string[] = [];
  const table = policy.coinsByDay;
  if (table.length !== CYCLE_LENGTH) problems.push(`coinsByDay needs ${CYCLE_LENGTH} entries`);
  if (!table.every((c) => Number.isSafeInteger(c) && c > 0)) problems.push('coins must be positive integers');
  const last = table[CYCLE_LENGTH - 1] ?? 0;
  if (table.slice(0, -1).some((c) => c >= last)) problems.push('day 7 must be the largest reward');
  if (!(policy.reminderLeadHours >= 1 && policy.reminderLeadHours <= 23)) problems.push('reminderLeadHours in 1..23');
  if (!(policy.maxClaimsPerRun >= 1)) problems.push('maxClaimsPerRun must be at least 1');
  return problems;
}

/** Workflow state; plain JSON so it survives continue-as-new unchanged. */
export interface DailyRewardState {
  userId: string;
  timeZone: string;
  /** Day of the cycle claimed last (1..7); 0 before the first claim. */
  currentDay: number;
  /** Consecutive days claimed; 0 once broken. */
  streak: number;
  lastClaimDate: IsoDate | null;
  cyclesCompleted: number;
  totalClaims: number;
  /** The local date whose unclaimed reward was last reminded about. */
  remindedFor: IsoDate | null;
}

export function initialDailyRewardState(userId: string, timeZone: string): DailyRewardState {
  return {
    userId,
    timeZone,
    currentDay: 0,
    streak: 0,
    lastClaimDate: null,
    cyclesCompleted: 0,
    totalClaims: 0,
    remindedFor: null,
  };
}

export interface DailyRewardClaim {
  date: IsoDate;
  day: number;
  coins: number;
  streak: number;
  /** True when a missed day reset the cycle and streak before this claim. */
  streakReset: boolean;
}

export type ClaimDecision =
  | { ok: true; claim: DailyRewardClaim; next: DailyRewardState }
  | { ok: false; reason: 'ALREADY_CLAIMED_TODAY'; date: IsoDate; nextClaimAt: number };

export function dailyRewardIdempotencyKey(userId: string, date: IsoDate): string {
  return `daily-reward:${userId}:${date}`;
}

/** Whether the streak is still alive at `today`: the last claim was today or yesterday. */
function streakAlive(state: DailyRewardState, today: IsoDate): boolean {
  return state.lastClaimDate !== null && state.lastClaimDate >= addDays(today, -1);
}

/** What a claim at `nowMs` would do: the day it pays, or why it is refused. */
export function decideClaim(state: DailyRewardState, nowMs: number, policy: DailyRewardPolicy): ClaimDecision {
  const today = localDate(nowMs, state.timeZone);
  if (state.lastClaimDate !== null && state.lastClaimDate >= today) {
    return {
      ok: false,
      reason: 'ALREADY_CLAIMED_TODAY',
      date: today,
      nextClaimAt: startOfLocalDay(addDays(today, 1), state.timeZone),
    };
  }
  const continues = streakAlive(state, today);
  const day = continues ? (state.currentDay % CYCLE_LENGTH) + 1 : 1;
  const streak = (continues ? state.streak : 0) + 1;
  const coins = policy.coinsByDay[day - 1];
  if (coins === undefined) throw new RangeError(`no reward configured for day ${day}`);
  return {
    ok: true,
    claim: { date: today, day, coins, streak, streakReset: state.lastClaimDate !== null && !continues },
    next: {
      ...state,
      currentDay: day,
      streak,
      lastClaimDate: today,
      cyclesCompleted: state.cyclesCompleted + (day === CYCLE_LENGTH ? 1 : 0),
      totalClaims: state.totalClaims + 1,
    },
  };
}

/** The instant the streak breaks if nobody claims: the start of the day after tomorrow's claim day. */
export function streakBreaksAt(state: DailyRewardState): number | null {
  if (state.lastClaimDate === null) return null;
  return startOfLocalDay(addDays(state.lastClaimDate, 2), state.timeZone);
}

/** When to remind the user about an unclaimed reward, and which day it is about; null if nothing is at stake. */
export function nextReminder(
  state: DailyRewardState,
  policy: DailyRewardPolicy,
): { at: number; forDate: IsoDate; breaksAt: number } | null {
  const breaksAt = streakBreaksAt(state);
  if (breaksAt === null || state.lastClaimDate === null) return null;
  const forDate = addDays(state.lastClaimDate, 1);
  if (state.remindedFor === forDate) return null;
  return { at: breaksAt - policy.reminderLeadHours * 3_600_000, forDate, breaksAt };
}

export interface DailyRewardStatus {
  today: IsoDate;
  timeZone: string;
  claimedToday: boolean;
  /** What a claim now would pay, or null if today is already claimed. */
  claimable: { day: number; coins: number; streakAfter: number; streakReset: boolean } | null;
  currentDay: number;
  streak: number;
  cyclesCompleted: number;
  totalClaims: number;
  lastClaimDate: IsoDate | null;
  nextClaimAt: number | null;
  streakBreaksAt: number | null;
  table: { day: number; coins: number }[];
}

/** The status a user sees at `nowMs`; a missed day already shows as a broken streak. */
export function describeDailyReward(
  state: DailyRewardState,
  nowMs: number,
  policy: DailyRewardPolicy,
): DailyRewardStatus {
  const decision = decideClaim(state, nowMs, policy);
  const today = localDate(nowMs, state.timeZone);
  const alive = streakAlive(state, today);
  return {
    today,
    timeZone: state.timeZone,
    claimedToday: !decision.ok,
    claimable: decision.ok
      ? {
          day: decision.claim.day,
          coins: decision.claim.coins,
          streakAfter: decision.claim.streak,
          streakReset: decision.claim.streakReset,
        }
      : null,
    currentDay: alive ? state.currentDay : 0,
    streak: alive ? state.streak : 0,
    cyclesCompleted: state.cyclesCompleted,
    totalClaims: state.totalClaims,
    lastClaimDate: state.lastClaimDate,
    nextClaimAt: decision.ok ? null : decision.nextClaimAt,
    streakBreaksAt: alive ? streakBreaksAt(state) : null,
    table: policy.coinsByDay.map((coins, i) => ({ day: i + 1, coins })),
  };
}

/** One line for support staff in the Temporal Web UI. No personal data. */
export function summarizeDailyReward(state: DailyRewardState): string {
  if (state.lastClaimDate === null) return 'no claim yet';
  const breaks = streakBreaksAt(state);
  const breaksText = breaks === null ? '' : `, streak breaks ${new Date(breaks).toISOString().slice(0, 16)}Z`;
  return (
    `day ${state.currentDay} of ${CYCLE_LENGTH}, streak ${state.streak}, last claim ${state.lastClaimDate} ` +
    `(${state.timeZone}), ${state.cyclesCompleted} cycles done${breaksText}`
  );
}
