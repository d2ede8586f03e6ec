import { choosePeriod, keptUntil, parsePeriodId, periodAt, periodIdAt } from './ranking-periods';
import { rankingChanges } from './rankings';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('period ids for an instant (UTC)', () => {
  it('names the UTC day, ISO week and month, whatever the local clock says', () => {
    const t = at('2026-03-04T23:30:00-05:00'); // already 5 March in UTC
    expect(periodIdAt('daily', t)).toBe('2026-03-05');
    expect(periodIdAt('weekly', t)).toBe('2026-W10');
    expect(periodIdAt('monthly', t)).toBe('2026-03');
  });

  it('puts the first days of January in the last ISO week of the year before, and late December in week 1', () => {
    expect(periodIdAt('weekly', at('2021-01-03T12:00:00Z'))).toBe('2020-W53');
    expect(periodIdAt('weekly', at('2024-12-30T00:00:00Z'))).toBe('2025-W01');
    expect(periodIdAt('monthly', at('2024-12-30T00:00:00Z'))).toBe('2024-12');
  });

  it('gives [start, end) boundaries: the end is the next period start, and belongs to it', () => {
    const day = periodAt('daily', at('2026-03-05T10:00:00Z'));
    expect([iso(day.startsAt), iso(day.endsAt)]).toEqual(['2026-03-05T00:00:00.000Z', '2026-03-06T00:00:00.000Z']);
    expect(periodIdAt('daily', day.endsAt - 1)).toBe('2026-03-05');
    expect(periodIdAt('daily', day.endsAt)).toBe('2026-03-06');
    const week = periodAt('weekly', at('2026-03-05T10:00:00Z'));
    expect([iso(week.startsAt), iso(week.endsAt)]).toEqual(['2026-03-02T00:00:00.000Z', '2026-03-09T00:00:00.000Z']);
    const february = periodAt('monthly', at('2024-02-29T23:59:59.999Z'));
    expect([february.id, iso(february.startsAt), iso(february.endsAt)]).toEqual(['2024-02', '2024-02-01T00:00:00.000Z', '2024-03-01T00:00:00.000Z']);
  });
});

describe('parsePeriodId', () => {
  it('reads each kind back to the same period', () => {
    for (const t of [at('2026-03-05T10:00:00Z'), at('2021-01-03T12:00:00Z'), at('2020-12-31T23:59:59Z')]) {
      for (const kind of ['daily', 'weekly', 'monthly'] as const) {
        expect(parsePeriodId(kind, periodIdAt(kind, t))).toEqual(periodAt(kind, t));
      }
    }
  });

  it('refuses ids of another kind, impossible dates and weeks, and odd spellings', () => {
    const bad: [Parameters<typeof parsePeriodId>[0], string][] = [
      ['daily', '2026-02-30'],
      ['daily', '2026-13-01'],
      ['daily', '2026-1-01'],
      ['daily', '2026-03'],
      ['daily', '1969-12-31'],
      ['weekly', '2026-W00'],
      ['weekly', '2026-W54'],
      ['weekly', '2021-W53'], // 2021 has 52 ISO weeks
      ['weekly', '2026-w10'],
      ['weekly', '2026-W1'],
      ['weekly', '2026-03-05'],
      ['monthly', '2026-00'],
      ['monthly', '2026-13'],
      ['monthly', '2026-3'],
      ['monthly', '２０２６-03'],
      ['monthly', '2026-03\u0000'],
    ];
    for (const [kind, id] of bad) expect([kind, id, parsePeriodId(kind, id)]).toEqual([kind, id, null]);
    expect(parsePeriodId('weekly', '2020-W53')?.id).toBe('2020-W53');
  });
});

describe('choosePeriod (a query: period=…&at=…)', () => {
  const now = at('2026-03-05T10:00:00Z');

  it('is the current period without at', () => {
    expect(choosePeriod('weekly', undefined, now)).toEqual({ ok: true, period: periodAt('weekly', now) });
  });

  it('accepts a past period that is still kept and refuses a future one or one already dropped', () => {
    expect(choosePeriod('daily', '2026-03-02', now)).toMatchObject({ ok: true, period: { id: '2026-03-02' } });
    expect(choosePeriod('daily', '2026-03-01', now)).toMatchObject({ ok: false }); // ended 2 March, kept until 5 March 00:00
    expect(choosePeriod('daily', '2026-03-06', now)).toMatchObject({ ok: false });
    expect(choosePeriod('weekly', '2026-W08', now)).toMatchObject({ ok: true });
    expect(choosePeriod('weekly', '2026-W06', now)).toMatchObject({ ok: false });
    expect(choosePeriod('monthly', '2025-12', now)).toMatchObject({ ok: true });
    expect(choosePeriod('monthly', '2025-10', now)).toMatchObject({ ok: false });
    expect(choosePeriod('monthly', '2026-03-05', now)).toMatchObject({ ok: false });
  });

  it('keeps a board for about 3 days, weeks or months after its period ends', () => {
    const day = periodAt('daily', now);
    expect(keptUntil(day) - day.endsAt).toBe(3 * 86_400_000);
    const week = periodAt('weekly', now);
    expect(keptUntil(week) - week.endsAt).toBe(21 * 86_400_000);
  });
});

describe('rankingChanges', () => {
  const base = { roomId: 'room-1', at: at('2026-03-05T10:00:00Z') };

  it('adds coins to the sender (wealth, room) and diamonds to the receiver (charm), merged per member', () => {
    const changes = rankingChanges([
      { ...base, senderId: 's', receiverId: 'r1', coins: 100, diamonds: 60 },
      { ...base, senderId: 's', receiverId: 'r2', coins: 100, diamonds: 0 },
    ]);
    const table = Object.fromEntries(changes.map((c) => [`${c.board.kind}:${c.period.id}`, Object.fromEntries(c.deltas)]));
    expect(table).toEqual({
      'wealth:2026-03-05': { s: 200 },
      'wealth:2026-W10': { s: 200 },
      'wealth:2026-03': { s: 200 },
      'charm:2026-03-05': { r1: 60 },
      'charm:2026-W10': { r1: 60 },
      'charm:2026-03': { r1: 60 },
      'room:2026-03-05': { s: 200 },
      'room:2026-W10': { s: 200 },
    });
  });

  it('counts a gift given outside any room (a CP ring) on wealth and charm, and on no room board', () => {
    const changes = rankingChanges([{ ...base, roomId: null, senderId: 's', receiverId: 'r', coins: 520, diamonds: 364 }]);
    expect(changes.map((c) => c.board.kind).sort()).toEqual(['charm', 'charm', 'charm', 'wealth', 'wealth', 'wealth']);
  });

  it('takes away what a reversal undoes, and keeps receipts on either side of midnight apart', () => {
    const changes = rankingChanges(
      [
        { ...base, senderId: 's', receiverId: 'r', coins: 10, diamonds: 5 },
        { ...base, at: new Date('2026-03-04T23:59:59.999Z'), senderId: 's', receiverId: 'r', coins: 7, diamonds: 3 },
      ],
      -1,
    );
    const wealth = changes.filter((c) => c.board.kind === 'wealth').map((c) => [c.period.id, c.deltas.get('s')]);
    expect(wealth).toEqual([
      ['2026-03-05', -10],
      ['2026-W10', -17],
      ['2026-03', -17],
      ['2026-03-04', -7],
    ]);
  });
});
