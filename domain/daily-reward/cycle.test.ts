import {
  DEFAULT_DAILY_REWARD_POLICY as policy,
  decideClaim,
  describeDailyReward,
  initialDailyRewardState,
  nextReminder,
  streakBreaksAt,
  summarizeDailyReward,
  validatePolicy,
  type DailyRewardState,
} from './cycle';

/** The pure rules, at the edges the workflow tests don't reach cheaply. */
const at = (iso: string) => Date.parse(iso);

function claimAt(state: DailyRewardState, iso: string): DailyRewardState {
  const decision = decideClaim(state, at(iso), policy);
  if (!decision.ok) throw new Error(`refused at ${iso}`);
  return decision.next;
}

describe('decideClaim', () => {
  it('counts days in the user zone across a DST change (New York, spring forward)', () => {
    let s = initialDailyRewardState('u', 'America/New_York');
    s = claimAt(s, '2026-03-07T23:30:00-05:00'); // Saturday evening
    // Sunday 8 March has 23 hours; 23:30 local on Sunday is still the next day.
    const sunday = decideClaim(s, at('2026-03-08T23:30:00-04:00'), policy);
    expect(sunday.ok && sunday.claim).toMatchObject({ date: '2026-03-08', day: 2, streak: 2 });
  });

  it('refuses a second claim on the same local date and says when the next one opens', () => {
    const s = claimAt(initialDailyRewardState('u', 'Asia/Kolkata'), '2026-11-26T10:00:00Z');
    const again = decideClaim(s, at('2026-11-26T18:29:59Z'), policy);
    expect(again).toEqual({ ok: false, reason: 'ALREADY_CLAIMED_TODAY', date: '2026-11-26', nextClaimAt: at('2026-11-26T18:30:00Z') });
    expect(decideClaim(s, at('2026-11-26T18:30:00Z'), policy).ok).toBe(true);
  });
});

describe('status and reminders', () => {
  it('shows a broken streak as day 0 / streak 0 with day 1 claimable', () => {
    let s = initialDailyRewardState('u', 'UTC');
    s = claimAt(s, '2026-11-01T10:00:00Z');
    s = claimAt(s, '2026-11-02T10:00:00Z');
    const status = describeDailyReward(s, at('2026-11-04T10:00:00Z'), policy);
    expect(status).toMatchObject({ streak: 0, currentDay: 0, claimable: { day: 1, streakReset: true }, streakBreaksAt: null });
  });

  it('schedules the reminder the lead time before the break, once per date', () => {
    const s = claimAt(initialDailyRewardState('u', 'UTC'), '2026-11-01T10:00:00Z');
    expect(streakBreaksAt(s)).toBe(at('2026-11-03T00:00:00Z'));
    expect(nextReminder(s, policy)).toEqual({ at: at('2026-11-02T20:00:00Z'), forDate: '2026-11-02', breaksAt: at('2026-11-03T00:00:00Z') });
    expect(nextReminder({ ...s, remindedFor: '2026-11-02' }, policy)).toBeNull();
    expect(nextReminder(initialDailyRewardState('u', 'UTC'), policy)).toBeNull();
  });

  it('summarises for support staff without personal data', () => {
    const s = claimAt(initialDailyRewardState('user-1', 'UTC'), '2026-11-01T10:00:00Z');
    expect(summarizeDailyReward(s)).toBe('day 1 of 7, streak 1, last claim 2026-11-01 (UTC), 0 cycles done, streak breaks 2026-11-03T00:00Z');
  });
});

describe('validatePolicy', () => {
  it('accepts the default table and refuses tables that break the product rules', () => {
    expect(validatePolicy(policy)).toEqual([]);
    expect(validatePolicy({ ...policy, coinsByDay: [10, 20, 30] })).toContain('coinsByDay needs 7 entries');
    expect(validatePolicy({ ...policy, coinsByDay: [10, 20, 30, 40, 50, 300, 150] })).toContain('day 7 must be the largest reward');
    expect(validatePolicy({ ...policy, coinsByDay: [10, 20, 30, 40, 50, 60.5, 150] })).toContain('coins must be positive integers');
  });
});
