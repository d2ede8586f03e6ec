import { randomUUID } from 'node:crypto';
import { BanList } from '../../platform/auth/ban-list';
import { startEdge } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createRoom, createUser, expectContiguous, join, type TestUser } from '../support/rooms';
import { TestSocket } from '../support/ws-client';

/** A client never silently misses an event: resume, fan-out across edges, slow consumers. */
let stack: RealStack;
let edge: Awaited<ReturnType<typeof startEdge>>;
let owner: TestUser;

beforeAll(async () => {
  stack = await connectRealStack('rooms-recovery');
  edge = await startEdge(stack);
  owner = await createUser(stack, 'Owner');
});

afterAll(async () => {
  await edge?.close();
  await stack?.close();
});

const burst = (roomId: string, count: number, from = 0) =>
  Promise.all(Array.from({ length: count }, (_, i) => edge.live.emit(roomId, 'test.tick', { n: from + i })));

describe('resume after a dropped connection', () => {
  it('delivers every one of 1,000 events exactly once, in order, to a client cut off mid-burst', async () => {
    const room = await createRoom(edge.rooms, owner.userId);
    const user = await createUser(stack);
    const first = await TestSocket.connect(edge.url, { token: user.token });
    const snapshot = await join(first, room.id);

    const sending = burst(room.id, 1_000);
    // Cut the connection once some of the burst has arrived: the rest is in flight or unsent.
    await first.until((m) => m.type === 'test.tick' && (m.data as { n: number }).n >= 200);
    await first.drop();
    const before = first.roomEvents(room.id);
    await sending;

    const second = await TestSocket.connect(edge.url, { token: user.token });
    const lastSeq = before.at(-1)!.seq;
    second.send({ type: 'resume', room: room.id, lastSeq, epoch: snapshot.epoch, ref: 'r' });
    const resumed = await second.until((m) => m.ref === 'r');
    expect(resumed).toMatchObject({ type: 'resumed', fromSeq: lastSeq });
    // 1,000 ticks and the member's presence going away and coming back, after the snapshot.
    await second.until((m) => m.seq === snapshot.seq + 1_002);

    const after = second.roomEvents(room.id);
    // Besides the ticks, the stream holds this member's own presence change (away, then back).
    const all = [...first.roomEvents(room.id), ...after];
    const last = all.at(-1)!.seq;
    expectContiguous(all.map((e) => e.seq), snapshot.seq + 1, last);
    const ticks = all.filter((e) => e.type === 'test.tick');
    expect(ticks.map((e) => (e.data as { n: number }).n).sort((a, b) => a - b)).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
    expect(all.filter((e) => e.type !== 'test.tick').map((e) => [e.type, (e.data as { connected: boolean }).connected])).toEqual([
      ['member.presence', false],
      ['member.presence', true],
    ]);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    await second.close();
  });

  it('answers a resume with a fresh snapshot marked not recovered once the missed events are no longer kept', async () => {
    const small = await startEdge(stack, {}, { ROOM_EVENT_RETENTION: 100 });
    try {
      const room = await createRoom(small.rooms, owner.userId);
      const user = await createUser(stack);
      const socket = await TestSocket.connect(small.url, { token: user.token });
      const snapshot = await join(socket, room.id);
      await socket.drop();
      await Promise.all(Array.from({ length: 400 }, (_, i) => small.live.emit(room.id, 'test.tick', { n: i })));

      const back = await TestSocket.connect(small.url, { token: user.token });
      back.send({ type: 'resume', room: room.id, lastSeq: snapshot.seq, epoch: snapshot.epoch, ref: 'r' });
      const reply = await back.until((m) => m.ref === 'r');
      expect(reply).toMatchObject({ type: 'snapshot', recovered: false });
      expect(reply.seq).toBeGreaterThanOrEqual(snapshot.seq + 400);
      // A resume naming another epoch (the room's state was rebuilt) is not recovered either.
      back.send({ type: 'resume', room: room.id, lastSeq: 1, epoch: randomUUID(), ref: 'e' });
      expect(await back.until((m) => m.ref === 'e')).toMatchObject({ type: 'snapshot', recovered: false });
      await back.close();
    } finally {
      await small.close();
    }
  });
});

describe('recovery limits', () => {
  it('answers a resume whose missed events are too many to send at once with a snapshot instead', async () => {
    const tight = await startEdge(stack, { maxBackpressureBytes: 16 * 1024 }); // catch-up at most 8 KiB
    try {
      const room = await createRoom(tight.rooms, owner.userId);
      const user = await createUser(stack);
      const socket = await TestSocket.connect(tight.url, { token: user.token });
      const snapshot = await join(socket, room.id);
      await socket.drop();
      await Promise.all(Array.from({ length: 200 }, (_, i) => tight.live.emit(room.id, 'test.tick', { n: i, pad: 'x'.repeat(100) })));
      const back = await TestSocket.connect(tight.url, { token: user.token });
      back.send({ type: 'resume', room: room.id, lastSeq: snapshot.seq, epoch: snapshot.epoch, ref: 'r' });
      expect(await back.until((m) => m.ref === 'r')).toMatchObject({ type: 'snapshot', recovered: false });
      await back.close();
    } finally {
      await tight.close();
    }
  });

  it("delivers an event published while the edge's Redis subscriber was reconnecting, without waiting for the next one", async () => {
    const room = await createRoom(edge.rooms, owner.userId);
    const user = await createUser(stack);
    const socket = await TestSocket.connect(edge.url, { token: user.token });
    const snapshot = await join(socket, room.id);
    await stack.redis.client('KILL', 'TYPE', 'pubsub'); // every subscriber drops; ioredis reconnects
    const seq = await edge.live.emit(room.id, 'test.during-reconnect', {});
    expect(await socket.until((m) => m.seq === seq)).toMatchObject({ type: 'test.during-reconnect' });
    expectContiguous(socket.roomEvents(room.id).map((e) => e.seq), snapshot.seq + 1, seq);
    await socket.close();
  });
});

describe('Redis losing a room', () => {
  it('rebuilds the room from PostgreSQL on the next join, under a new epoch that old resumes do not match', async () => {
    const room = await createRoom(edge.rooms, owner.userId);
    const user = await createUser(stack);
    const first = await TestSocket.connect(edge.url, { token: user.token });
    const before = await join(first, room.id);
    await first.close();
    const keys = await stack.redis.keys(`aura:room:{${room.id}}:*`);
    await stack.redis.del(...keys);

    const again = await TestSocket.connect(edge.url, { token: user.token });
    again.send({ type: 'resume', room: room.id, lastSeq: before.seq, epoch: before.epoch, ref: 'r' });
    const reply = await again.until((m) => m.ref === 'r');
    expect(reply).toMatchObject({ type: 'snapshot', recovered: false, data: { room: { id: room.id, name: room.name }, memberCount: 1 } });
    expect(reply.epoch).not.toBe(before.epoch);
    await again.close();
  });
});

describe('several edge processes', () => {
  it('delivers one published event to subscribers on every edge, with the same sequence number', async () => {
    const other = await startEdge(stack);
    try {
      const room = await createRoom(edge.rooms, owner.userId);
      const [a, b] = await Promise.all([createUser(stack), createUser(stack)]);
      const onFirst = await TestSocket.connect(edge.url, { token: a.token });
      const onSecond = await TestSocket.connect(other.url, { token: b.token });
      await join(onFirst, room.id);
      await join(onSecond, room.id);

      const seq = await edge.live.emit(room.id, 'test.once', { hello: 'everyone' });
      const [x, y] = await Promise.all([onFirst.until((m) => m.seq === seq), onSecond.until((m) => m.seq === seq)]);
      expect(x).toEqual(y);
      expect(x).toMatchObject({ type: 'test.once', data: { hello: 'everyone' } });
      // Chat sent through one edge reaches the other.
      onSecond.send({ type: 'chat', room: room.id, text: 'across edges', clientMsgId: `x-${randomUUID()}`, ref: 'c' });
      const ack = await onSecond.until((m) => m.ref === 'c');
      expect(await onFirst.until((m) => m.seq === ack.seq)).toMatchObject({ type: 'chat.message' });
      await Promise.all([onFirst.close(), onSecond.close()]);
    } finally {
      await other.close();
    }
  });
});

describe('guards on each connection', () => {
  it('closes a consumer that stopped reading with 4008 (resume), instead of dropping its events', async () => {
    const strict = await startEdge(stack, { maxBackpressureBytes: 16 * 1024 });
    try {
      const room = await createRoom(strict.rooms, owner.userId);
      const user = await createUser(stack);
      const slow = await TestSocket.connect(strict.url, { token: user.token });
      await join(slow, room.id);
      slow.pauseReading();
      const pad = 'x'.repeat(2_000);
      const closed = slow.closed;
      let sent = 0;
      // Publish until the edge gives up on the socket; each event is ~2 KB.
      const pump = async () => {
        while (sent < 20_000) {
          await Promise.all(Array.from({ length: 200 }, () => strict.live.emit(room.id, 'test.big', { pad })));
          sent += 200;
          if (strict.edge.connectionCount() === 0) return;
        }
      };
      await pump();
      slow.resumeReading();
      expect(await closed).toEqual({ code: 4008, reason: 'too slow: reconnect and resume' });
      // connection: close, or undici keeps the socket to the closed edge alive and jest can't exit.
      const metrics = await (await fetch(strict.url.replace('ws://', 'http://').replace('/v1/ws', '/metrics'), { headers: { connection: 'close' } })).text();
      expect(metrics).toMatch(/^aura_ws_closes_total\{code="4008"\} 1$/m);
      expect(metrics).toMatch(/^aura_ws_commands_total\{type="join",outcome="ok"\} 1$/m);
    } finally {
      await strict.close();
    }
  });

  it('refuses messages past the per-connection rate with RATE_LIMITED', async () => {
    const limited = await startEdge(stack, { messagesPerSecond: 1, messageBurst: 5 });
    try {
      const socket = await TestSocket.connect(limited.url, { token: (await createUser(stack)).token });
      for (let i = 0; i < 8; i++) socket.send({ type: 'ping', ref: `p${i}` });
      const refused = () => socket.log.filter((m) => m.type === 'error' && m.code === 'RATE_LIMITED').length;
      await socket.until(() => refused() === 3);
      await Promise.all(Array.from({ length: 5 }, (_, i) => socket.until((m) => m.ref === `p${i}` && m.type === 'pong')));
      expect(socket.log.filter((m) => m.type === 'pong').map((m) => m.ref)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
      await socket.close();
    } finally {
      await limited.close();
    }
  });

  it('closes a socket whose user is banned after it connected, on the periodic re-check', async () => {
    const checking = await startEdge(stack, { sessionCheckMs: 100 });
    try {
      const user = await createUser(stack);
      const socket = await TestSocket.connect(checking.url, { token: user.token });
      await new BanList(stack.redis).ban('user', user.userId, 'test', 60);
      expect(await socket.closed).toEqual({ code: 4005, reason: 'access is suspended' });
    } finally {
      await checking.close();
    }
  });

  it('refuses unknown and malformed commands with a stable code, and joining a room that does not exist', async () => {
    const socket = await TestSocket.connect(edge.url, { token: (await createUser(stack)).token });
    socket.send({ type: 'dance', ref: 'u' });
    expect(await socket.until((m) => m.ref === 'u')).toMatchObject({ type: 'error', code: 'UNKNOWN_TYPE' });
    socket.send({ type: 'join', room: 'not-a-uuid', ref: 'v' });
    expect(await socket.until((m) => m.ref === 'v')).toMatchObject({ type: 'error', code: 'VALIDATION_FAILED' });
    socket.send({ type: 'join', room: randomUUID(), ref: 'w' });
    expect(await socket.until((m) => m.ref === 'w')).toMatchObject({ type: 'error', code: 'ROOM_NOT_FOUND' });
    socket.send({ type: 'chat', room: randomUUID(), text: 'hi', clientMsgId: 'abcdefgh', ref: 'x' });
    expect(await socket.until((m) => m.ref === 'x')).toMatchObject({ type: 'error', code: 'NOT_IN_ROOM' });
    await socket.close();
  });
});
