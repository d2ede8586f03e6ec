import { randomUUID } from 'node:crypto';
import { startApi, startEdge } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createRoom, createUser, join, type TestUser } from '../support/rooms';
import { TestSocket } from '../support/ws-client';

/** Seats are atomic, and a speaker who silently vanished loses the seat after the grace period. */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let owner: TestUser;

beforeAll(async () => {
  stack = await connectRealStack('rooms-seats');
  api = await startApi(stack, { RATE_LIMIT_IP_PER_MINUTE: 100_000, RATE_LIMIT_USER_PER_MINUTE: 100_000 });
  owner = await createUser(stack, 'Owner');
});

afterAll(async () => {
  await api?.close();
  await stack?.close();
});

const takeSeat = (token: string, roomId: string, seat: number) =>
  fetch(`${api.url}/v1/rooms/${roomId}/seats/take`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ seat }),
  });

describe('50 clients racing for one seat', () => {
  let edge: Awaited<ReturnType<typeof startEdge>>;
  beforeAll(async () => {
    edge = await startEdge(stack);
  });
  afterAll(async () => edge?.close());

  it('seats exactly one; the other 49 get SEAT_TAKEN and everyone sees one seat.updated', async () => {
    const room = await createRoom(edge.rooms, owner.userId, { seatCount: 12 });
    const users = await Promise.all(Array.from({ length: 50 }, (_, i) => createUser(stack, `Racer${i}`)));
    const sockets = await Promise.all(users.map((u) => TestSocket.connect(edge.url, { token: u.token })));
    await Promise.all(sockets.map((s) => join(s, room.id)));

    const responses = await Promise.all(users.map((u) => takeSeat(u.token, room.id, 5)));
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 204)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(49);
    const refusals = await Promise.all(responses.filter((r) => r.status === 409).map((r) => r.json() as Promise<{ error: { code: string } }>));
    expect(new Set(refusals.map((b) => b.error.code))).toEqual(new Set(['SEAT_TAKEN']));

    const winner = users[statuses.indexOf(204)]!.userId;
    const snapshot = await edge.live.snapshot(room.id);
    expect(snapshot.seats.filter((s) => s.userId !== null)).toEqual([expect.objectContaining({ index: 5, userId: winner })]);
    // Every client hears of exactly one change to the seat, naming the winner.
    const seen = await sockets[0]!.until((m) => m.type === 'seat.updated');
    expect(seen).toMatchObject({ data: { seats: [{ index: 5, userId: winner }], reason: 'taken' } });
    expect(sockets[0]!.roomEvents(room.id).filter((e) => e.type === 'seat.updated')).toHaveLength(1);
    await Promise.all(sockets.map((s) => s.close()));
  });
});

describe('ghost seats', () => {
  it('a speaker whose connection silently dropped loses the seat once the grace period ends; everyone is told', async () => {
    // A short grace and a fast sweeper, so the real timer path runs end to end.
    const edge = await startEdge(stack, { sweepMs: 100 }, { ROOM_SEAT_GRACE_SECONDS: 1 });
    try {
      const room = await createRoom(edge.rooms, owner.userId);
      const speaker = await createUser(stack, 'Speaker');
      const listener = await createUser(stack, 'Listener');
      const speakerSocket = await TestSocket.connect(edge.url, { token: speaker.token });
      const listenerSocket = await TestSocket.connect(edge.url, { token: listener.token });
      await join(speakerSocket, room.id);
      await join(listenerSocket, room.id);
      expect((await takeSeat(speaker.token, room.id, 2)).status).toBe(204);

      await speakerSocket.drop(); // no close frame: the phone lost signal
      const freed = await listenerSocket.until((m) => m.type === 'seat.updated' && (m.data as { reason: string }).reason === 'disconnected');
      expect(freed).toMatchObject({ data: { seats: [{ index: 2, userId: null }], userId: speaker.userId } });
      const left = await listenerSocket.until((m) => m.type === 'member.left');
      expect(left).toMatchObject({ data: { userId: speaker.userId, reason: 'disconnected' } });
      expect((left.seq as number) - (freed.seq as number)).toBe(1);
      await listenerSocket.close();
    } finally {
      await edge.close();
    }
  });

  describe('with the sweep driven by an explicit clock', () => {
    // The edge's own sweeper is parked (an hour), and the test sweeps "31 s later" itself.
    let edge: Awaited<ReturnType<typeof startEdge>>;
    beforeAll(async () => {
      edge = await startEdge(stack, { sweepMs: 3_600_000 });
    });
    afterAll(async () => edge?.close());

    async function seatedSpeaker() {
      const room = await createRoom(edge.rooms, owner.userId);
      const speaker = await createUser(stack, 'Speaker');
      const socket = await TestSocket.connect(edge.url, { token: speaker.token });
      const snapshot = await join(socket, room.id);
      expect((await takeSeat(speaker.token, room.id, 4)).status).toBe(204);
      await socket.until((m) => m.type === 'seat.updated');
      return { room, speaker, socket, snapshot };
    }

    async function afterConnectionDropped(roomId: string) {
      // The edge records the dropped connection asynchronously: wait until Redis shows it.
      for (;;) {
        const members = await edge.live.members(roomId, { afterScore: 0, afterUser: '', limit: 10 });
        if (members.items.every((m) => !m.connected)) return;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }

    it('keeps the seat of a speaker who reconnects and resumes inside the grace period', async () => {
      const { room, speaker, socket, snapshot } = await seatedSpeaker();
      const lastSeq = Math.max(...socket.roomEvents(room.id).map((e) => e.seq));
      await socket.drop();
      await afterConnectionDropped(room.id);

      const back = await TestSocket.connect(edge.url, { token: speaker.token });
      const ref = randomUUID();
      back.send({ type: 'resume', room: room.id, lastSeq, epoch: snapshot.epoch, ref });
      // What it missed is its own presence: away when it dropped, back when it returned.
      expect(await back.until((m) => m.ref === ref)).toMatchObject({ type: 'resumed', missed: 2 });
      const presence = back.roomEvents(room.id).filter((e) => e.seq > lastSeq);
      expect(presence.map((e) => [e.seq - lastSeq, e.type, e.data])).toEqual([
        [1, 'member.presence', expect.objectContaining({ userId: speaker.userId, connected: false })],
        [2, 'member.presence', { userId: speaker.userId, connected: true }],
      ]);

      await edge.rooms.sweep(Date.now() + 31_000);
      const after = await edge.live.snapshot(room.id);
      expect(after.seats[4]).toMatchObject({ userId: speaker.userId });
      expect(after.memberCount).toBe(1);
      await back.close();
    });

    it('frees the seat of a speaker who does not come back, but not before the grace period ends', async () => {
      const { room, speaker, socket } = await seatedSpeaker();
      await socket.drop();
      await afterConnectionDropped(room.id);

      await edge.rooms.sweep(Date.now() + 5_000); // still inside the grace period
      expect((await edge.live.snapshot(room.id)).seats[4]).toMatchObject({ userId: speaker.userId });

      await edge.rooms.sweep(Date.now() + 31_000);
      const after = await edge.live.snapshot(room.id);
      expect(after.seats[4]).toMatchObject({ userId: null });
      expect(after.memberCount).toBe(0);
    });

    it('frees the seats held through an edge that died (its leases ran out) and closes the room once it stays empty', async () => {
      const { room, speaker } = await seatedSpeaker();
      // The edge "dies": its connections are never closed, they just stop being renewed.
      const lease = 30_000;
      await edge.rooms.sweep(Date.now() + lease + 1_000); // lease expired: grace starts
      expect((await edge.live.snapshot(room.id)).seats[4]).toMatchObject({ userId: speaker.userId });
      await edge.rooms.sweep(Date.now() + lease + 32_000); // grace over
      expect((await edge.live.snapshot(room.id)).seats[4]).toMatchObject({ userId: null });

      const swept = await edge.rooms.sweep(Date.now() + lease + 32_000 + 11 * 60_000); // empty-room timeout
      expect(swept.closed).toContain(room.id);
      expect(await edge.rooms.get(room.id)).toMatchObject({ status: 'closed' });
    });
  });
});
