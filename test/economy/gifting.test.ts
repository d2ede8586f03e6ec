import { randomUUID } from 'node:crypto';
import type { RoomLiveState } from '../../db/live/room-live-state';
import { ReplayableRequests } from '../../services/idempotency/replayable-requests';
import { GiftService, type CommittedGift, type SendGift } from '../../services/gifts/gift-service';
import { WalletService } from '../../services/wallet/wallet-service';
import { createRoomService } from '../../services/rooms';
import type { RoomService } from '../../services/rooms/room-service';
import type { RoomView } from '../../domain/rooms/model';
import { Relations } from '../../db/repositories/relations';
import { AppError } from '../../domain/errors';
import { httpStatusFor } from '../../platform/http/error-status';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { RoomJanitor } from '../support/room-api';
import { testLogger } from '../support/app-harness';
import { createTestGift, fundCoins, fundDiamonds, ledgerDisagreements, uncachedCatalog } from '../support/economy';

let stack: RealStack;
let rooms: RoomService;
let live: RoomLiveState;
let janitor: RoomJanitor;
let gifts: GiftService;
let wallet: WalletService;
const committed: CommittedGift[] = [];
const settings = { holdMs: 72 * 3600_000, maxReceivers: 3, senderDailyCapCoins: 100_000, pairDailyCapCoins: 5_000 };

beforeAll(async () => {
  stack = await connectRealStack('gifting');
  ({ rooms, live } = createRoomService({ config: stack.config, dataSource: stack.dataSource, redis: stack.redis, logger: testLogger }));
  janitor = new RoomJanitor(rooms, live);
  const requests = new ReplayableRequests(stack.dataSource);
  gifts = new GiftService({
    dataSource: stack.dataSource,
    live,
    catalog: uncachedCatalog(stack.dataSource),
    requests,
    settings,
    listeners: [{ giftCommitted: (g) => void committed.push(g) }],
  });
  wallet = new WalletService({ dataSource: stack.dataSource, requests, exchangeRate: { diamondsPerLot: 100, coinsPerLot: 70, minDiamonds: 200 } });
});

afterEach(async () => janitor.sweep());
afterAll(async () => stack.close());

interface Party {
  room: RoomView;
  sender: string;
  host: string;
  listener: string;
}

/** A room with its owner (the host, seated), a sender and a listener, all present. */
async function party(senderCoins = 1_000): Promise<Party> {
  const [host, sender, listener] = await Promise.all([stack.newUser(), stack.newUser(), stack.newUser()]);
  const room = janitor.room(await rooms.create(host.id, { type: 'voice', name: 'Gifts', seatCount: 4, seatMode: 'free' }));
  for (const u of [host, sender, listener]) await janitor.enter(room, u.id);
  await rooms.takeSeat(host.id, room.id, 0);
  if (senderCoins > 0) await fundCoins(stack, sender.id, senderCoins);
  return { room, sender: sender.id, host: host.id, listener: listener.id };
}

function send(p: Party, giftId: string, overrides: Partial<SendGift> = {}) {
  return gifts.send({ senderId: p.sender, roomId: p.room.id, giftId, quantity: 1, to: { users: [p.host] }, idempotencyKey: randomUUID(), ...overrides });
}

const code = (r: { body: unknown }) => (r.body as { error?: { code: string } }).error?.code;
/** A refusal as the API answers it: the status of its code, and nothing kept. */
async function attempt(reply: Promise<{ status: number; body: unknown; replayed: boolean }>) {
  try {
    return await reply;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { status: httpStatusFor(err.code), body: { error: { code: err.code } }, replayed: false };
  }
}
const coins = async (userId: string) => (await wallet.view(userId)).coins;
const sendsBy = async (userId: string) =>
  Number(((await stack.dataSource.query(`SELECT count(*) AS n FROM gift_sends WHERE sender_id = $1`, [userId])) as { n: string }[])[0]!.n);

describe('sending a gift', () => {
  it('debits the sender, records the send and a pending receipt per receiver, and tells the listeners once', async () => {
    const p = await party();
    const giftId = await createTestGift(stack.dataSource, { priceCoins: 30, diamondValue: 21 });
    const reply = await send(p, giftId, { quantity: 3, to: { users: [p.host, p.listener] } });

    expect(reply.status).toBe(201);
    const body = reply.body as { sendId: string; totalCoins: number; coinBalance: number; receivers: { userId: string; diamondsPending: number }[] };
    expect(body.totalCoins).toBe(180);
    expect(body.coinBalance).toBe(820);
    expect(body.receivers.map((r) => r.diamondsPending)).toEqual([63, 63]);
    expect(await coins(p.sender)).toBe(820);
    expect(await wallet.view(p.host)).toMatchObject({ diamonds: 0, diamondsPending: 63, coinsOwed: 0 });
    const receipts = (await stack.dataSource.query(
      `SELECT receiver_id, coins, diamonds, state, EXTRACT(EPOCH FROM hold_until - created_at) AS hold_seconds FROM gift_receipts WHERE send_id = $1 ORDER BY receiver_id`,
      [body.sendId],
    )) as { receiver_id: string; coins: string; diamonds: string; state: string; hold_seconds: string }[];
    expect(receipts).toHaveLength(2);
    expect(receipts.every((r) => r.state === 'pending' && Number(r.coins) === 90 && Number(r.diamonds) === 63 && Number(r.hold_seconds) === 72 * 3600)).toBe(true);
    expect(committed.filter((g) => g.sendId === body.sendId)).toHaveLength(1);

    const history = await wallet.transactions(p.sender, { limit: 10 });
    expect(history.items[0]).toMatchObject({ kind: 'gift_sent', currency: 'coins', amount: -180, balanceAfter: 820 });
    expect(history.items[0]!.cause).toMatchObject({ sendId: body.sendId, giftId });
    expect(await ledgerDisagreements(stack.dataSource, [p.sender, p.host, p.listener])).toEqual([]);
  });

  it('answers a replayed Idempotency-Key with the first response and applies it once', async () => {
    const p = await party();
    const giftId = await createTestGift(stack.dataSource, { priceCoins: 50 });
    const key = randomUUID();
    const first = await send(p, giftId, { idempotencyKey: key });
    const again = await send(p, giftId, { idempotencyKey: key });
    expect(again).toEqual({ ...first, replayed: true });
    expect(await coins(p.sender)).toBe(950);
    expect(await sendsBy(p.sender)).toBe(1);

    await expect(send(p, giftId, { idempotencyKey: key, quantity: 2 })).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await coins(p.sender)).toBe(950);
  });

  it('answers a replay with the first response even after the receiver has left the room', async () => {
    const p = await party();
    const giftId = await createTestGift(stack.dataSource, { priceCoins: 20 });
    const key = randomUUID();
    const first = await send(p, giftId, { idempotencyKey: key });
    await live.leave(p.room.id, p.host);
    expect(await send(p, giftId, { idempotencyKey: key })).toEqual({ ...first, replayed: true });
    expect(code(await attempt(send(p, giftId)))).toBe('GIFT_RECEIVER_NOT_IN_ROOM');
    expect(await coins(p.sender)).toBe(980);
  });

  it('refuses a key still in flight instead of applying it twice', async () => {
    const p = await party();
    const giftId = await createTestGift(stack.dataSource, { priceCoins: 10 });
    const key = randomUUID();
    const replies = await Promise.allSettled(Array.from({ length: 6 }, () => send(p, giftId, { idempotencyKey: key })));
    const outcomes = replies.map((r) => (r.status === 'fulfilled' ? String(r.value.status) : (r.reason as { code: string }).code));
    expect(outcomes.every((o) => o === '201' || o === 'IDEMPOTENCY_KEY_IN_FLIGHT')).toBe(true);
    expect(outcomes).toContain('201');
    expect(await sendsBy(p.sender)).toBe(1);
    expect(await coins(p.sender)).toBe(990);
  });

  it('refuses clearly and changes nothing', async () => {
    const p = await party(100);
    const cheap = await createTestGift(stack.dataSource, { priceCoins: 10 });
    const dear = await createTestGift(stack.dataSource, { priceCoins: 101 });
    const regional = await createTestGift(stack.dataSource, { regions: ['IN'] });
    const vip = await createTestGift(stack.dataSource, { minVipTier: 2 });
    const outsider = await stack.newUser();
    const cases: [string, Partial<SendGift>, string, number][] = [
      ['not enough coins', { giftId: dear }, 'INSUFFICIENT_FUNDS', 409],
      ['not offered in the region', { giftId: regional }, 'GIFT_NOT_OFFERED', 422],
      ['above the VIP tier', { giftId: vip }, 'GIFT_VIP_REQUIRED', 403],
      ['to oneself', { giftId: cheap, to: { users: [p.sender] } }, 'GIFT_TO_SELF', 422],
      ['to someone not in the room', { giftId: cheap, to: { users: [outsider.id] } }, 'GIFT_RECEIVER_NOT_IN_ROOM', 422],
      ['an unknown gift', { giftId: 'no-such-gift' }, 'GIFT_NOT_FOUND', 404],
      ['to too many', { giftId: cheap, to: { everyone: 'room' } }, 'GIFT_TOO_MANY_RECEIVERS', 422],
    ];
    for (let i = 0; i < 3; i += 1) await janitor.enter(p.room, (await stack.newUser()).id); // 5 others: above maxReceivers 3
    for (const [why, overrides, expected, status] of cases) {
      const reply = await attempt(send(p, overrides.giftId!, overrides));
      expect({ why, code: code(reply) }).toEqual({ why, code: expected });
      expect({ why, status: reply.status }).toEqual({ why, status });
    }
    expect(code(await attempt(send({ ...p, sender: outsider.id }, cheap)))).toBe('NOT_IN_ROOM');
    expect(await coins(p.sender)).toBe(100);
    expect(await sendsBy(p.sender)).toBe(0);
    expect(await wallet.view(p.host)).toMatchObject({ diamondsPending: 0 });
  });

  it('applies a regional price and lets a VIP send an exclusive gift', async () => {
    const p = await party();
    await stack.dataSource.query(`UPDATE users SET region = 'IN', vip_tier = 2, vip_expires_at = now() + interval '30 days' WHERE id = $1`, [p.sender]);
    const regional = await createTestGift(stack.dataSource, { priceCoins: 40, regions: ['IN', 'PK'], regionPrices: { IN: 25 }, minVipTier: 2 });
    const reply = await send(p, regional);
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({ totalCoins: 25 });
  });

  it('refuses gifts across a block in either direction; "everyone" leaves blocked users out', async () => {
    const p = await party();
    const giftId = await createTestGift(stack.dataSource);
    const relations = new Relations(stack.dataSource);
    await relations.block(p.host, p.sender);
    expect(code(await attempt(send(p, giftId)))).toBe('GIFT_BLOCKED');
    await relations.unblock(p.host, p.sender);
    await relations.block(p.sender, p.listener);
    expect(code(await attempt(send(p, giftId, { to: { users: [p.listener] } })))).toBe('GIFT_BLOCKED');

    const everyone = await send(p, giftId, { to: { everyone: 'room' } });
    expect(everyone.status).toBe(201);
    expect((everyone.body as { receivers: { userId: string }[] }).receivers.map((r) => r.userId)).toEqual([p.host]);
  });

  it('reaches everyone seated, the sender excluded', async () => {
    const p = await party();
    await rooms.takeSeat(p.listener, p.room.id, 2);
    await rooms.takeSeat(p.sender, p.room.id, 1);
    const giftId = await createTestGift(stack.dataSource, { priceCoins: 5 });
    const reply = await send(p, giftId, { to: { everyone: 'seated' } });
    expect((reply.body as { receivers: { userId: string }[] }).receivers.map((r) => r.userId).sort()).toEqual([p.host, p.listener].sort());
    expect(reply.body).toMatchObject({ totalCoins: 10 });
  });

  it('refuses gifting while coins are owed after a refund', async () => {
    const p = await party(10);
    await stack.dataSource.transaction((tx) => stack.ledger.clawbackCoins({ userId: p.sender, amount: 25, idempotencyKey: `void:${randomUUID()}` }, tx));
    expect(await wallet.view(p.sender)).toMatchObject({ coins: 0, coinsOwed: 15 });
    const giftId = await createTestGift(stack.dataSource, { priceCoins: 1 });
    expect(code(await attempt(send(p, giftId)))).toBe('COINS_OWED');

    // The next credit pays the debt first.
    await fundCoins(stack, p.sender, 40);
    expect(await wallet.view(p.sender)).toMatchObject({ coins: 25, coinsOwed: 0 });
    expect((await send(p, giftId)).status).toBe(201);
    expect(await ledgerDisagreements(stack.dataSource, [p.sender])).toEqual([]);
  });

  it('caps what one sender gives one receiver in a day, counting nothing for a refused send', async () => {
    const p = await party(20_000);
    const giftId = await createTestGift(stack.dataSource, { priceCoins: 2_000 });
    expect((await send(p, giftId, { quantity: 2 })).status).toBe(201);
    const over = await attempt(send(p, giftId, { quantity: 1 }));
    expect(code(over)).toBe('GIFT_PAIR_DAILY_CAP');
    expect((await send(p, giftId, { to: { users: [p.listener] } })).status).toBe(201);
    const [pair] = (await stack.dataSource.query(`SELECT coins FROM gift_pair_daily_totals WHERE sender_id = $1 AND receiver_id = $2`, [p.sender, p.host])) as { coins: string }[];
    expect(Number(pair!.coins)).toBe(4_000);
    expect(await coins(p.sender)).toBe(14_000);
  });

  it('commits all of it or none of it: a receipt that cannot be written undoes the debit', async () => {
    const p = await party();
    const giftId = await createTestGift(stack.dataSource);
    // A member in the live room with no user row: the receipt's foreign key fails after the debit.
    const ghost = randomUUID();
    await live.join(p.room.id, ghost, randomUUID());
    await expect(send(p, giftId, { to: { users: [p.host, ghost] } })).rejects.toThrow();
    expect(await coins(p.sender)).toBe(1_000);
    expect(await sendsBy(p.sender)).toBe(0);
    expect(await wallet.view(p.host)).toMatchObject({ diamondsPending: 0 });
    await live.leave(p.room.id, ghost);
  });
});

describe('exchanging diamonds', () => {
  it('exchanges whole lots at the rate, once per key, and refuses below the minimum', async () => {
    const user = await stack.newUser();
    await fundDiamonds(stack, user.id, 1_000);
    const key = randomUUID();
    const first = await wallet.exchange(user.id, 300, key);
    expect(first).toMatchObject({ status: 201, replayed: false, body: { diamonds: 300, coins: 210, diamondBalance: 700, coinBalance: 210 } });
    expect(await wallet.exchange(user.id, 300, key)).toEqual({ ...first, replayed: true });
    expect(code(await attempt(wallet.exchange(user.id, 100, randomUUID())))).toBe('EXCHANGE_BELOW_MINIMUM');
    expect(code(await attempt(wallet.exchange(user.id, 250, randomUUID())))).toBe('EXCHANGE_AMOUNT_INVALID');
    expect(code(await attempt(wallet.exchange(user.id, 800, randomUUID())))).toBe('INSUFFICIENT_FUNDS');
    expect(await wallet.view(user.id)).toMatchObject({ coins: 210, diamonds: 700 });
    expect(await ledgerDisagreements(stack.dataSource, [user.id])).toEqual([]);
  });

  it('pays down coins owed from the coins it credits', async () => {
    const user = await stack.newUser();
    await fundDiamonds(stack, user.id, 200);
    await stack.dataSource.transaction((tx) => stack.ledger.clawbackCoins({ userId: user.id, amount: 100, idempotencyKey: `void:${randomUUID()}` }, tx));
    const reply = await wallet.exchange(user.id, 200, randomUUID());
    expect(reply.body).toMatchObject({ coins: 140, coinsRecovered: 100, coinBalance: 40 });
    expect(await wallet.view(user.id)).toMatchObject({ coins: 40, coinsOwed: 0, diamonds: 0 });
  });
});

describe('the transaction history', () => {
  it('pages newest first with a cursor and filters by currency', async () => {
    const user = await stack.newUser();
    for (let i = 1; i <= 5; i += 1) await fundCoins(stack, user.id, i);
    await fundDiamonds(stack, user.id, 9);
    const first = await wallet.transactions(user.id, { limit: 4 });
    expect(first.items.map((t) => t.amount)).toEqual([9, 5, 4, 3]);
    const second = await wallet.transactions(user.id, { limit: 4, cursor: first.nextCursor! });
    expect(second.items.map((t) => t.amount)).toEqual([2, 1]);
    expect(second.nextCursor).toBeNull();
    const diamonds = await wallet.transactions(user.id, { limit: 10, currency: 'diamonds' });
    expect(diamonds.items.map((t) => [t.currency, t.balanceAfter])).toEqual([['diamonds', 9]]);
  });
});
