import { Registry } from 'prom-client';
import { RankingBoards, boardKeys } from '../../db/live/ranking-boards';
import { GiftRankingTotals, type BoardTotals } from '../../db/repositories/gift-ranking-totals';
import { periodAt, type Period, type PeriodKind } from '../../domain/economy/ranking-periods';
import type { Board } from '../../domain/economy/rankings';
import { createRedis } from '../../platform/redis';
import { createGiftRankings, GiftRankings } from '../../services/rankings';
import { startApi } from '../support/app-harness';
import { createTestGift, createTestRoom, reverseTestReceipts, sendTestGift, type TestReceipt } from '../support/gift-receipts';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { apiClient, errorCode, UNLIMITED_RATES } from '../support/room-api';
import { createUser, type TestUser } from '../support/rooms';

/**
 * Gift rankings against the real Redis and PostgreSQL: receipts are written to PostgreSQL as the
 * gift send writes them, then recorded. Each test works in a month of 2019 of its own (a clock
 * handed to GiftRankings), so the global wealth and charm boards hold only what it wrote.
 */
let stack: RealStack;
let giftId: string;

beforeAll(async () => {
  stack = await connectRealStack('rankings');
  giftId = await createTestGift(stack.dataSource);
});

afterAll(async () => {
  await stack?.close();
});

const DAY = 86_400_000;
const WEALTH: Board = { kind: 'wealth' };
const CHARM: Board = { kind: 'charm' };

interface World {
  now: number;
  registry: Registry;
  rankings: GiftRankings;
  roomId: string;
  users: string[];
  period(kind: PeriodKind, at?: number): Period;
  gift(senderId: string, receivers: [receiverId: string, coins: number, diamonds: number][], options?: { at?: number; roomId?: string }): Promise<TestReceipt[]>;
}

/** A clock fixed at noon on a Wednesday of 2019, fresh users and a room. */
async function world(wednesday: string, userCount: number): Promise<World> {
  const now = Date.parse(`${wednesday}T12:00:00Z`);
  const registry = new Registry();
  const rankings = createGiftRankings({ redis: stack.redis, dataSource: stack.dataSource, metricsRegistry: registry, options: { clock: () => now } });
  const users = (await Promise.all(Array.from({ length: userCount }, () => stack.newUser()))).map((u) => u.id);
  const roomId = await createTestRoom(stack.dataSource, users[0]!);
  return {
    now,
    registry,
    rankings,
    roomId,
    users,
    period: (kind, at = now) => periodAt(kind, at),
    gift: (senderId, receivers, options = {}) =>
      sendTestGift(stack.dataSource, {
        giftId,
        senderId,
        roomId: options.roomId ?? roomId,
        receivers: receivers.map(([receiverId, coins, diamonds]) => ({ receiverId, coins, diamonds })),
        at: new Date(options.at ?? now),
      }),
  };
}

async function rebuilds(registry: Registry, how: 'rebuilt' | 'direct'): Promise<number> {
  const metric = await registry.getSingleMetric('aura_ranking_rebuilds_total')!.get();
  return metric.values.find((v) => v.labels.how === how)?.value ?? 0;
}

async function writeFailures(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric('aura_ranking_write_failures_total')!.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

/** Every board of a world's period as [userId, score] pairs, best first. */
async function everyBoard(w: World): Promise<Record<string, [string, number][]>> {
  const out: Record<string, [string, number][]> = {};
  const boards: [string, Board, PeriodKind[]][] = [
    ['wealth', WEALTH, ['daily', 'weekly', 'monthly']],
    ['charm', CHARM, ['daily', 'weekly', 'monthly']],
    ['room', { kind: 'room', roomId: w.roomId }, ['daily', 'weekly']],
  ];
  for (const [name, board, kinds] of boards) {
    for (const kind of kinds) out[`${name} ${kind}`] = (await w.rankings.top(board, w.period(kind), 100)).map((e) => [e.userId, e.score]);
  }
  return out;
}

it('ranks senders by coins spent and receivers by diamonds: top, my rank, and the ranks around me', async () => {
  const w = await world('2019-01-16', 9);
  const [s1, s2, s3, s4, s5, s6, r1, r2, idle] = w.users as [string, string, string, string, string, string, string, string, string];
  const day = w.period('daily');
  expect(await w.rankings.top(WEALTH, day)).toEqual([]); // built (empty) from PostgreSQL
  expect(await rebuilds(w.registry, 'rebuilt')).toBe(1);

  const receipts = [
    ...(await w.gift(s1, [[r1, 600, 360]])),
    ...(await w.gift(s2, [[r1, 250, 150], [r2, 250, 150]])),
    ...(await w.gift(s3, [[r2, 400, 0]])), // worth no diamonds: nothing on charm
    ...(await w.gift(s4, [[r1, 300, 180]])),
    ...(await w.gift(s5, [[r2, 200, 120]])),
    ...(await w.gift(s6, [[r1, 100, 60]])),
  ];
  await w.rankings.record(receipts);

  expect((await w.rankings.top(WEALTH, day)).map((e) => [e.rank, e.userId, e.score])).toEqual([
    [1, s1, 600],
    [2, s2, 500],
    [3, s3, 400],
    [4, s4, 300],
    [5, s5, 200],
    [6, s6, 100],
  ]);
  expect((await w.rankings.top(WEALTH, day, 2)).map((e) => e.userId)).toEqual([s1, s2]);
  expect(await w.rankings.rankOf(WEALTH, day, s4)).toEqual({ rank: 4, score: 300 });
  expect(await w.rankings.rankOf(WEALTH, day, idle)).toBeNull();
  expect((await w.rankings.around(WEALTH, day, s4, 1)).map((e) => [e.rank, e.userId])).toEqual([
    [3, s3],
    [4, s4],
    [5, s5],
  ]);
  expect((await w.rankings.around(WEALTH, day, s1, 2)).map((e) => e.rank)).toEqual([1, 2, 3]); // clipped at the top
  expect(await w.rankings.around(WEALTH, day, idle, 2)).toEqual([]);

  // Charm counts diamonds by receiver; the room board counts coins spent in the room, weekly too.
  expect((await w.rankings.top(CHARM, w.period('monthly'))).map((e) => [e.userId, e.score])).toEqual([
    [r1, 750],
    [r2, 270],
  ]);
  const room: Board = { kind: 'room', roomId: w.roomId };
  expect((await w.rankings.top(room, w.period('weekly'), 3)).map((e) => [e.userId, e.score])).toEqual([
    [s1, 600],
    [s2, 500],
    [s3, 400],
  ]);
  // Each board was built from PostgreSQL at its first read, then kept by the increments.
  expect(await everyBoard(w)).toEqual(await pgBoards(w));
  expect(await rebuilds(w.registry, 'direct')).toBe(0);

  // Ties keep a stable order: equal scores by user id, descending (Redis's ZREVRANGE order).
  const [t1, t2] = [s5, s6].sort();
  await w.rankings.record(await w.gift(t1!, [[r1, 1000 - (t1 === s5 ? 200 : 100), 0]]));
  await w.rankings.record(await w.gift(t2!, [[r1, 1000 - (t2 === s5 ? 200 : 100), 0]]));
  const tied = (await w.rankings.top(WEALTH, day)).slice(0, 2);
  expect(tied.map((e) => [e.rank, e.userId, e.score])).toEqual([
    [1, t2, 1000],
    [2, t1, 1000],
  ]);
});

it('takes reversed receipts off the boards: ranks drop, and a member at zero leaves the board', async () => {
  const w = await world('2019-02-13', 4);
  const [a, b, c, r] = w.users as [string, string, string, string];
  const day = w.period('daily');
  await w.rankings.top(WEALTH, day);
  await w.rankings.top(CHARM, day);
  const fromA = await w.gift(a, [[r, 500, 300]]);
  const moreFromA = await w.gift(a, [[r, 100, 60]]);
  const fromB = await w.gift(b, [[r, 400, 240]]);
  const fromC = await w.gift(c, [[r, 300, 180]]);
  await w.rankings.record([...fromA, ...moreFromA, ...fromB, ...fromC]);
  expect(await w.rankings.rankOf(WEALTH, day, a)).toEqual({ rank: 1, score: 600 });

  await reverseTestReceipts(stack.dataSource, fromA);
  await w.rankings.subtract(fromA);
  expect((await w.rankings.top(WEALTH, day)).map((e) => [e.userId, e.score])).toEqual([
    [b, 400],
    [c, 300],
    [a, 100],
  ]);
  expect(await w.rankings.rankOf(CHARM, day, r)).toEqual({ rank: 1, score: 480 }); // 60 + 240 + 180

  await reverseTestReceipts(stack.dataSource, fromC);
  await w.rankings.subtract(fromC);
  expect(await w.rankings.rankOf(WEALTH, day, c)).toBeNull();
  expect((await w.rankings.top(WEALTH, day)).map((e) => e.userId)).toEqual([b, a]);
  expect(await everyBoard(w)).toEqual(await pgBoards(w));
});

it('keeps periods apart: yesterday is on the weekly board but not on today’s, and today’s day board by at', async () => {
  const w = await world('2019-03-13', 3);
  const [a, b, r] = w.users as [string, string, string];
  const [today, yesterday, week] = [w.period('daily'), w.period('daily', w.now - DAY), w.period('weekly')];
  expect(yesterday.id).toBe('2019-03-12');
  for (const period of [today, yesterday]) await w.rankings.top(WEALTH, period);
  await w.rankings.top(WEALTH, week);

  await w.rankings.record(await w.gift(a, [[r, 700, 420]], { at: w.now - DAY }));
  await w.rankings.record(await w.gift(b, [[r, 200, 120]]));
  // Last Monday 00:00 is the week's first instant; last Sunday 23:59:59.999 belongs to the week before.
  await w.rankings.record(await w.gift(b, [[r, 5, 3]], { at: week.startsAt }));
  await w.rankings.record(await w.gift(b, [[r, 9, 5]], { at: week.startsAt - 1 }));

  expect((await w.rankings.top(WEALTH, today)).map((e) => [e.userId, e.score])).toEqual([[b, 200]]);
  expect((await w.rankings.top(WEALTH, yesterday)).map((e) => [e.userId, e.score])).toEqual([[a, 700]]);
  expect((await w.rankings.top(WEALTH, week)).map((e) => [e.userId, e.score])).toEqual([
    [a, 700],
    [b, 205],
  ]);
  expect(await w.rankings.rankOf(WEALTH, w.period('weekly', week.startsAt - 1), b)).toEqual({ rank: 1, score: 9 });
});

it('rebuilds exactly the same boards from PostgreSQL after Redis is flushed, reversed receipts left out', async () => {
  const w = await world('2019-04-17', 8);
  const [a, b, c, d, r1, r2, r3] = w.users as [string, string, string, string, string, string, string];
  const otherRoom = await createTestRoom(stack.dataSource, a);
  await everyBoard(w); // build them all (empty)
  const receipts = [
    ...(await w.gift(a, [[r1, 500, 300], [r2, 500, 300]])),
    ...(await w.gift(b, [[r2, 800, 480]], { at: w.now - DAY })),
    ...(await w.gift(c, [[r3, 300, 180]], { roomId: otherRoom })),
    ...(await w.gift(d, [[r1, 50, 30], [r3, 50, 0]])),
    ...(await w.gift(a, [[r3, 120, 72]], { at: w.now - 2 * DAY })),
  ];
  await w.rankings.record(receipts);
  const reversed = await w.gift(c, [[r1, 999, 599]]);
  await w.rankings.record(reversed);
  await reverseTestReceipts(stack.dataSource, reversed);
  await w.rankings.subtract(reversed);

  const before = await everyBoard(w);
  expect(before).toEqual(await pgBoards(w));
  expect(before['wealth monthly']).toEqual([
    [a, 1120],
    [b, 800],
    [c, 300],
    [d, 100],
  ]);
  expect(before['charm daily']).toEqual([
    [r1, 330],
    [r2, 300],
    [r3, 180],
  ]);
  const builtBefore = await rebuilds(w.registry, 'rebuilt');

  await stack.redis.flushall();
  expect(await stack.redis.exists(boardKeys(WEALTH, w.period('monthly')).board)).toBe(0);
  expect(await everyBoard(w)).toEqual(before);
  expect(await rebuilds(w.registry, 'rebuilt')).toBe(builtBefore + 8);
  expect(before['room daily']!.find(([member]) => member === c)).toBeUndefined(); // only the reversed gift in this room
});

it('marks the boards a failed write touched, and the next read after Redis answers rebuilds them', async () => {
  const w = await world('2019-05-15', 3);
  const [a, b, r] = w.users as [string, string, string];
  const day = w.period('daily');
  const flaky = createRedis(stack.config.REDIS_URL, { name: 'test-rankings-flaky' });
  const registry = new Registry();
  const rankings = createGiftRankings({ redis: flaky, dataSource: stack.dataSource, metricsRegistry: registry, options: { clock: () => w.now, staleRetryMs: 3_600_000 } });
  try {
    await rankings.record(await w.gift(a, [[r, 100, 60]]));
    expect(await rankings.top(WEALTH, day)).toEqual([{ rank: 1, userId: a, score: 100 }]);

    flaky.disconnect();
    const lost = await w.gift(b, [[r, 300, 180]]);
    await expect(rankings.record(lost)).resolves.toBeUndefined(); // never throws to the gift send
    expect(await writeFailures(registry)).toBe(1);
    // Another process (Redis answers it) still sees the board without the lost increment.
    expect((await w.rankings.top(WEALTH, day)).map((e) => e.userId)).toEqual([a]);

    flaky.connect().catch(() => undefined);
    await new Promise((resolve) => flaky.once('ready', resolve));
    const rebuiltBefore = await rebuilds(registry, 'rebuilt');
    expect((await rankings.top(WEALTH, day)).map((e) => [e.userId, e.score])).toEqual([
      [b, 300],
      [a, 100],
    ]);
    expect(await rebuilds(registry, 'rebuilt')).toBe(rebuiltBefore + 1);
    expect(await rankings.rankOf(CHARM, day, r)).toEqual({ rank: 1, score: 240 });
  } finally {
    rankings.close();
    flaky.disconnect();
  }
});

it('rebuilds once for many concurrent readers, and loses no increment that lands during a rebuild', async () => {
  const w = await world('2019-06-12', 3);
  const [a, b, r] = w.users as [string, string, string];
  const day = w.period('daily');
  await w.gift(a, [[r, 100, 60]]); // never recorded: the rebuild reads it from PostgreSQL
  const views = await Promise.all(Array.from({ length: 10 }, () => w.rankings.view(WEALTH, day, { limit: 10, userId: a, radius: 1 })));
  for (const view of views) expect(view).toEqual({ top: [{ rank: 1, userId: a, score: 100 }], me: { rank: 1, score: 100 }, around: [{ rank: 1, userId: a, score: 100 }] });
  expect(await rebuilds(w.registry, 'rebuilt')).toBe(1);

  // A rebuild held after PostgreSQL answered: a gift committed and recorded meanwhile lands in the rebuild.
  await stack.redis.del(boardKeys(WEALTH, day).marker);
  let release!: () => void;
  let queried!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const hasQueried = new Promise<void>((resolve) => (queried = resolve));
  const totals = new GiftRankingTotals(stack.dataSource);
  const slow = {
    totals: async (board: Board, period: Period): Promise<BoardTotals> => {
      const result = await totals.totals(board, period);
      queried();
      await held;
      return result;
    },
  } as GiftRankingTotals;
  const rebuilding = new GiftRankings(new RankingBoards(stack.redis), slow, { clock: () => w.now });
  const reading = rebuilding.top(WEALTH, day);
  await hasQueried;
  await w.rankings.record(await w.gift(b, [[r, 250, 150]]));
  release();
  expect((await reading).map((e) => [e.userId, e.score])).toEqual([
    [b, 250],
    [a, 100],
  ]);
  expect(await w.rankings.top(WEALTH, day)).toEqual(await reading);
});

it('answers the ranking routes with names, my rank and my neighbours; 404 for an unknown room, 400 for a period not kept', async () => {
  const api = await startApi(stack, UNLIMITED_RATES);
  try {
    const http = apiClient(api.url);
    const [me, other, receiver] = (await Promise.all([createUser(stack, 'Ranked'), createUser(stack, 'Rival'), createUser(stack, 'Host')])) as [TestUser, TestUser, TestUser];
    const roomId = await createTestRoom(stack.dataSource, receiver.userId);
    const rankings = createGiftRankings({ redis: stack.redis, dataSource: stack.dataSource });
    // Read once (built from PostgreSQL), then gifts recorded as the send records them.
    expect((await http.as(me).get(`/rooms/${roomId}/rankings/contribution?period=weekly`)).body).toMatchObject({ top: [], me: null, around: [] });
    await rankings.record(await sendTestGift(stack.dataSource, { giftId, senderId: me.userId, roomId, receivers: [{ receiverId: receiver.userId, coins: 300, diamonds: 180 }] }));
    await rankings.record(await sendTestGift(stack.dataSource, { giftId, senderId: other.userId, roomId, receivers: [{ receiverId: receiver.userId, coins: 500, diamonds: 300 }] }));

    const week = periodAt('weekly', Date.now());
    const contribution = await http.as(me).get(`/rooms/${roomId.toUpperCase()}/rankings/contribution?period=weekly`);
    expect(contribution.status).toBe(200);
    const meName = (await stack.users.findById(me.userId))!.displayName;
    const otherName = (await stack.users.findById(other.userId))!.displayName;
    expect(contribution.body).toEqual({
      board: `room:${roomId}`,
      period: { kind: 'weekly', id: week.id, startsAt: new Date(week.startsAt).toISOString(), endsAt: new Date(week.endsAt).toISOString() },
      top: [
        { rank: 1, userId: other.userId, displayName: otherName, score: 500 },
        { rank: 2, userId: me.userId, displayName: meName, score: 300 },
      ],
      me: { rank: 2, score: 300 },
      around: [
        { rank: 1, userId: other.userId, displayName: otherName, score: 500 },
        { rank: 2, userId: me.userId, displayName: meName, score: 300 },
      ],
    });

    // The global boards: other suites' gifts may be on them, so only this test's users are checked.
    const wealth = await http.as(me).get<{ me: { score: number }; top: { userId: string; displayName: string }[] }>('/rankings/wealth?period=monthly');
    expect(wealth.status).toBe(200);
    expect(wealth.body.me.score).toBeGreaterThanOrEqual(300);
    const charm = await http.as(receiver).get<{ me: { score: number } }>('/rankings/charm?period=daily&limit=3');
    expect(charm.body.me.score).toBeGreaterThanOrEqual(480);

    const today = periodAt('daily', Date.now());
    expect((await http.as(me).get(`/rankings/wealth?period=daily&at=${today.id}`)).status).toBe(200);
    const old = await http.as(me).get('/rankings/wealth?period=daily&at=2019-01-01');
    expect([old.status, errorCode(old)]).toEqual([400, 'VALIDATION_FAILED']);
    const wrongKind = await http.as(me).get(`/rankings/charm?period=weekly&at=${today.id}`);
    expect([wrongKind.status, errorCode(wrongKind)]).toEqual([400, 'VALIDATION_FAILED']);
    const noMonthlyRoomBoard = await http.as(me).get(`/rooms/${roomId}/rankings/contribution?period=monthly`);
    expect(noMonthlyRoomBoard.status).toBe(400);
    const missing = await http.as(me).get('/rooms/3f1e2d4c-5b6a-4789-8abc-def012345678/rankings/contribution');
    expect([missing.status, errorCode(missing)]).toEqual([404, 'ROOM_NOT_FOUND']);
  } finally {
    await api.close();
  }
});

/** Every board of a world's period as PostgreSQL's totals say, best first. */
async function pgBoards(w: World): Promise<Record<string, [string, number][]>> {
  const totals = new GiftRankingTotals(stack.dataSource);
  const out: Record<string, [string, number][]> = {};
  const boards: [string, Board, PeriodKind[]][] = [
    ['wealth', WEALTH, ['daily', 'weekly', 'monthly']],
    ['charm', CHARM, ['daily', 'weekly', 'monthly']],
    ['room', { kind: 'room', roomId: w.roomId }, ['daily', 'weekly']],
  ];
  for (const [name, board, kinds] of boards) {
    for (const kind of kinds) out[`${name} ${kind}`] = await totals.totals(board, w.period(kind));
  }
  return out;
}
