import { randomUUID } from 'node:crypto';
import { Sessions } from '../../services/auth/sessions';
import type { RoomLiveState } from '../../db/live/room-live-state';
import { AccountBans } from '../../db/repositories/account-bans';
import { Relations } from '../../db/repositories/relations';
import { ChatArchive } from '../../db/repositories/room-messages';
import { ModerationLog, Reports, RoomMutes } from '../../db/repositories/room-moderation';
import { RoomDirectory } from '../../db/repositories/rooms';
import { SessionStore } from '../../db/repositories/sessions';
import { BanList } from '../../platform/auth/ban-list';
import { RedisUserEventPublisher } from '../../platform/events/publisher';
import { BanService } from '../../services/bans';
import { RoomService } from '../../services/rooms/room-service';
import { startApi, startEdge, testLogger } from '../support/app-harness';
import { apiClient, UNLIMITED_RATES } from '../support/room-api';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createRoom, createUser, join, type TestUser } from '../support/rooms';
import { TestSocket, UpgradeRejected } from '../support/ws-client';

/**
 * PostgreSQL is the record, Redis a cache: after Redis loses everything (FLUSHALL), a banned
 * account stays out and every mute holds, because the ban list and each room's live state are
 * rebuilt from PostgreSQL.
 */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let edge: Awaited<ReturnType<typeof startEdge>>;
let http: ReturnType<typeof apiClient>;

beforeAll(async () => {
  stack = await connectRealStack('records-rebuild');
  [api, edge] = await Promise.all([startApi(stack, UNLIMITED_RATES), startEdge(stack)]);
  http = apiClient(api.url);
});

afterAll(async () => {
  await Promise.all([api?.close(), edge?.close()]);
  await stack?.close();
});

/** Sends a chat line and returns the reply (an ack, or the error with its code). */
async function chat(socket: TestSocket, roomId: string): Promise<Record<string, unknown>> {
  const ref = randomUUID();
  socket.send({ type: 'chat', room: roomId, text: 'hello?', clientMsgId: randomUUID(), ref });
  return socket.until((m) => m.ref === ref);
}

async function joined(user: TestUser, roomId: string): Promise<{ socket: TestSocket; snapshot: Record<string, unknown> }> {
  const socket = await TestSocket.connect(edge.url, { token: user.token });
  const reply = await join(socket, roomId);
  return { socket, snapshot: reply.data as unknown as Record<string, unknown> };
}

it('keeps a banned account out and every mute on after Redis is flushed; timed mutes end at their recorded time', async () => {
  const users = await Promise.all(['Owner', 'Muted', 'Expired', 'Speaker', 'Listener', 'Banned'].map((name) => createUser(stack, name)));
  const [owner, muted, expired, speaker, listener, banned] = users as [TestUser, TestUser, TestUser, TestUser, TestUser, TestUser];
  const { rooms } = edge;
  const room = await createRoom(rooms, owner.userId);
  const quiet = await createRoom(rooms, owner.userId);

  // Before: a chat mute, a mute that PostgreSQL says has ended, a moderator's seat mute, a room on mute-all, an account ban.
  const before = await Promise.all([joined(muted, room.id), joined(expired, room.id), joined(speaker, room.id), joined(listener, quiet.id)]);
  await rooms.takeSeat(speaker.userId, room.id, 2);
  await rooms.muteSeat(owner.userId, room.id, 2, true);
  const { until } = await rooms.muteChat(owner.userId, room.id, muted.userId, 10 * 60_000);
  await rooms.muteChat(owner.userId, room.id, expired.userId, 10 * 60_000);
  await rooms.muteAll(owner.userId, quiet.id, true);
  expect(await chat(before[0].socket, room.id)).toMatchObject({ type: 'error', code: 'CHAT_MUTED' });
  expect(await chat(before[1].socket, room.id)).toMatchObject({ type: 'error', code: 'CHAT_MUTED' });
  const sessions = new Sessions(new SessionStore(stack.dataSource), stack.tokens, stack.redis, new RedisUserEventPublisher(stack.redis), {
    accessTtlSeconds: 900,
    refreshTtlDays: 30,
    reuseGraceSeconds: 30,
  });
  const records = new AccountBans(stack.dataSource);
  await new BanService({ records, bans: new BanList(stack.redis, { records }), sessions, logger: testLogger }).ban({
    kind: 'user',
    subject: banned.userId,
    reason: 'abuse',
    by: 'test-operator',
  });
  await Promise.all(before.map(({ socket }) => socket.close()));
  // Time passes for one mute, as PostgreSQL records it (Redis still thinks it runs).
  await stack.dataSource.query(`UPDATE room_chat_mutes SET muted_until = now() - interval '1 second' WHERE room_id = $1 AND user_id = $2`, [room.id, expired.userId]);

  await stack.redis.flushall();

  // The banned account: refused by the API and the socket upgrade.
  const res = await fetch(`${api.url}/v1/me`, { headers: { authorization: `Bearer ${banned.token}` } });
  expect(res.status).toBe(403);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ACCOUNT_BANNED');
  await expect(TestSocket.connect(edge.url, { token: banned.token })).rejects.toEqual(new UpgradeRejected(403));
  // And a process that asks Redis (no in-memory copy, as a tool or a just-started process) finds the ban list rebuilt.
  const asking = new BanList(stack.redis, { records });
  expect(await asking.firstBanned([['user', banned.userId]])).toBe('user');
  expect(await stack.redis.hget('aura:bans', '~loaded')).toBe('1');

  // The chat-muted member: the room is rebuilt on their join, with the mute ending when it was recorded to.
  const after = await joined(muted, room.id);
  expect(after.snapshot.chatMutedUntil).toBe(Date.parse(until));
  expect(await chat(after.socket, room.id)).toMatchObject({ type: 'error', code: 'CHAT_MUTED' });
  // The mute PostgreSQL says is over is over.
  const free = await joined(expired, room.id);
  expect(free.snapshot.chatMutedUntil).toBeNull();
  expect(await chat(free.socket, room.id)).toMatchObject({ type: 'ack' });

  // The moderator's seat mute follows the speaker onto a seat in the rebuilt room.
  const seated = await joined(speaker, room.id);
  expect((await http.as(speaker).post(`/rooms/${room.id}/seats/take`, { seat: 4 })).status).toBe(204);
  const unmute = await http.as(speaker).post(`/rooms/${room.id}/seats/mute`, { muted: false });
  expect(unmute.status).toBe(403);
  expect((unmute.body as { error: { code: string } }).error.code).toBe('SEAT_MUTED_BY_ADMIN');
  const seat = await seated.socket.until((m) => m.type === 'seat.updated');
  expect((seat.data as { seats: unknown[] }).seats).toEqual([expect.objectContaining({ index: 4, userId: speaker.userId, mutedByAdmin: true })]);

  // Mute-all is still on.
  const listening = await joined(listener, quiet.id);
  expect(listening.snapshot.muteAll).toBe(true);
  expect(await chat(listening.socket, quiet.id)).toMatchObject({ type: 'error', code: 'CHAT_MUTED', details: { all: true } });

  await Promise.all([after, free, seated, listening].map(({ socket }) => socket.close()));
});

it('commits a seat mute and its audit row together, and neither when the live change is refused', async () => {
  const users = await Promise.all(['Owner', 'First', 'Second'].map((name) => createUser(stack, name)));
  const [owner, first, second] = users as [TestUser, TestUser, TestUser];
  const room = await createRoom(edge.rooms, owner.userId);
  const sockets = await Promise.all([joined(first, room.id), joined(second, room.id)]);
  await edge.rooms.takeSeat(first.userId, room.id, 3);
  const count = async () =>
    ((await stack.dataSource.query(
      `SELECT (SELECT count(*) FROM room_seat_mutes WHERE room_id = $1)::int AS mutes,
              (SELECT count(*) FROM room_moderation_log WHERE room_id = $1 AND action = 'seat-mute')::int AS audits`,
      [room.id],
    )) as { mutes: number; audits: number }[])[0];

  // The moderator saw `first` on seat 3; by the time the live change runs, `second` sits there.
  const live = edge.live;
  const racingLive = new Proxy(live, {
    get(target, prop) {
      if (prop === 'muteSeat') {
        return async (...args: Parameters<RoomLiveState['muteSeat']>) => {
          await target.leaveSeat(room.id, first.userId);
          await target.takeSeat(room.id, second.userId, 3, false);
          return target.muteSeat(...args);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const ds = stack.dataSource;
  const racing = new RoomService({
    rooms: new RoomDirectory(ds),
    chat: new ChatArchive(ds),
    moderationLog: new ModerationLog(ds),
    mutes: new RoomMutes(ds),
    reports: new Reports(ds),
    relations: new Relations(ds),
    live: racingLive,
  });
  await expect(racing.muteSeat(owner.userId, room.id, 3, true)).rejects.toMatchObject({ code: 'SEAT_CHANGED' });
  expect(await count()).toEqual({ mutes: 0, audits: 0 });
  expect((await live.snapshot(room.id)).seats[3]).toMatchObject({ userId: second.userId, mutedByAdmin: false });

  await edge.rooms.muteSeat(owner.userId, room.id, 3, true);
  expect(await count()).toEqual({ mutes: 1, audits: 1 });
  await Promise.all(sockets.map(({ socket }) => socket.close()));
});

it('refuses to mute a user who does not exist (404, nothing recorded or audited)', async () => {
  const owner = await createUser(stack, 'Owner');
  const room = await createRoom(edge.rooms, owner.userId);
  const nobody = randomUUID();
  await expect(edge.rooms.muteChat(owner.userId, room.id, nobody, 60_000)).rejects.toMatchObject({ code: 'USER_NOT_FOUND' });
  const rows: unknown[] = await stack.dataSource.query(
    `SELECT 1 FROM room_chat_mutes WHERE room_id = $1 UNION ALL SELECT 1 FROM room_moderation_log WHERE room_id = $1`,
    [room.id],
  );
  expect(rows).toEqual([]);
  expect((await edge.live.snapshot(room.id, nobody)).chatMutedUntil).toBeNull();
});
