import { randomUUID } from 'node:crypto';
import { comboKey, GiftCombos } from '../../db/live/gift-combos';
import type { CatalogGift, GiftAnimation } from '../../domain/economy/gifts';
import { RedisUserEventPublisher } from '../../platform/events/publisher';
import { createEconomyServices } from '../../services/wallet';
import { createRedis } from '../../platform/redis';
import { createGiftAnnouncer, GiftAnnouncer, type CommittedGift } from '../../services/gifts/announcer';
import { startEdge, testLogger } from '../support/app-harness';
import { createTestGift, fundCoins, uncachedCatalog } from '../support/economy';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createRoom, createUser, join, type TestUser } from '../support/rooms';
import { TestSocket } from '../support/ws-client';

/** Gift events on the real edge: the room's gift.sent and combo updates, the receiver's gift.received. */
let stack: RealStack;
let edge: Awaited<ReturnType<typeof startEdge>>;
let announcer: GiftAnnouncer;
let owner: TestUser;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  stack = await connectRealStack('gift-events');
  edge = await startEdge(stack);
  announcer = createGiftAnnouncer({ config: { GIFT_COMBO_WINDOW_MS: 3_000 }, redis: stack.redis, live: edge.live, logger: testLogger });
  owner = await createUser(stack, 'Owner');
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()));
  await edge?.close();
  await stack?.close();
});

function catalogGift(priceCoins: number, display: GiftAnimation['display'], name = 'Rose'): CatalogGift {
  return {
    id: randomUUID(), // a fresh gift per test, so combos never span tests
    categoryId: randomUUID(),
    names: { en: name, ar: `${name} (ar)` },
    priceCoins,
    diamondValue: Math.floor(priceCoins / 2),
    regions: null,
    regionPrices: {},
    minVipTier: 0,
    sortOrder: 1,
    enabled: true,
    animation: { format: 'svga', url: `https://cdn.aura.test/gifts/${name.toLowerCase()}.svga`, durationMs: 4_000, display },
  };
}

function sendOf(roomId: string, senderId: string, gift: CatalogGift, receiverIds: string[], quantity = 1): CommittedGift {
  return {
    sendId: randomUUID(),
    roomId,
    senderId,
    at: new Date(),
    gift,
    quantity,
    totalCoins: gift.priceCoins * quantity * receiverIds.length,
    receivers: receiverIds.map((userId) => ({ userId, receiptId: randomUUID(), coins: gift.priceCoins * quantity, diamonds: gift.diamondValue * quantity })),
  };
}

/** A room with a sender, two receivers and a bystander, each listening on a socket. */
async function roomWithListeners() {
  const room = await createRoom(edge.rooms, owner.userId);
  const [sender, alice, bob, bystander] = await Promise.all(['Sender', 'Alice', 'Bob', 'Bystander'].map((name) => createUser(stack, name)));
  const listen = async (user: TestUser) => {
    const socket = await TestSocket.connect(edge.url, { token: user.token });
    sockets.push(socket);
    await join(socket, room.id);
    return socket;
  };
  return {
    room,
    sender: sender!,
    alice: { ...alice!, socket: await listen(alice!) },
    bob: { ...bob!, socket: await listen(bob!) },
    bystander: { ...bystander!, socket: await listen(bystander!) },
  };
}

type Event = Record<string, unknown> & { type: string; data: Record<string, unknown> & { combo: { id: string; count: number; endsAt?: number } } };

const giftEvents = (socket: TestSocket, roomId: string, comboId: string) =>
  socket.roomEvents(roomId).filter((e) => e.type.startsWith('gift.') && (e as unknown as Event).data.combo.id === comboId) as unknown as Event[];

const receivedBy = (socket: TestSocket, comboId: string) =>
  socket.log.filter((m) => m.type === 'gift.received' && (m as Event).data.combo.id === comboId) as Event[];

/** Everything published to the user before this marker has reached their socket. */
async function drainUserChannel(user: TestUser & { socket: TestSocket }): Promise<void> {
  const id = `marker-${randomUUID()}`;
  await new RedisUserEventPublisher(stack.redis).publishToUser(user.userId, { id, type: 'test.marker', at: new Date().toISOString(), data: {} });
  await user.socket.until((m) => m.id === id);
}

it('tells every member about a send with its animation and a priority, and the receiver personally', async () => {
  const { room, sender, alice, bob, bystander } = await roomWithListeners();
  const rose = catalogGift(10, 'banner');
  const send = sendOf(room.id, sender.userId, rose, [alice.userId], 3);
  await announcer.announce(send);

  for (const listener of [alice, bob, bystander]) {
    const event = await listener.socket.until((m) => m.type === 'gift.sent' && (m as Event).data.sendId === send.sendId);
    expect(event).toMatchObject({
      room: room.id,
      seq: expect.any(Number),
      data: {
        sendId: send.sendId,
        senderId: sender.userId,
        receiverIds: [alice.userId],
        receiverCount: 1,
        gift: { id: rose.id, name: 'Rose', animation: rose.animation },
        quantity: 3,
        totalCoins: 30,
        priority: 1,
        combo: { id: send.sendId, count: 3, endsAt: expect.any(Number) },
      },
    });
  }

  const received = await alice.socket.until((m) => m.type === 'gift.received');
  expect(received).toEqual({
    id: `gift:${send.sendId}:${alice.userId}`,
    type: 'gift.received',
    at: send.at.toISOString(),
    data: {
      sendId: send.sendId,
      sends: 1,
      roomId: room.id,
      senderId: sender.userId,
      gift: { id: rose.id, name: 'Rose', animation: rose.animation },
      quantity: 3,
      diamonds: rose.diamondValue * 3,
      combo: { id: send.sendId, count: 3 },
    },
  });
  // Members who were not sent it get the room event only.
  await Promise.all([drainUserChannel(bob), drainUserChannel(bystander)]);
  expect(bob.socket.log.filter((m) => m.type === 'gift.received')).toEqual([]);
  expect(bystander.socket.log.filter((m) => m.type === 'gift.received')).toEqual([]);
});

it('ranks a full-screen castle above a rose, and caps the receivers listed in the room event', async () => {
  const { room, sender, alice, bob } = await roomWithListeners();
  const rose = sendOf(room.id, sender.userId, catalogGift(1, 'banner'), [alice.userId]);
  const others = Array.from({ length: 30 }, () => randomUUID());
  const castle = sendOf(room.id, sender.userId, catalogGift(30_000, 'fullscreen', 'Castle'), [alice.userId, bob.userId, ...others]);
  await announcer.announce(rose);
  await announcer.announce(castle);

  const roseEvent = (await bob.socket.until((m) => (m as Event).data?.sendId === rose.sendId)) as Event;
  const castleEvent = (await bob.socket.until((m) => (m as Event).data?.sendId === castle.sendId)) as Event;
  expect(roseEvent.data.priority).toBe(1);
  expect(castleEvent.data.priority).toBe(5); // 30,000 coins to 32 receivers
  expect(castleEvent.data).toMatchObject({ receiverCount: 32, gift: { animation: { display: 'fullscreen' } } });
  expect(castleEvent.data.receiverIds).toHaveLength(20);
  expect(castleEvent.data.receiverIds).toEqual([alice.userId, bob.userId, ...others.slice(0, 18)]);
  // Each listed receiver still gets their own event.
  expect(await bob.socket.until((m) => m.id === `gift:${castle.sendId}:${bob.userId}`)).toMatchObject({ data: { diamonds: 15_000 } });
});

it('turns 10 rapid sends into one combo that counts up to 10 in a few events, for the room and the receiver', async () => {
  const { room, sender, alice, bystander } = await roomWithListeners();
  const rose = catalogGift(10, 'banner');
  const sends = Array.from({ length: 10 }, () => sendOf(room.id, sender.userId, rose, [alice.userId]));
  for (const send of sends) await announcer.announce(send);
  const comboId = sends[0]!.sendId;

  const last = (await bystander.socket.until((m) => m.type === 'gift.combo' && (m as Event).data.combo.count === 10)) as Event;
  expect(last.data).toMatchObject({ sendId: sends[9]!.sendId, totalCoins: 100, priority: 2, combo: { id: comboId, count: 10 } });
  const seen = giftEvents(bystander.socket, room.id, comboId);
  expect(seen[0]).toMatchObject({ type: 'gift.sent', data: { sendId: comboId, combo: { count: 1 } } });
  expect(seen.length).toBeLessThanOrEqual(4);
  expect(seen.slice(1).every((e) => e.type === 'gift.combo')).toBe(true);
  const counts = seen.map((e) => e.data.combo.count);
  expect(counts).toEqual([...counts].sort((a, b) => a - b));
  expect(counts.at(-1)).toBe(10);

  // The receiver's device: a few summed-up events, adding up to the 10 roses and their diamonds.
  await alice.socket.until((m) => m.type === 'gift.received' && (m as Event).data.combo.count === 10);
  const received = receivedBy(alice.socket, comboId);
  expect(received.length).toBeLessThanOrEqual(4);
  expect(received.reduce((n, e) => n + (e.data.quantity as number), 0)).toBe(10);
  expect(received.reduce((n, e) => n + (e.data.sends as number), 0)).toBe(10);
  expect(received.reduce((n, e) => n + (e.data.diamonds as number), 0)).toBe(rose.diamondValue * 10);
  expect(new Set(received.map((e) => e.id)).size).toBe(received.length);
  expect(received.at(-1)).toMatchObject({ id: `gift:${sends[9]!.sendId}:${alice.userId}` });
});

it('keeps combos apart by receiver and by gift, but not by the order receivers are listed in', async () => {
  const { room, sender, alice, bob } = await roomWithListeners();
  const rose = catalogGift(10, 'banner');
  const toAlice = sendOf(room.id, sender.userId, rose, [alice.userId]);
  const toBob = sendOf(room.id, sender.userId, rose, [bob.userId]);
  const lily = sendOf(room.id, sender.userId, catalogGift(10, 'banner', 'Lily'), [alice.userId]);
  const toBoth = sendOf(room.id, sender.userId, rose, [alice.userId, bob.userId]);
  const toBothAgain = sendOf(room.id, sender.userId, rose, [bob.userId, alice.userId]);
  for (const send of [toAlice, toBob, lily, toBoth, toBothAgain]) await announcer.announce(send);

  const started = async (send: CommittedGift) => (await bob.socket.until((m) => m.type === 'gift.sent' && (m as Event).data.sendId === send.sendId)) as Event;
  const ids = await Promise.all([toAlice, toBob, lily, toBoth].map(async (send) => (await started(send)).data.combo.id));
  expect(ids).toEqual([toAlice.sendId, toBob.sendId, lily.sendId, toBoth.sendId]);
  const again = (await bob.socket.until((m) => m.type === 'gift.combo' && (m as Event).data.sendId === toBothAgain.sendId)) as Event;
  expect(again.data.combo).toMatchObject({ id: toBoth.sendId, count: 2 });
});

it('counts one combo across API processes, and counts a send announced twice once', async () => {
  const { room, sender, alice, bystander } = await roomWithListeners();
  const otherProcess = createGiftAnnouncer({ config: { GIFT_COMBO_WINDOW_MS: 3_000 }, redis: stack.redis, live: edge.live, logger: testLogger });
  const rose = catalogGift(10, 'banner');
  const first = sendOf(room.id, sender.userId, rose, [alice.userId], 2);
  const second = sendOf(room.id, sender.userId, rose, [alice.userId], 5);
  await announcer.announce(first);
  await announcer.announce(first); // a duplicate call: nothing more
  await otherProcess.announce(second);
  await otherProcess.announce(second);

  const update = (await bystander.socket.until((m) => m.type === 'gift.combo' && (m as Event).data.combo.id === first.sendId)) as Event;
  expect(update.data).toMatchObject({ sendId: second.sendId, totalCoins: 70, combo: { count: 7 } });
  await otherProcess.flush();
  await drainUserChannel(alice);
  expect(giftEvents(bystander.socket, room.id, first.sendId).map((e) => e.type)).toEqual(['gift.sent', 'gift.combo']);
  expect(receivedBy(alice.socket, first.sendId).map((e) => e.data.quantity)).toEqual([2, 5]);
});

it('starts a new combo once the window has passed', async () => {
  const { room, sender, alice, bystander } = await roomWithListeners();
  const rose = catalogGift(10, 'banner');
  const first = sendOf(room.id, sender.userId, rose, [alice.userId]);
  const later = sendOf(room.id, sender.userId, rose, [alice.userId]);
  await announcer.announce(first);
  // The window is Redis's expiry on the combo key: end it rather than wait it out.
  await stack.redis.del(comboKey({ roomId: room.id, senderId: sender.userId, giftId: rose.id, receiverIds: [alice.userId] }));
  await announcer.announce(later);
  expect(await bystander.socket.until((m) => m.type === 'gift.sent' && (m as Event).data.sendId === later.sendId)).toMatchObject({
    data: { combo: { id: later.sendId, count: 1 } },
  });
  // The key lives exactly one window past the latest send.
  const ttl = await stack.redis.pttl(comboKey({ roomId: room.id, senderId: sender.userId, giftId: rose.id, receiverIds: [alice.userId] }));
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(3_000);
});

it('without combos (window 0) every send is its own gift.sent', async () => {
  const { room, sender, alice, bystander } = await roomWithListeners();
  const noCombos = createGiftAnnouncer({ config: { GIFT_COMBO_WINDOW_MS: 0 }, redis: stack.redis, live: edge.live, logger: testLogger });
  const rose = catalogGift(10, 'banner');
  const sends = [sendOf(room.id, sender.userId, rose, [alice.userId]), sendOf(room.id, sender.userId, rose, [alice.userId])];
  for (const send of sends) await noCombos.announce(send);
  for (const send of sends) {
    expect(await bystander.socket.until((m) => m.type === 'gift.sent' && (m as Event).data.sendId === send.sendId)).toMatchObject({
      data: { combo: { id: send.sendId, count: 1 } },
    });
  }
});

it('is told by the send path once the gift commits (GiftService listener)', async () => {
  const { room, sender, alice, bob } = await roomWithListeners();
  const senderSocket = await TestSocket.connect(edge.url, { token: sender.token });
  sockets.push(senderSocket);
  await join(senderSocket, room.id);
  await fundCoins(stack, sender.userId, 1_000);
  const { gifts } = createEconomyServices({
    config: stack.config,
    dataSource: stack.dataSource,
    live: edge.live,
    catalog: uncachedCatalog(stack.dataSource),
    listeners: [announcer],
  });
  const giftId = await createTestGift(stack.dataSource, { priceCoins: 30, diamondValue: 21 });
  const reply = await gifts.send({ senderId: sender.userId, roomId: room.id, giftId, quantity: 2, to: { users: [alice.userId, bob.userId] }, idempotencyKey: randomUUID() });
  expect(reply.status).toBe(201);
  const { sendId } = reply.body as { sendId: string };

  expect(await senderSocket.until((m) => m.type === 'gift.sent')).toMatchObject({
    room: room.id,
    data: { sendId, senderId: sender.userId, receiverCount: 2, quantity: 2, totalCoins: 120, priority: 2, gift: { id: giftId }, combo: { id: sendId, count: 2 } },
  });
  for (const receiver of [alice, bob]) {
    expect(await receiver.socket.until((m) => m.type === 'gift.received')).toMatchObject({ id: `gift:${sendId}:${receiver.userId}`, data: { quantity: 2, diamonds: 42 } });
  }
});

describe('after the gift committed, a failed event never fails the send', () => {
  it('Redis unreachable: announce resolves, counts the failure, publishes nothing', async () => {
    const dead = createRedis('redis://127.0.0.1:1/0', { name: 'dead' });
    dead.on('error', () => undefined);
    try {
      const offline = createGiftAnnouncer({ config: { GIFT_COMBO_WINDOW_MS: 3_000 }, redis: dead, live: edge.live, logger: testLogger });
      const send = sendOf(randomUUID(), randomUUID(), catalogGift(10, 'banner'), [randomUUID()]);
      await expect(offline.announce(send)).resolves.toBeUndefined();
      await expect(offline.announce({ ...send, sendId: randomUUID() })).resolves.toBeUndefined();
      expect(await failures(offline)).toEqual({ combo: 2 });
    } finally {
      dead.disconnect();
    }
  });

  it('the room event fails: the receiver is still told, and announce resolves', async () => {
    const { room, sender, alice } = await roomWithListeners();
    const broken = new GiftAnnouncer({
      combos: new GiftCombos(stack.redis, 3_000),
      room: { emit: () => Promise.reject(new Error('Command timed out')) },
      users: new RedisUserEventPublisher(stack.redis),
      logger: testLogger,
    });
    const rose = catalogGift(10, 'banner');
    const first = sendOf(room.id, sender.userId, rose, [alice.userId]);
    const second = sendOf(room.id, sender.userId, rose, [alice.userId]);
    await expect(broken.announce(first)).resolves.toBeUndefined();
    await expect(broken.announce(second)).resolves.toBeUndefined();
    await broken.flush(); // the combo update fails the same way, off the caller's path
    expect(await alice.socket.until((m) => m.id === `gift:${second.sendId}:${alice.userId}`)).toMatchObject({ data: { combo: { id: first.sendId, count: 2 } } });
    expect(await failures(broken)).toEqual({ room: 2 });
    expect(alice.socket.roomEvents(room.id).filter((e) => e.type.startsWith('gift.'))).toEqual([]);
  });
});

async function failures(announcer: GiftAnnouncer): Promise<Record<string, number>> {
  const { values } = await announcer.failures.get();
  return Object.fromEntries(values.filter((v) => v.value > 0).map((v) => [v.labels.step as string, v.value]));
}
