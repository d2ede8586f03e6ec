import { randomUUID } from 'node:crypto';
import { GiftReceipts } from '../../db/repositories/gift-receipts';
import { utcDayOf } from '../../domain/economy/settlement';
import { GiftClawbacks, type ReversedReceipt } from '../../services/economy/clawback';
import { GiftFixtures } from '../support/gifts';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * Reversal and settlement against PostgreSQL directly: review reversals refund every sender,
 * replays and concurrent deliveries change nothing twice, receipts worth no diamonds settle
 * without an entry, and a settlement racing a clawback never settles a reversed gift.
 */
let stack: RealStack;
let gifts: GiftFixtures;
let receipts: GiftReceipts;

beforeAll(async () => {
  stack = await connectRealStack('gift-reversals');
  gifts = new GiftFixtures(stack.dataSource);
  receipts = new GiftReceipts(stack.dataSource);
});

afterAll(async () => {
  await stack?.close();
});

async function party() {
  const [a, b, host] = await Promise.all([gifts.user('sender a'), gifts.user('sender b'), gifts.user('host')]);
  const room = await gifts.room(host);
  await Promise.all([gifts.buyCoins(a, 1_000), gifts.buyCoins(b, 1_000)]);
  return { a, b, host, room };
}

it('a review reversal refunds each sender, tells the listener once, and a replay reverses nothing', async () => {
  const { a, b, host, room } = await party();
  const now = Date.now();
  const [fromA] = await gifts.send({ senderId: a, roomId: room, receivers: [host], coinsEach: 300, diamondsEach: 150, at: now, state: 'held' });
  const [fromB] = await gifts.send({ senderId: b, roomId: room, receivers: [host], coinsEach: 120, diamondsEach: 60, at: now });
  const heard: ReversedReceipt[][] = [];
  const clawbacks = new GiftClawbacks(stack.dataSource, { listener: { onReversed: async (r) => void heard.push([...r]) } });

  const reversed = await clawbacks.reverseForReview([fromA!, fromB!]);
  expect(reversed.map((r) => [r.id, r.senderId, r.coins, r.reason])).toEqual([
    [fromA, a, 300, 'review'],
    [fromB, b, 120, 'review'],
  ]);
  expect(await gifts.wallet(a)).toMatchObject({ coins: 1_000 });
  expect(await gifts.wallet(b)).toMatchObject({ coins: 1_000 });
  expect(await clawbacks.reverseForReview([fromA!, fromB!])).toEqual([]);
  expect(heard).toHaveLength(1);
  expect((await gifts.receipts([fromA!, fromB!])).map((r) => r.reversedReason)).toEqual(['review', 'review']);
  // A reversed receipt never settles.
  expect(await stack.dataSource.transaction((tx) => receipts.settleReceiptsNow(tx, [fromA!]))).toEqual([]);
});

it('two deliveries of the same void at once reverse and claw back once', async () => {
  const { a, host, room } = await party();
  const purchasedAt = new Date(Date.now() - 1_000);
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push(...(await gifts.send({ senderId: a, roomId: room, receivers: [host], coinsEach: 100, diamondsEach: 50, at: Date.now() })));
  const clawbacks = new GiftClawbacks(stack.dataSource);
  const input = { userId: a, coins: 250, purchasedAt, idempotencyKey: `void:${randomUUID()}` };

  const results = await Promise.all([clawbacks.clawbackPurchase(input), clawbacks.clawbackPurchase(input)]);
  expect(results.map((r) => r.applied).sort()).toEqual([false, true]);
  expect(results.map((r) => r.reversed.map((x) => x.id))).toEqual([ids.slice(0, 2), ids.slice(0, 2)]);
  // 1,000 − 400 sent + 200 refunded − 250 clawed back.
  expect(await gifts.wallet(a)).toEqual({ coins: 550, diamonds: 0, coinsOwed: 0 });
  expect((await gifts.receipts(ids)).map((r) => r.state)).toEqual(['reversed', 'reversed', 'pending', 'pending']);
  await stack.dataSource.transaction((tx) => receipts.settleReceiptsNow(tx, ids)); // leave nothing pending
});

it('gifts sent before the purchase are not taken back; a listener that fails does not fail the clawback', async () => {
  const { a, host, room } = await party();
  const [before] = await gifts.send({ senderId: a, roomId: room, receivers: [host], coinsEach: 900, diamondsEach: 450, at: Date.now() - 60_000 });
  const warnings: unknown[] = [];
  const clawbacks = new GiftClawbacks(stack.dataSource, {
    listener: { onReversed: () => Promise.reject(new Error('rankings down')) },
    logger: { warn: (...args: unknown[]) => void warnings.push(args) } as never,
  });
  const result = await clawbacks.clawbackPurchase({ userId: a, coins: 500, purchasedAt: new Date(Date.now() - 1_000), idempotencyKey: `void:${randomUUID()}` });
  expect(result).toMatchObject({ applied: true, reversed: [], refundedCoins: 0, debited: 100, owed: 400 });
  expect(await gifts.wallet(a)).toEqual({ coins: 0, diamonds: 0, coinsOwed: 400 });
  expect(warnings).toHaveLength(0); // nothing reversed: nobody to tell

  const other = await gifts.user('other sender');
  await gifts.buyCoins(other, 100);
  const [after] = await gifts.send({ senderId: other, roomId: room, receivers: [host], coinsEach: 100, diamondsEach: 0, at: Date.now() });
  const failing = await clawbacks.reverseForReview([after!]);
  expect(failing).toHaveLength(1);
  expect(warnings).toHaveLength(1);
  await stack.dataSource.transaction((tx) => receipts.settleReceiptsNow(tx, [before!]));
});

it('receipts worth no diamonds settle without a ledger entry', async () => {
  const { a, host, room } = await party();
  const now = Date.now();
  const ids = await gifts.send({ senderId: a, roomId: room, receivers: [host], coinsEach: 10, diamondsEach: 0, at: now, holdHours: 0 });
  const { settled, totals } = await stack.dataSource.transaction((tx) =>
    receipts.settleReceiverDay(tx, { receiverId: host, day: utcDayOf(now), asOf: new Date(now + 1_000) }),
  );
  expect(settled).toEqual({ receiverId: host, receiptIds: ids, diamonds: 0, entryId: null });
  expect(totals.settled).toEqual({ receipts: 1, diamonds: 0 });
  expect(await gifts.receipts(ids)).toEqual([{ id: ids[0], state: 'settled', settledEntryId: null, reversedReason: null }]);
  expect(await gifts.entries(host)).toEqual([]);
});

it('a settlement waiting on a clawback that reverses a gift does not settle that gift', async () => {
  const { a, host, room } = await party();
  const now = Date.now();
  const [gift] = await gifts.send({ senderId: a, roomId: room, receivers: [host], coinsEach: 200, diamondsEach: 100, at: now, holdHours: 0 });
  const [other] = await gifts.send({ senderId: a, roomId: room, receivers: [host], coinsEach: 50, diamondsEach: 25, at: now, holdHours: 0 });
  const runner = stack.dataSource.createQueryRunner();
  await runner.connect();
  await runner.startTransaction();
  try {
    // The clawback holds the receipt's lock...
    const reversed = await receipts.reverseReceipts(runner.manager, [gift!], 'clawback');
    expect(reversed).toHaveLength(1);
    // ...while the settlement asks for it (plain FOR UPDATE: it waits, then sees it reversed).
    const settling = stack.dataSource.transaction((tx) => receipts.settleReceiverDay(tx, { receiverId: host, day: utcDayOf(now), asOf: new Date(now + 1_000) }));
    let waiting = 0;
    for (let i = 0; waiting === 0 && i < 250; i++) {
      if (i) await new Promise((resolve) => setTimeout(resolve, 20));
      const rows: { n: number }[] = await stack.dataSource.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE application_name = 'test-gift-reversals' AND wait_event_type = 'Lock' AND query LIKE '%FROM gift_receipts%'`,
      );
      waiting = rows[0]?.n ?? 0;
    }
    expect(waiting).toBe(1);
    await runner.commitTransaction();
    const { settled } = await settling;
    expect(settled.receiptIds).toEqual([other]);
    expect(settled.diamonds).toBe(25);
  } finally {
    await runner.release();
  }
  expect((await gifts.receipts([gift!, other!])).map((r) => r.state)).toEqual(['reversed', 'settled']);
  expect(await gifts.wallet(host)).toMatchObject({ diamonds: 25 });
});

it('a day larger than one batch settles in several bounded transactions, one entry each', async () => {
  const { a, host, room } = await party();
  const now = Date.now();
  const ids = await gifts.send({ senderId: a, roomId: room, receivers: [host], coinsEach: 10, diamondsEach: 5, at: now, holdHours: 0 });
  ids.push(...(await gifts.send({ senderId: a, roomId: room, receivers: [host], coinsEach: 10, diamondsEach: 6, at: now, holdHours: 0 })));
  ids.push(...(await gifts.send({ senderId: a, roomId: room, receivers: [host], coinsEach: 10, diamondsEach: 7, at: now, holdHours: 0 })));
  const day = utcDayOf(now);
  const settle = () => stack.dataSource.transaction((tx) => receipts.settleReceiverDay(tx, { receiverId: host, day, asOf: new Date(now + 1_000), limit: 2 }));
  expect((await settle()).settled).toMatchObject({ receiptIds: ids.slice(0, 2), diamonds: 11 });
  const last = await settle();
  expect(last.settled).toMatchObject({ receiptIds: ids.slice(2), diamonds: 7 });
  expect(last.totals).toMatchObject({ settled: { receipts: 3, diamonds: 18 }, pending: { receipts: 0 } });
  expect((await gifts.entries(host, 'settlement')).map((e) => [e.amount, e.key])).toEqual([
    [11, `settlement:${host}:${day}:${ids[0]}`],
    [7, `settlement:${host}:${day}:${ids[2]}`],
  ]);
});
