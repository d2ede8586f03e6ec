import { addDays, isValidTimeZone, localDate, startOfLocalDay, type IsoDate } from '../calendar';

/**
 * The daily-reward rules, pure. The workflow applies them to its state; the API applies
 * the same functions to a status snapshot so "today" is always the caller's real today.
 *
 * The user's time zone can change between claims (PATCH /v1/me, or travel). The rule that keeps
 * a zone change from paying twice in one real day, in the zone the user is in NOW:
 *
 *   the last reward day is the later of the date recorded at the last claim and the date of the
 *   last claim's instant read in the current zone; a claim is allowed once the current local
 *   date is after it, and the streak continues while the current local date is at most the
 *   day after it.
 *
 * So no two claims ever fall on one local date of the zone of the later claim, and recorded
 * claim dates only go forward. Flipping west (UTC+14 to UTC-12) cannot reopen a day already
 * claimed, because the recorded date still counts; flipping east cannot either, because the
 * last claim's instant, read in the eastern zone, is already "today" there. A traveller is
 * never cut short: flying east, the next claim opens at the next local midnight where they are
 * (a day shortened by the flight, exactly as for a resident) and the streak lasts a whole local
 * day after it; flying west, the next claim waits until the new zone's date passes the date
 * they last claimed on, and the streak is kept for the whole of the day after that. Over any
 * span, claims can exceed elapsed days by at most two (the 26 h between the extreme zones),
 * once, not per flip: gaining by moving east is paid back by moving west.
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
  /** When the last claim happened (epoch ms); absent in states from before zone changes reached the flow. */
  lastClaimAt?: number | null;
  /** The profile version (its `updated_at`, epoch ms) the time zone came from; an older one never overrides it. */
  profileVersion?: number | null;
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
    lastClaimAt: null,
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

/** The profile facts the flow follows: the user's time zone, and which version of the profile it came from. */
export interface ProfileFacts {
  timeZone: string;
  /** The profile's `updated_at` (epoch ms); omitted, the facts apply whatever the flow holds. */
  profileVersion?: number | null;
}

/**
 * The state with the profile's current zone, unless the flow already holds a newer version of
 * the profile (a claim that read the user before a PATCH /me must not undo it). An invalid zone
 * is ignored: the API validates zones, and the flow must never be stuck on one it can't read.
 */
export function applyProfile(state: DailyRewardState, facts: ProfileFacts): DailyRewardState {
  if (!isValidTimeZone(facts.timeZone)) return state;
  const held = state.profileVersion ?? null;
  const offered = facts.profileVersion ?? null;
  if (held !== null && offered !== null && offered < held) return state;
  if (facts.timeZone === state.timeZone && (offered === null || offered === held)) return state;
  return { ...state, timeZone: facts.timeZone, profileVersion: offered ?? held };
}

/**
 * The last reward day in the current zone: the later of the date recorded at the last claim and
 * the last claim's instant read in the current zone (see the rule at the top). Null before the first claim.
 */
export function lastRewardDay(state: DailyRewardState): IsoDate | null {
  if (state.lastClaimDate === null) return null;
  if (state.lastClaimAt === undefined || state.lastClaimAt === null) return state.lastClaimDate;
  const reread = localDate(state.lastClaimAt, state.timeZone);
  return reread > state.lastClaimDate ? reread : state.lastClaimDate;
}

/** Whether the streak is still alive at `today`: the last reward day was today or yesterday. */
function streakAlive(state: DailyRewardState, today: IsoDate): boolean {
  const last = lastRewardDay(state);
  return last !== null && last >= addDays(today, -1);
}

/** What a claim at `nowMs` would do: the day it pays, or why it is refused. */
export function decideClaim(state: DailyRewardState, nowMs: number, policy: DailyRewardPolicy): ClaimDecision {
  const today = localDate(nowMs, state.timeZone);
  const last = lastRewardDay(state);
  if (last !== null && last >= today) {
    return {
      ok: false,
      reason: 'ALREADY_CLAIMED_TODAY',
      date: today,
      nextClaimAt: startOfLocalDay(addDays(last, 1), state.timeZone),
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
      lastClaimAt: nowMs,
      cyclesCompleted: state.cyclesCompleted + (day === CYCLE_LENGTH ? 1 : 0),
      totalClaims: state.totalClaims + 1,
    },
  };
}

/** The instant the streak breaks if nobody claims: the start of the second local day after the last reward day. */
export function streakBreaksAt(state: DailyRewardState): number | null {
  const last = lastRewardDay(state);
  if (last === null) return null;
  return startOfLocalDay(addDays(last, 2), state.timeZone);
}

/** When to remind the user about an unclaimed reward, and which day it is about; null if nothing is at stake. */
export function nextReminder(
  state: DailyRewardState,
  policy: DailyRewardPolicy,
): { at: number; forDate: IsoDate; breaksAt: number } | null {
  const breaksAt = streakBreaksAt(state);
  const last = lastRewardDay(state);
  if (breaksAt === null || last === null) return null;
  const forDate = addDays(last, 1);
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
