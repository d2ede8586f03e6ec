import { publicReason, REFUSAL_REASONS } from './attribution';
import { INVITE_CODE_ALPHABET, INVITE_CODE_LENGTH, inviteLink, newInviteCode, normalizeInviteCode, STORED_INVITE_CODE } from './codes';
import {
  DEFAULT_REFERRAL_REWARDS,
  allPaid,
  milestonesReached,
  nextCheckInMs,
  payoutsDue,
  referralPayoutKey,
  rewardsFrom,
  summarizeReferral,
  validateReferralPolicy,
  type ReferralPolicy,
} from './milestones';
import { networkOf } from './network';

const HOUR = 3_600_000;
const policy: ReferralPolicy = { checkEveryMs: 12 * HOUR, retryAfterMs: 60_000, rewards: DEFAULT_REFERRAL_REWARDS };

describe('invite codes', () => {
  it('draws codes from an alphabet without look-alikes, in the stored form', () => {
    for (const confusable of '0OQD1IL2Z5S8BUV') expect(INVITE_CODE_ALPHABET).not.toContain(confusable);
    let i = 0;
    const code = newInviteCode((n) => i++ % n);
    expect(code).toHaveLength(INVITE_CODE_LENGTH);
    expect(code).toMatch(STORED_INVITE_CODE);
    expect(newInviteCode(() => 0)).toBe('AAAAAAAA');
  });

  it('reads typed codes case-insensitively, without dashes; impossible forms name nobody', () => {
    expect(normalizeInviteCode('acef-3467')).toBe('ACEF3467');
    expect(normalizeInviteCode('AB-1')).toBeNull();
    expect(normalizeInviteCode('A'.repeat(13))).toBeNull();
    expect(inviteLink('aura.app/', 'ACEF3467')).toBe('https://aura.app/i/ACEF3467');
  });
});

describe('networks', () => {
  it('is the /24 of an IPv4 address, also in its IPv4-mapped IPv6 form', () => {
    expect(networkOf('203.0.113.77')).toEqual({ cidr: '203.0.113.0/24', mappedCidr: '::ffff:203.0.113.0/120' });
    expect(networkOf('::ffff:203.0.113.77')).toEqual(networkOf('203.0.113.1'));
    expect(networkOf('300.1.1.1')).toBeNull();
  });

  it('is the /64 of an IPv6 address, however it is written', () => {
    expect(networkOf('2001:db8:1:2:aaaa:bbbb:cccc:dddd')?.cidr).toBe('2001:db8:1:2::/64');
    expect(networkOf('2001:db8:1:2::1')?.cidr).toBe('2001:db8:1:2::/64');
    expect(networkOf('2001:db8::1')?.cidr).toBe('2001:db8:0:0::/64');
    expect(networkOf('fe80::1%eth0')?.cidr).toBe('fe80:0:0:0::/64');
    expect(networkOf('::1')?.cidr).toBe('0:0:0:0::/64');
    for (const bad of ['', 'localhost', '1::2::3', '12345::1', '1:2:3:4:5:6:7:8:9']) expect(networkOf(bad)).toBeNull();
    expect(networkOf(undefined)).toBeNull();
  });
});

describe('milestones', () => {
  it('are reached at 3 sign-in days, a recharge, a streak of 7', () => {
    expect(milestonesReached({ activeDays: 2, recharged: false, longestStreak: 6 })).toEqual([]);
    expect(milestonesReached({ activeDays: 3, recharged: true, longestStreak: 7 })).toEqual(['active-days', 'first-recharge', 'streak-7']);
    expect(milestonesReached({ activeDays: 0, recharged: false, longestStreak: 9 })).toEqual(['streak-7']);
  });

  it('pays what is reached and unpaid, in order, once', () => {
    expect(payoutsDue(policy, ['streak-7', 'active-days'], []).map((r) => r.milestone)).toEqual(['active-days', 'streak-7']);
    expect(payoutsDue(policy, ['streak-7', 'active-days'], ['active-days']).map((r) => r.milestone)).toEqual(['streak-7']);
    expect(allPaid(policy, ['streak-7', 'active-days', 'first-recharge'])).toBe(true);
    expect(allPaid(policy, ['streak-7'])).toBe(false);
    expect(referralPayoutKey('u1', 'streak-7', 'referee')).toBe('referral:u1:streak-7:referee');
  });

  it('looks again every period, backs off after failures, never past the window', () => {
    const now = 1_000_000;
    expect(nextCheckInMs(policy, 0, now, now + 100 * HOUR)).toBe(12 * HOUR);
    expect(nextCheckInMs(policy, 1, now, now + 100 * HOUR)).toBe(60_000);
    expect(nextCheckInMs(policy, 3, now, now + 100 * HOUR)).toBe(240_000);
    expect(nextCheckInMs(policy, 50, now, now + 100 * HOUR)).toBe(12 * HOUR);
    expect(nextCheckInMs(policy, 0, now, now + HOUR)).toBe(HOUR);
    expect(nextCheckInMs(policy, 0, now, now - 1)).toBe(0);
  });

  it('validates the configured policy', () => {
    expect(validateReferralPolicy(policy)).toEqual([]);
    expect(validateReferralPolicy({ ...policy, rewards: rewardsFrom([1, 2, 3], [4, 5, 6]) })).toEqual([]);
    expect(validateReferralPolicy({ ...policy, checkEveryMs: 1 })).not.toEqual([]);
    expect(validateReferralPolicy({ ...policy, rewards: [...policy.rewards, policy.rewards[0]!] })).not.toEqual([]);
    expect(validateReferralPolicy({ ...policy, rewards: [{ milestone: 'active-days', referrerCoins: -1, refereeCoins: 0 }] })).not.toEqual([]);
  });

  it('sums the flow up in one line without personal data', () => {
    const line = summarizeReferral(policy, { paid: ['streak-7'], checks: 4, failedRounds: 1, nudges: 2 }, Date.UTC(2026, 0, 31));
    expect(line).toBe('referral: 1 of 3 milestones paid (streak-7); window ends 2026-01-31T00:00:00.000Z; 4 checks, 2 nudges, 1 failed round(s)');
  });
});

describe('refusals', () => {
  it('tells the client a coarse reason for the fraud rules', () => {
    expect(REFUSAL_REASONS.map(publicReason)).toEqual(['unknown_code', 'self', 'not_new_user', 'already_attributed', 'ineligible', 'ineligible', 'too_many_attempts']);
  });
});
