import { randomUUID } from 'node:crypto';
import { LiveStateRefusal, type RoomLiveState } from '../../db/live/room-live-state';
import { createRoomService } from '../../services/rooms';
import type { RoomService } from '../../services/rooms/room-service';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createRoom, createUser } from '../support/rooms';

/** The live-state script's own rules, straight against the real Redis. */
let stack: RealStack;
let rooms: RoomService;
let live: RoomLiveState;
let ownerId: string;

beforeAll(async () => {
  stack = await connectRealStack('rooms-live-state');
  ({ rooms, live } = createRoomService({ config: stack.config, dataSource: stack.dataSource, redis: stack.redis }));
  ownerId = (await createUser(stack, 'Owner')).userId;
});

afterAll(async () => {
  await stack?.close();
});

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'allowed',
    (err: unknown) => (err instanceof LiveStateRefusal ? err.code : err),
  );

async function roomWith(...userIds: string[]) {
  const room = await createRoom(rooms, ownerId);
  for (const userId of userIds) await live.join(room.id, userId, randomUUID());
  return room;
}

it('refuses a moderator action on a seat whose occupant changed since the moderator looked', async () => {
  const [first, second] = [randomUUID(), randomUUID()];
  const room = await roomWith(first, second);
  await live.takeSeat(room.id, first, 3, false);
  await live.leaveSeat(room.id, first);
  await live.takeSeat(room.id, second, 3, false);
  expect(await refusal(live.muteSeat(room.id, ownerId, 3, true, first))).toBe('SEAT_CHANGED');
  expect(await refusal(live.lockSeat(room.id, ownerId, 3, true, first))).toBe('SEAT_CHANGED');
  expect((await live.snapshot(room.id)).seats[3]).toMatchObject({ userId: second, locked: false, mutedByAdmin: false });
  expect(await refusal(live.muteSeat(room.id, ownerId, 3, true, second))).toBe('allowed');
});

it("keeps a moderator's mute on a speaker who steps down and takes a seat again", async () => {
  const speaker = randomUUID();
  const room = await roomWith(speaker);
  await live.takeSeat(room.id, speaker, 2, false);
  await live.muteSeat(room.id, ownerId, 2, true, speaker);
  await live.leaveSeat(room.id, speaker);
  await live.takeSeat(room.id, speaker, 5, false);
  expect((await live.snapshot(room.id)).seats[5]).toMatchObject({ userId: speaker, mutedByAdmin: true });
  expect(await refusal(live.muteOwnSeat(room.id, speaker, false))).toBe('SEAT_MUTED_BY_ADMIN');
});

it('keeps a banned user out even when their join already passed the PostgreSQL check', async () => {
  const user = randomUUID();
  const room = await roomWith();
  await live.removeMember(room.id, user, 'banned', ownerId); // the ban lands between admit and join
  expect(await refusal(live.join(room.id, user, randomUUID()))).toBe('ROOM_BANNED');
  await live.unban(room.id, user);
  expect(await refusal(live.join(room.id, user, randomUUID()))).toBe('allowed');
});

it("drops every lease of a removed member, so their other devices' edges learn it at renewal", async () => {
  const user = randomUUID();
  const [phone, tablet] = [randomUUID(), randomUUID()];
  const room = await roomWith();
  await live.join(room.id, user, phone);
  await live.join(room.id, user, tablet);
  await live.leave(room.id, user);
  expect(await live.renewLeases([`${room.id}|${user}|${phone}`, `${room.id}|${user}|${tablet}`])).toHaveLength(2);
  // The tablet closing later can't mark a rejoined user "away".
  await live.join(room.id, user, randomUUID());
  await live.dropConnection(room.id, user, tablet);
  expect((await live.members(room.id, { afterScore: 0, afterUser: '', limit: 10 })).items).toEqual([
    expect.objectContaining({ userId: user, connected: true }),
  ]);
});

it('tells the room when a queued applicant got a seat another way', async () => {
  const hopeful = randomUUID();
  const room = await createRoom(rooms, ownerId, { seatMode: 'apply' });
  await live.join(room.id, hopeful, randomUUID());
  await live.apply(room.id, hopeful);
  const before = (await live.snapshot(room.id)).seq;
  await live.invite(room.id, ownerId, hopeful, 4, 60_000);
  await live.answerInvite(room.id, hopeful, true);
  const { events } = await live.readEvents(room.id, before, (await live.snapshot(room.id)).epoch);
  const types = events.map((e) => (JSON.parse(e) as { type: string; data: Record<string, unknown> }));
  expect(types.map((e) => e.type)).toEqual(['seat.invited', 'seat.updated', 'seat.application-resolved']);
  expect(types[2]!.data).toEqual({ userId: hopeful, approved: true, reason: 'invited' });
  expect((await live.snapshot(room.id)).applicationCount).toBe(0);
});

it("lets a closed room's live state expire instead of keeping it forever", async () => {
  const room = await roomWith(randomUUID());
  await live.emit(room.id, 'test.tick', {});
  await live.close(room.id, 'owner', ownerId);
  for (const suffix of ['meta', 'seats', 'seq', 'events', 'chat']) {
    const ttl = await stack.redis.pttl(`aura:room:{${room.id}}:${suffix}`);
    if (suffix === 'chat' && ttl === -2) continue; // a room with no chat has no chat key
    expect({ suffix, expires: ttl > 0 && ttl <= 3_600_000 }).toEqual({ suffix, expires: true });
  }
});

it('does not close a room as empty when someone came and went after the sweep read its deadline', async () => {
  const room = await roomWith();
  const now = Date.now();
  const visitor = randomUUID();
  const conn = randomUUID();
  await live.join(room.id, visitor, conn);
  await live.leave(room.id, visitor); // empty again: a fresh deadline, 10 minutes from now
  expect(await live.closeIfEmpty(room.id, now + 1_000)).toBe(false);
  expect((await live.snapshot(room.id)).status).toBe('open');
});

it('rebuilds a lost room only with its mutes in hand: chat mutes until their recorded end, seat mutes, mute-all', async () => {
  const room = await createRoom(rooms, ownerId);
  const [muted, ended, speaker] = [randomUUID(), randomUUID(), randomUUID()];
  await live.join(room.id, speaker, randomUUID());
  await live.muteAll(room.id, ownerId, false);
  // Redis loses the room (its keys only: other suites share this Redis).
  const lost = await stack.redis.keys(`aura:room:{${room.id}}:*`);
  await stack.redis.del(...lost);

  expect(await live.init(room, randomUUID())).toBe('needs-records');
  await expect(live.join(room.id, muted, randomUUID())).rejects.toMatchObject({ code: 'ROOM_NOT_LIVE' });
  const now = Date.now();
  const records = { chatMutes: [{ userId: muted, until: now + 60_000 }, { userId: ended, until: now - 1 }], seatMutes: [speaker], muteAll: true };
  expect(await live.init(room, randomUUID(), records)).toBe('created');
  // A live room keeps its state: a second rebuild with other records changes nothing.
  expect(await live.init(room, randomUUID(), { chatMutes: [], seatMutes: [], muteAll: false })).toBe('live');

  for (const user of [muted, ended, speaker]) await live.join(room.id, user, randomUUID());
  const snapshot = await live.snapshot(room.id, muted);
  expect(snapshot).toMatchObject({ muteAll: true, chatMutedUntil: now + 60_000 });
  expect(await refusal(live.checkChat(room.id, muted, true))).toBe('CHAT_MUTED');
  expect(await refusal(live.checkChat(room.id, ended, false))).toBe('CHAT_MUTED'); // mute-all
  expect(await refusal(live.checkChat(room.id, ended, true))).toBe('allowed'); // their own mute ended
  expect(await live.takeSeat(room.id, speaker, 1, false)).toMatchObject({ index: 1, userId: speaker, mutedByAdmin: true });
});
