import { randomUUID } from 'node:crypto';
import { hashRoomPassword, PasswordCheckBusy, roomPasswordChecks, verifyRoomPassword } from '../../platform/crypto/room-passwords';
import { startApi, startEdge } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createRoom, createUser, type TestUser } from '../support/rooms';
import { TestSocket, UpgradeRejected } from '../support/ws-client';

/**
 * Abuse limits at their production numbers: room password attempts (counted before the hash
 * runs), sockets per user and per address, upgrades per address, flooders, room creation and
 * reports. Each test connects from its own address (through a trusted proxy header), because
 * every suite shares one Redis and 127.0.0.1.
 */
let stack: RealStack;
let owner: TestUser;

const PASSWORD_LIMITS = { ROOM_PASSWORD_ATTEMPTS_PER_USER_ROOM: 5, ROOM_PASSWORD_ATTEMPTS_PER_ROOM: 20, ROOM_PASSWORD_ATTEMPTS_PER_IP: 30 };

beforeAll(async () => {
  stack = await connectRealStack('rooms-abuse-limits');
  owner = await createUser(stack, 'Owner');
});

afterAll(async () => {
  await stack?.close();
});

let addresses = 0;
/** A fresh documentation-range address per call, so counters never carry over between tests or runs. */
function freshAddress(): string {
  addresses += 1;
  return `198.18.${Math.floor(Math.random() * 250)}.${addresses}`;
}

const fromAddress = (ip: string) => ({ 'x-forwarded-for': ip });

async function attempt(socket: TestSocket, roomId: string, password: string): Promise<Record<string, unknown>> {
  const ref = randomUUID();
  socket.send({ type: 'join', room: roomId, password, ref });
  return socket.until((m) => m.ref === ref);
}

describe('room password attempts', () => {
  let edge: Awaited<ReturnType<typeof startEdge>>;
  beforeAll(async () => {
    edge = await startEdge(stack, { trustedProxies: 1, messagesPerSecond: 100, messageBurst: 100 }, PASSWORD_LIMITS);
  });
  afterAll(async () => {
    await edge?.close();
  });

  it('refuses the 6th wrong attempt by one user in one room with 429-style RATE_LIMITED, without hashing it', async () => {
    const room = await createRoom(edge.rooms, owner.userId, { password: 'right-one' });
    const user = await createUser(stack);
    const socket = await TestSocket.connect(edge.url, { token: user.token, headers: fromAddress(freshAddress()) });
    const before = roomPasswordChecks.derived;
    for (let i = 0; i < 5; i++) expect(await attempt(socket, room.id, `wrong-${i}`)).toMatchObject({ type: 'error', code: 'ROOM_PASSWORD_WRONG' });
    expect(roomPasswordChecks.derived - before).toBe(5);

    const sixth = await attempt(socket, room.id, 'wrong-5');
    expect(sixth).toMatchObject({ type: 'error', code: 'RATE_LIMITED', details: { limit: 'room-password' } });
    expect(sixth.retryAfterMs).toBeGreaterThan(0);
    expect(sixth.retryAfterMs).toBeLessThanOrEqual(10 * 60_000);
    // Even the right password waits now: the guesser can't tell right from wrong any more.
    expect(await attempt(socket, room.id, 'right-one')).toMatchObject({ code: 'RATE_LIMITED' });
    expect(roomPasswordChecks.derived - before).toBe(5); // the refusals never reached scrypt
    await socket.close();
  });

  it('counts racing attempts atomically: 20 at once from one user hash only 5 times', async () => {
    const room = await createRoom(edge.rooms, owner.userId, { password: 'right-one' });
    const user = await createUser(stack);
    const before = roomPasswordChecks.derived;
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => edge.rooms.admit(user.userId, room.id, `wrong-${i}`, { ip: freshAddress() })));
    const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'ADMITTED'));
    expect(codes.filter((c) => c === 'ROOM_PASSWORD_WRONG')).toHaveLength(5);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(15);
    expect(roomPasswordChecks.derived - before).toBe(5);
  });

  it('limits one room to 20 wrong attempts per 10 minutes whoever makes them; a right password spends nothing', async () => {
    const room = await createRoom(edge.rooms, owner.userId, { password: 'right-one' });
    // People who know the password don't use up the room's budget.
    for (let i = 0; i < 3; i++) {
      const friend = await createUser(stack);
      await edge.rooms.admit(friend.userId, room.id, 'right-one', { ip: freshAddress() });
    }
    for (let u = 0; u < 4; u++) {
      const guesser = await createUser(stack);
      for (let i = 0; i < 5; i++) {
        await expect(edge.rooms.admit(guesser.userId, room.id, `wrong-${i}`, { ip: freshAddress() })).rejects.toMatchObject({ code: 'ROOM_PASSWORD_WRONG' });
      }
    }
    const late = await createUser(stack);
    await expect(edge.rooms.admit(late.userId, room.id, 'right-one', { ip: freshAddress() })).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      details: { limit: 'room-password' },
    });
  });

  it('limits one address to 30 attempts per 10 minutes across rooms and accounts', async () => {
    const ip = freshAddress();
    for (let r = 0; r < 6; r++) {
      const room = await createRoom(edge.rooms, owner.userId, { password: 'right-one' });
      const user = await createUser(stack);
      for (let i = 0; i < 5; i++) {
        await expect(edge.rooms.admit(user.userId, room.id, `wrong-${i}`, { ip })).rejects.toMatchObject({ code: 'ROOM_PASSWORD_WRONG' });
      }
    }
    const room = await createRoom(edge.rooms, owner.userId, { password: 'right-one' });
    const user = await createUser(stack);
    await expect(edge.rooms.admit(user.userId, room.id, 'wrong', { ip })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    // Another address is unaffected.
    await expect(edge.rooms.admit(user.userId, room.id, 'wrong', { ip: freshAddress() })).rejects.toMatchObject({ code: 'ROOM_PASSWORD_WRONG' });
  });
});

describe('password checks in one process', () => {
  it('run at most 2 at a time with 32 waiting; more at once are refused without hashing', async () => {
    const hash = await hashRoomPassword('right-one');
    const before = roomPasswordChecks.derived;
    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => verifyRoomPassword(hash, i === 0 ? 'right-one' : `wrong-${i}`)));
    const busy = results.filter((r) => r.status === 'rejected' && r.reason instanceof PasswordCheckBusy);
    expect(busy).toHaveLength(40 - 2 - 32);
    expect(results[0]).toEqual({ status: 'fulfilled', value: true });
    expect(roomPasswordChecks.derived - before).toBe(34);
  });
});

describe('sockets', () => {
  it('caps open sockets per user (5) and per address (50) with 429 TOO_MANY_CONNECTIONS and Retry-After', async () => {
    const edge = await startEdge(stack, { trustedProxies: 1, maxSocketsPerUser: 5, maxSocketsPerIp: 50 });
    const opened: TestSocket[] = [];
    try {
      const user = await createUser(stack);
      for (let i = 0; i < 5; i++) opened.push(await TestSocket.connect(edge.url, { token: user.token, headers: fromAddress(freshAddress()) }));
      const refused = await TestSocket.connect(edge.url, { token: user.token, headers: fromAddress(freshAddress()) }).catch((err: unknown) => err);
      expect(refused).toEqual(new UpgradeRejected(429));
      expect((refused as UpgradeRejected).headers['retry-after']).toMatch(/^[1-9]\d*$/);
      expect(JSON.parse((refused as UpgradeRejected).body)).toMatchObject({ error: { code: 'TOO_MANY_CONNECTIONS' } });

      // Closing one frees its place.
      await opened.shift()!.close();
      while (edge.edge.connectionCount() > 4) await new Promise((resolve) => setImmediate(resolve));
      opened.push(await TestSocket.connect(edge.url, { token: user.token, headers: fromAddress(freshAddress()) }));

      // 50 people behind one carrier NAT get in; the 51st socket from that address does not.
      const nat = freshAddress();
      const people = await Promise.all(Array.from({ length: 51 }, () => createUser(stack)));
      for (const person of people.slice(0, 50)) opened.push(await TestSocket.connect(edge.url, { token: person.token, headers: fromAddress(nat) }));
      await expect(TestSocket.connect(edge.url, { token: people[50]!.token, headers: fromAddress(nat) })).rejects.toEqual(new UpgradeRejected(429));
    } finally {
      await Promise.all(opened.map((s) => s.close()));
      await edge.close();
    }
  });

  it('rate-limits upgrades per address across edges, with Retry-After', async () => {
    const [a, b] = await Promise.all([
      startEdge(stack, { trustedProxies: 1, upgradesPerIpPerMinute: 4 }),
      startEdge(stack, { trustedProxies: 1, upgradesPerIpPerMinute: 4 }),
    ]);
    const opened: TestSocket[] = [];
    try {
      const user = await createUser(stack);
      const ip = freshAddress();
      for (const edge of [a, b, a, b]) opened.push(await TestSocket.connect(edge.url, { token: user.token, headers: fromAddress(ip) }));
      const refused = await TestSocket.connect(a.url, { token: user.token, headers: fromAddress(ip) }).catch((err: unknown) => err);
      expect(refused).toEqual(new UpgradeRejected(429));
      const retryAfter = Number((refused as UpgradeRejected).headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(JSON.parse((refused as UpgradeRejected).body)).toMatchObject({ error: { code: 'RATE_LIMITED' } });
      // Even a refused upgrade never reached the token check: a bad token gets the same answer.
      await expect(TestSocket.connect(b.url, { token: 'not-a-jwt', headers: fromAddress(ip) })).rejects.toEqual(new UpgradeRejected(429));
      // Other addresses are unaffected.
      opened.push(await TestSocket.connect(a.url, { token: user.token, headers: fromAddress(freshAddress()) }));
    } finally {
      await Promise.all(opened.map((s) => s.close()));
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('closes with 1008 a client that keeps sending after being refused', async () => {
    const edge = await startEdge(stack, { messagesPerSecond: 1, messageBurst: 2, floodRefusals: 5 });
    try {
      const user = await createUser(stack);
      const socket = await TestSocket.connect(edge.url, { token: user.token });
      for (let i = 0; i < 30; i++) socket.send({ type: 'ping', ref: `f${i}` });
      expect(await socket.closed).toEqual({ code: 1008, reason: 'kept sending after refusals' });
      const refusals = socket.log.filter((m) => m.type === 'error');
      // Two pings answered, then five refusals (each with its ref and when to retry), then closed.
      expect(socket.log.filter((m) => m.type === 'pong')).toHaveLength(2);
      expect(refusals.length).toBeGreaterThanOrEqual(5);
      expect(refusals.length).toBeLessThan(28);
      for (const r of refusals) {
        expect(r).toMatchObject({ code: 'RATE_LIMITED', ref: expect.stringMatching(/^f\d+$/) });
        expect(r.retryAfterMs).toBeGreaterThan(0);
      }
    } finally {
      await edge.close();
    }
  });
});

describe('room creation and reports over the API', () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  beforeAll(async () => {
    api = await startApi(stack, { ROOM_CREATES_PER_USER_PER_HOUR: 5, ROOM_REPORTS_PER_USER_PER_HOUR: 20 });
  });
  afterAll(async () => {
    await api?.close();
  });

  async function post(path: string, token: string, body: unknown): Promise<Response> {
    return fetch(`${api.url}/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  it('lets a user create 5 rooms an hour; the 6th is 429 with Retry-After and creates nothing', async () => {
    const user = await createUser(stack);
    const newRoom = { type: 'voice', name: 'Mine', seatCount: 9 };
    for (let i = 0; i < 5; i++) expect((await post('/rooms', user.token, newRoom)).status).toBe(201);
    const sixth = await post('/rooms', user.token, newRoom);
    expect(sixth.status).toBe(429);
    const retryAfter = Number(sixth.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(await sixth.json()).toMatchObject({ error: { code: 'RATE_LIMITED', details: { limit: 'room-create', retryAfterSeconds: retryAfter } } });
    const [{ count }] = (await stack.dataSource.query(`SELECT count(*)::int AS count FROM rooms WHERE owner_id = $1`, [user.userId])) as [{ count: number }];
    expect(count).toBe(5);
    // Someone else still can.
    const other = await createUser(stack);
    expect((await post('/rooms', other.token, newRoom)).status).toBe(201);
  });

  it('lets a user file 20 reports an hour; the 21st is 429 with Retry-After and files nothing', async () => {
    const host = await createUser(stack);
    const created = await post('/rooms', host.token, { type: 'voice', name: 'Reported', seatCount: 9 });
    const roomId = ((await created.json()) as { id: string }).id;
    const reporter = await createUser(stack);
    for (let i = 0; i < 20; i++) expect((await post(`/rooms/${roomId}/reports`, reporter.token, { reason: 'spam', targetUserId: host.userId })).status).toBe(201);
    const extra = await post(`/rooms/${roomId}/reports`, reporter.token, { reason: 'spam', targetUserId: host.userId });
    expect(extra.status).toBe(429);
    expect(Number(extra.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await extra.json()).toMatchObject({ error: { code: 'RATE_LIMITED', details: { limit: 'room-report' } } });
    const [{ count }] = (await stack.dataSource.query(`SELECT count(*)::int AS count FROM reports WHERE reporter_id = $1`, [reporter.userId])) as [{ count: number }];
    expect(count).toBe(20);
  });
});
