import { receiptsFundedByPurchase } from './clawback';
import {
  count,
  initialSettlementState,
  isUtcDay,
  settlementDueAt,
  settlementRetryDelayMs,
  summarizeSettlement,
  utcDayBounds,
  utcMinute,
  type ReceiverDayTotals,
} from './settlement';

const totals = (over: Partial<ReceiverDayTotals> = {}): ReceiverDayTotals => ({
  pending: { receipts: 0, diamonds: 0, latestHoldUntil: null },
  held: { receipts: 0, diamonds: 0 },
  settled: { receipts: 0, diamonds: 0 },
  reversed: { receipts: 0, diamonds: 0 },
  ...over,
});

describe('settlement days', () => {
  it('accepts only real calendar days', () => {
    expect(isUtcDay('2026-12-02')).toBe(true);
    expect(isUtcDay('2028-02-29')).toBe(true);
    for (const bad of ['2026-02-29', '2026-13-01', '2026-12-2', '2026-12-02T00:00:00Z', '']) expect(isUtcDay(bad)).toBe(false);
    expect(() => utcDayBounds('2026-02-30')).toThrow(RangeError);
  });

  it('settles at the end of the UTC day plus the hold', () => {
    expect(utcDayBounds('2026-12-02')).toEqual({ startMs: Date.parse('2026-12-02T00:00:00Z'), endMs: Date.parse('2026-12-03T00:00:00Z') });
    expect(settlementDueAt('2026-12-02', 72)).toBe(Date.parse('2026-12-06T00:00:00Z'));
    expect(settlementDueAt('2026-12-31', 0)).toBe(Date.parse('2027-01-01T00:00:00Z'));
  });

  it('backs off 5 minutes, doubling, to at most 6 hours', () => {
    expect([1, 2, 3, 4, 10].map(settlementRetryDelayMs)).toEqual([300_000, 600_000, 1_200_000, 2_400_000, 21_600_000]);
  });
});

describe('the summary line', () => {
  const base = initialSettlementState('5f0c1c7e-1111-4222-8333-944445555666', '2026-12-02', 72);

  it('while waiting: counts and when it settles, and never the receiver', () => {
    const line = summarizeSettlement({ ...base, totals: totals({ pending: { receipts: 14, diamonds: 3400, latestHoldUntil: null } }) });
    expect(line).toBe('day 2026-12-02: 14 gifts, 3,400 diamonds pending; settles at 2026-12-06 00:00 UTC');
    expect(line).not.toContain(base.receiverId);
    expect(summarizeSettlement(base)).toBe('day 2026-12-02: gifts pending; settles at 2026-12-06 00:00 UTC');
  });

  it('when done, with what was reversed or held', () => {
    const done = { ...base, phase: 'done' as const, lastSettledAt: Date.parse('2026-12-06T00:00:05Z') };
    expect(summarizeSettlement({ ...done, totals: totals({ settled: { receipts: 1, diamonds: 1_234_567 } }) })).toBe(
      'day 2026-12-02: 1 gift, 1,234,567 diamonds settled at 2026-12-06 00:00 UTC',
    );
    expect(
      summarizeSettlement({ ...done, totals: totals({ settled: { receipts: 3, diamonds: 90 }, reversed: { receipts: 2, diamonds: 200 }, held: { receipts: 1, diamonds: 5 } }) }),
    ).toBe('day 2026-12-02: 3 gifts, 90 diamonds settled at 2026-12-06 00:00 UTC; 2 reversed; 1 held for review');
  });

  it('while retrying: the failure code, never its message', () => {
    const retrying = { ...base, phase: 'retrying' as const, failures: 3, lastErrorType: 'QueryFailedError', settlesAt: Date.parse('2026-12-06T00:35:00Z') };
    expect(summarizeSettlement(retrying)).toBe('day 2026-12-02: settlement failed 3 times (QueryFailedError); retrying at 2026-12-06 00:35 UTC');
  });

  it('formats numbers and instants without Intl', () => {
    expect([0, 7, 999, 1000, 3400, 1_000_000, -12_345].map(count)).toEqual(['0', '7', '999', '1,000', '3,400', '1,000,000', '-12,345']);
    expect(utcMinute(Date.parse('2026-12-06T23:59:59.999Z'))).toBe('2026-12-06 23:59 UTC');
  });
});

describe('which gifts a voided purchase takes back', () => {
  const r = (id: string, coins: number, createdAt: number) => ({ id, coins, createdAt });

  it('oldest first while they fit, stopping at the first that does not', () => {
    const receipts = [r('3', 150, 3), r('1', 200, 1), r('2', 200, 2), r('4', 50, 4)];
    expect(receiptsFundedByPurchase(receipts, 500).map((x) => x.id)).toEqual(['1', '2']);
    expect(receiptsFundedByPurchase(receipts, 600).map((x) => x.id)).toEqual(['1', '2', '3', '4']);
    expect(receiptsFundedByPurchase(receipts, 199)).toEqual([]);
  });

  it('orders gifts sent in the same instant by receipt id, numerically', () => {
    expect(receiptsFundedByPurchase([r('10', 1, 5), r('9', 1, 5)], 1).map((x) => x.id)).toEqual(['9']);
  });
});
