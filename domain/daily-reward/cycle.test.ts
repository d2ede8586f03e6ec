import { localDate } from '../calendar';
import {
  DEFAULT_DAILY_REWARD_POLICY as policy,
  applyProfile,
  decideClaim,
  lastRewardDay,
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

const EAST = 'Pacific/Kiritimati'; // UTC+14, the easternmost zone
const WEST = 'Etc/GMT+12'; // UTC-12, the westernmost
const zoned = (s: DailyRewardState, timeZone: string) => applyProfile(s, { timeZone });

describe('a zone change never pays twice in one real day', () => {
  it('flipping east right after a claim: the claim instant is already "today" in the new zone', () => {
    const s = claimAt(initialDailyRewardState('u', 'UTC'), '2026-11-26T23:30:00Z');
    const east = zoned(s, EAST);
    expect(lastRewardDay(east)).toBe('2026-11-27'); // 13:30 on the 27th in UTC+14
    expect(decideClaim(east, at('2026-11-26T23:45:00Z'), policy)).toMatchObject({ ok: false, nextClaimAt: at('2026-11-27T10:00:00Z') });
    const next = decideClaim(east, at('2026-11-27T10:00:00Z'), policy);
    expect(next.ok && next.claim).toMatchObject({ date: '2026-11-28', day: 2, streak: 2 });
  });

  it('flipping west right after a claim: the date recorded at the claim still counts', () => {
    const s = claimAt(initialDailyRewardState('u', EAST), '2026-11-26T09:00:00Z'); // 23:00 on the 26th in UTC+14
    const west = zoned(s, WEST);
    // 3 h later it is midnight starting the 26th in UTC-12: a new local date, but not a new day.
    expect(decideClaim(west, at('2026-11-26T12:00:00Z'), policy)).toMatchObject({ ok: false, nextClaimAt: at('2026-11-27T12:00:00Z') });
    const next = decideClaim(west, at('2026-11-27T12:00:00Z'), policy);
    expect(next.ok && next.claim).toMatchObject({ date: '2026-11-27', day: 2, streak: 2 });
  });

  // West to east: a greedy adversary trying them in this order claims late in a western day and
  // then at once in an eastern one, the sequence a date-only rule would pay twice.
  const westToEast = [WEST, 'America/Los_Angeles', 'UTC', 'Asia/Kolkata', 'Asia/Tokyo', EAST];
  let seed = 12345; // a fixed LCG, so a failure is reproducible
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const adversaries: [string, (step: number) => string[]][] = [
    ['greedy, west to east', () => westToEast],
    ['one random zone per try', () => [westToEast[Math.floor(random() * westToEast.length)]!]],
  ];

  it.each(adversaries)('an adversary switching zones every 30 minutes for 21 days (%s) gets at most days + 2 claims, never two on one local date', (_name, zonesToTry) => {
    const start = at('2026-11-01T00:00:00Z');
    const days = 21;
    let s = initialDailyRewardState('u', 'UTC');
    const claims: { at: number; zone: string; date: string }[] = [];
    for (let t = start, step = 0; t < start + days * 86_400_000; t += 30 * 60_000, step++) {
      for (const zone of zonesToTry(step)) {
        const decision = decideClaim(zoned(s, zone), t, policy);
        if (decision.ok) {
          s = decision.next;
          claims.push({ at: t, zone, date: decision.claim.date });
          break;
        }
      }
    }
    expect(claims.length).toBeLessThanOrEqual(days + 2);
    for (let i = 1; i < claims.length; i++) {
      const [prev, cur] = [claims[i - 1]!, claims[i]!];
      expect(cur.date > prev.date).toBe(true); // recorded dates only go forward
      expect(localDate(prev.at, cur.zone) < cur.date).toBe(true); // never two on one date of the later claim's zone
    }
  });

  it('staying in one zone keeps the plain calendar rule: 23:59 and 00:01 are two days', () => {
    const s = claimAt(initialDailyRewardState('u', 'Asia/Kolkata'), '2026-11-26T18:29:00Z'); // 23:59 local
    const next = decideClaim(s, at('2026-11-26T18:31:00Z'), policy); // 00:01 local
    expect(next.ok && next.claim).toMatchObject({ date: '2026-11-27', day: 2, streak: 2 });
  });
});

describe('travellers', () => {
  it('flying east (Los Angeles to Tokyo): the next claim opens at the next Tokyo midnight and the streak lasts the whole local day after it', () => {
    const s = claimAt(initialDailyRewardState('u', 'America/Los_Angeles'), '2026-11-26T16:00:00Z'); // 08:00 on the 26th in LA
    const tokyo = zoned(s, 'Asia/Tokyo'); // that instant was 01:00 on the 27th in Tokyo
    expect(decideClaim(tokyo, at('2026-11-27T14:59:00Z'), policy).ok).toBe(false);
    const next = decideClaim(tokyo, at('2026-11-27T15:00:00Z'), policy); // 00:00 on the 28th in Tokyo, 23 h later
    expect(next.ok && next.claim).toMatchObject({ date: '2026-11-28', day: 2, streak: 2, streakReset: false });
    expect(streakBreaksAt(tokyo)).toBe(at('2026-11-28T15:00:00Z')); // 00:00 on the 29th in Tokyo
    const late = decideClaim(tokyo, at('2026-11-28T14:59:00Z'), policy);
    expect(late.ok && late.claim).toMatchObject({ streak: 2, streakReset: false });
  });

  it('flying west (Tokyo to Los Angeles): waits for the LA date to pass the date claimed, and keeps the streak through the day after', () => {
    const s = claimAt(initialDailyRewardState('u', 'Asia/Tokyo'), '2026-11-25T23:00:00Z'); // 08:00 on the 26th in Tokyo
    const la = zoned(s, 'America/Los_Angeles');
    expect(decideClaim(la, at('2026-11-26T10:00:00Z'), policy)).toMatchObject({ ok: false, nextClaimAt: at('2026-11-27T08:00:00Z') });
    expect(streakBreaksAt(la)).toBe(at('2026-11-28T08:00:00Z'));
    const next = decideClaim(la, at('2026-11-28T07:59:00Z'), policy);
    expect(next.ok && next.claim).toMatchObject({ date: '2026-11-27', day: 2, streak: 2, streakReset: false });
  });
});

describe('applyProfile', () => {
  it('takes a newer profile, ignores an older one and an invalid zone', () => {
    const s = applyProfile(initialDailyRewardState('u', 'UTC'), { timeZone: 'Asia/Tokyo', profileVersion: 200 });
    expect(s).toMatchObject({ timeZone: 'Asia/Tokyo', profileVersion: 200 });
    expect(applyProfile(s, { timeZone: 'UTC', profileVersion: 100 })).toBe(s);
    expect(applyProfile(s, { timeZone: 'Not/AZone', profileVersion: 300 })).toBe(s);
    expect(applyProfile(s, { timeZone: 'Europe/Paris', profileVersion: 300 })).toMatchObject({ timeZone: 'Europe/Paris', profileVersion: 300 });
    expect(applyProfile(s, { timeZone: 'Europe/Paris' })).toMatchObject({ timeZone: 'Europe/Paris', profileVersion: 200 });
  });

  it('leaves a state recorded before claims kept their instant on the recorded date alone', () => {
    const { lastClaimAt: _dropped, ...old } = claimAt(initialDailyRewardState('u', 'UTC'), '2026-11-26T23:30:00Z');
    expect(lastRewardDay(zoned(old, EAST))).toBe('2026-11-26');
    expect(decideClaim(old, at('2026-11-27T00:00:00Z'), policy).ok).toBe(true);
  });
});

describe('status and reminders', () => {
  it('re-aims the reminder at the new zone: the streak breaks at its midnight after the last reward day', () => {
    const s = claimAt(initialDailyRewardState('u', 'UTC'), '2026-11-01T10:00:00Z');
    expect(nextReminder(zoned(s, 'Asia/Kolkata'), policy)).toEqual({
      at: at('2026-11-02T14:30:00Z'),
      forDate: '2026-11-02',
      breaksAt: at('2026-11-02T18:30:00Z'),
    });
  });

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
