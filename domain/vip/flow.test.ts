import { adoptRecord, applyPurchase, DEFAULT_VIP_POLICY, expired, initialVipState, nextVipStep, pendingReminders, reminderKey, summarizeVip, validateVipPolicy } from './flow';

const HOUR = 3_600_000;
const E = Date.UTC(2026, 1, 1, 12);
const bought = applyPurchase(initialVipState('u1'), { seq: 1, tier: 2, expiresAt: E });

describe('the vip flow rules', () => {
  it('takes a purchase, ignores an older one arriving late, and forgets reminders when the expiry moves', () => {
    expect(bought).toMatchObject({ tier: 2, expiresAt: E, seq: 1, purchases: 1 });
    const reminded = { ...bought, remindersSent: [reminderKey(E, 72)] };
    const renewed = applyPurchase(reminded, { seq: 3, tier: 2, expiresAt: E + 720 * HOUR });
    expect(renewed).toMatchObject({ seq: 3, expiresAt: E + 720 * HOUR, remindersSent: [] });
    expect(applyPurchase(renewed, { seq: 2, tier: 1, expiresAt: E })).toBe(renewed);
    expect(applyPurchase(reminded, { seq: 2, tier: 3, expiresAt: E })).toMatchObject({ tier: 3, remindersSent: [reminderKey(E, 72)] });
  });

  it('takes the record the expiry sweep resends, even without a purchase row, unless it is older or the same', () => {
    const fresh = initialVipState('u2');
    expect(applyPurchase(fresh, { seq: 0, tier: 1, expiresAt: E, resync: true })).toMatchObject({ tier: 1, expiresAt: E, seq: 0, purchases: 0 });
    expect(applyPurchase(fresh, { seq: 0, tier: 1, expiresAt: E })).toBe(fresh);
    expect(applyPurchase(bought, { seq: 1, tier: 2, expiresAt: E, resync: true })).toBe(bought);
    expect(applyPurchase({ ...bought, seq: 4 }, { seq: 3, tier: 2, expiresAt: E + HOUR, resync: true })).toMatchObject({ seq: 4, expiresAt: E });
  });

  it('waits for the 3-day reminder, then the 1-day one, then expires', () => {
    expect(nextVipStep(bought, E - 100 * HOUR, DEFAULT_VIP_POLICY)).toEqual({ kind: 'wait', until: E - 72 * HOUR });
    expect(nextVipStep(bought, E - 72 * HOUR, DEFAULT_VIP_POLICY)).toMatchObject({ kind: 'remind', reminder: { leadHours: 72 }, skipped: [] });
    const after72 = { ...bought, remindersSent: [reminderKey(E, 72)] };
    expect(nextVipStep(after72, E - 72 * HOUR, DEFAULT_VIP_POLICY)).toEqual({ kind: 'wait', until: E - 24 * HOUR });
    const after24 = { ...bought, remindersSent: [reminderKey(E, 72), reminderKey(E, 24)] };
    expect(nextVipStep(after24, E - HOUR, DEFAULT_VIP_POLICY)).toEqual({ kind: 'wait', until: E });
    expect(nextVipStep(after24, E, DEFAULT_VIP_POLICY)).toEqual({ kind: 'expire', expiresAt: E });
    expect(nextVipStep(expired(after24, E), E, DEFAULT_VIP_POLICY)).toEqual({ kind: 'idle' });
  });

  it('sends only the nearest reminder when several are due at once, and none at or after the expiry', () => {
    expect(nextVipStep(bought, E - 2 * HOUR, DEFAULT_VIP_POLICY)).toMatchObject({
      kind: 'remind', reminder: { leadHours: 24 }, skipped: [{ leadHours: 72 }],
    });
    expect(nextVipStep(bought, E + HOUR, DEFAULT_VIP_POLICY)).toEqual({ kind: 'expire', expiresAt: E });
  });

  it('adopts the record the expiry found unless it is older than the flow', () => {
    expect(adoptRecord(bought, { tier: 3, expiresAt: E + HOUR, seq: 2 })).toMatchObject({ tier: 3, expiresAt: E + HOUR, seq: 2 });
    expect(adoptRecord({ ...bought, seq: 5 }, { tier: 3, expiresAt: E + HOUR, seq: 2 })).toMatchObject({ seq: 5, expiresAt: E });
  });

  it('lists the reminders still to come and summarises without names', () => {
    expect(pendingReminders(E, E - 48 * HOUR, DEFAULT_VIP_POLICY)).toEqual([{ leadHours: 24, at: E - 24 * HOUR }]);
    expect(pendingReminders(null, E, DEFAULT_VIP_POLICY)).toEqual([]);
    expect(summarizeVip({ ...bought, remindersSent: [reminderKey(E, 72)] })).toBe('tier 2 until 2026-02-01T12:00:00.000Z; 1 purchase (last #1); reminded: 72h');
    expect(summarizeVip(expired(bought, E))).toBe('not VIP (ended 2026-02-01T12:00:00.000Z); 1 purchase (last #1)');
  });

  it('validates the policy', () => {
    expect(validateVipPolicy(DEFAULT_VIP_POLICY)).toEqual([]);
    expect(validateVipPolicy({ reminderLeadHours: [0, 24, 24], maxSignalsPerRun: 0 })).toHaveLength(3);
  });
});
