import { randomUUID } from 'node:crypto';
import { startApi, startEdge } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createRoom, createUser, expectContiguous, join, type TestUser } from '../support/rooms';
import { TestSocket } from '../support/ws-client';

/** The room protocol on the real edge: snapshots, numbered events, chat over the socket, resume. */
let stack: RealStack;
let edge: Awaited<ReturnType<typeof startEdge>>;
let api: Awaited<ReturnType<typeof startApi>>;
let owner: TestUser;

beforeAll(async () => {
  stack = await connectRealStack('rooms-realtime');
  edge = await startEdge(stack);
  api = await startApi(stack);
  owner = await createUser(stack, 'Owner');
});

afterAll(async () => {
  await api?.close();
  await edge?.close();
  await stack?.close();
});

async function post(path: string, token: string, body: unknown = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${api.url}/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe('joining a room', () => {
  it('returns a snapshot at sequence N, then events N+1, N+2, … with no gap across snapshot and events', async () => {
    const room = await createRoom(edge.rooms, owner.userId);
    const listener = await createUser(stack, 'Listener');
    const speaker = await createUser(stack, 'Speaker');
    const watching = await TestSocket.connect(edge.url, { token: listener.token });
    const snapshot = await join(watching, room.id);
    expect(snapshot.data.seats).toHaveLength(9);
    expect(snapshot.data.memberCount).toBe(1);

    const talking = await TestSocket.connect(edge.url, { token: speaker.token });
    const second = await join(talking, room.id);
    expect(second.seq).toBeGreaterThan(snapshot.seq);
    expect(await post(`/rooms/${room.id}/seats/take`, speaker.token, { seat: 3 })).toMatchObject({ status: 204 });
    talking.send({ type: 'chat', room: room.id, text: 'hello room', clientMsgId: 'msg-00000001', ref: 'c1' });
    const ack = await talking.until((m) => m.ref === 'c1');
    expect(ack).toMatchObject({ type: 'ack', duplicate: false });

    const chat = await watching.until((m) => m.type === 'chat.message');
    expect(chat).toMatchObject({ room: room.id, data: { message: { body: 'hello room', senderId: speaker.userId } } });
    const events = watching.roomEvents(room.id);
    expect(events.map((e) => e.type)).toEqual(['member.joined', 'seat.updated', 'chat.message']);
    expectContiguous(events.map((e) => e.seq), snapshot.seq + 1, snapshot.seq + 3);
    expect(ack.seq).toBe(snapshot.seq + 3);

    // A late joiner's snapshot shows the seat and the chat, at the latest number.
    const late = await TestSocket.connect(edge.url, { token: (await createUser(stack)).token });
    const lateSnapshot = await join(late, room.id);
    expect(lateSnapshot.seq).toBe(snapshot.seq + 4); // its own member.joined
    expect(lateSnapshot.data.seats[3]).toMatchObject({ userId: speaker.userId });
    expect(lateSnapshot.data.recentChat).toContainEqual(expect.objectContaining({ body: 'hello room' }));
    await Promise.all([watching.close(), talking.close(), late.close()]);
  });

  it('publishes a chat message once when the client resends it after a lost ack', async () => {
    const room = await createRoom(edge.rooms, owner.userId);
    const user = await createUser(stack);
    const socket = await TestSocket.connect(edge.url, { token: user.token });
    await join(socket, room.id);
    const clientMsgId = `retry-${randomUUID()}`;
    socket.send({ type: 'chat', room: room.id, text: 'once', clientMsgId, ref: 'a' });
    socket.send({ type: 'chat', room: room.id, text: 'once', clientMsgId, ref: 'b' });
    const [first, second] = [await socket.until((m) => m.ref === 'a'), await socket.until((m) => m.ref === 'b')];
    expect(second).toMatchObject({ duplicate: true, messageId: first.messageId, seq: first.seq });
    const history = await fetch(`${api.url}/v1/rooms/${room.id}/messages`, { headers: { authorization: `Bearer ${user.token}` } });
    expect(((await history.json()) as { items: unknown[] }).items).toHaveLength(1);
    // A resend after a mute set since is still the accepted message, not a refusal.
    await edge.rooms.muteChat(owner.userId, room.id, user.userId, 60_000);
    socket.send({ type: 'chat', room: room.id, text: 'once', clientMsgId, ref: 'c' });
    expect(await socket.until((m) => m.ref === 'c')).toMatchObject({ type: 'ack', duplicate: true, seq: first.seq });
    socket.send({ type: 'chat', room: room.id, text: 'new', clientMsgId: `new-${randomUUID()}`, ref: 'd' });
    expect(await socket.until((m) => m.ref === 'd')).toMatchObject({ type: 'error', code: 'CHAT_MUTED' });
    await socket.close();
  });
});

describe('big rooms', () => {
  it('sums up listeners coming and going in one member.count per sweep, past the per-member event limit', async () => {
    const small = await startEdge(stack, { sweepMs: 3_600_000 }, { ROOM_MEMBER_EVENTS_MAX: 2 });
    try {
      const room = await createRoom(small.rooms, owner.userId);
      const users = await Promise.all(Array.from({ length: 5 }, () => createUser(stack)));
      const sockets = [];
      for (const user of users) {
        const socket = await TestSocket.connect(small.url, { token: user.token });
        await join(socket, room.id);
        sockets.push(socket);
      }
      await small.rooms.sweep();
      const watcher = sockets[0]!;
      const count = await watcher.until((m) => m.type === 'member.count');
      expect(count.data).toEqual({ memberCount: 5 });
      // One by one while the room was small (itself and the second), then summed up.
      expect(watcher.roomEvents(room.id).map((e) => e.type)).toEqual(['member.joined', 'member.count']);
      // A seat change in a big room is still told one by one.
      expect(await post(`/rooms/${room.id}/seats/take`, users[4]!.token, { seat: 1 })).toMatchObject({ status: 204 });
      expect(await watcher.until((m) => m.type === 'seat.updated')).toMatchObject({ data: { seats: [{ index: 1, userId: users[4]!.userId }] } });
      await Promise.all(sockets.map((s) => s.close()));
    } finally {
      await small.close();
    }
  });
});
