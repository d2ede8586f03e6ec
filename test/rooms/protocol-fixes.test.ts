import { createHash, randomUUID } from 'node:crypto';
import { AccountBans } from '../../db/repositories/account-bans';
import { BanList } from '../../platform/auth/ban-list';
import { startApi, startEdge } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createRoom, createUser, join, type TestUser } from '../support/rooms';
import { TestSocket, UpgradeRejected } from '../support/ws-client';

/**
 * Realtime protocol fixes on the real edge: every error reply carries its command's ref, a
 * resume after being removed from the room never silently picks up where it left off, plain
 * HTTP gets 426, the client address comes through trusted proxies only, and browsers open
 * sockets with single-use tickets instead of access tokens in the URL.
 */
let stack: RealStack;
let edge: Awaited<ReturnType<typeof startEdge>>;
let api: Awaited<ReturnType<typeof startApi>>;
let owner: TestUser;

beforeAll(async () => {
  stack = await connectRealStack('rooms-protocol-fixes');
  // No sweeper here: the ghost test sweeps by hand at a chosen instant. No cooldown after a kick,
  // so the kicked member's resume reaches the point where it could (wrongly) pick up again.
  edge = await startEdge(stack, { sweepMs: 3_600_000, messagesPerSecond: 1, messageBurst: 4, floodRefusals: 100 }, { ROOM_KICK_COOLDOWN_SECONDS: 0 });
  api = await startApi(stack);
  owner = await createUser(stack, 'Owner');
});

afterAll(async () => {
  await api?.close();
  await edge?.close();
  await stack?.close();
});

const withRef = (socket: TestSocket, ref: string) => socket.until((m) => m.ref === ref);

describe('error replies carry the ref of the command they refuse', () => {
  it('for command refusals, validation, unknown types, unparseable JSON and rate-limit refusals', async () => {
    const user = await createUser(stack);
    const socket = await TestSocket.connect(edge.url, { token: user.token });
    // Sent back to back: the first four spend the burst, the last two meet the rate limit.
    socket.send({ type: 'chat', room: randomUUID(), text: 'hi', clientMsgId: 'msg-00000001', ref: 'c1' });
    socket.send({ type: 'join', room: 'not-a-uuid', ref: 'v1' });
    socket.send({ type: 'dance', ref: 'u1' });
    socket.send('{"type":"ping","ref":"p1", oops}');
    socket.send({ type: 'ping', ref: 'r1' });
    socket.send('{"type":"ping","ref":"r2"');
    expect(await withRef(socket, 'c1')).toMatchObject({ type: 'error', code: 'NOT_IN_ROOM' });
    expect(await withRef(socket, 'v1')).toMatchObject({ type: 'error', code: 'VALIDATION_FAILED' });
    expect(await withRef(socket, 'u1')).toMatchObject({ type: 'error', code: 'UNKNOWN_TYPE' });
    expect(await withRef(socket, 'p1')).toMatchObject({ type: 'error', code: 'BAD_MESSAGE' });
    for (const ref of ['r1', 'r2']) {
      const limited = await withRef(socket, ref);
      expect(limited).toMatchObject({ type: 'error', code: 'RATE_LIMITED' });
      expect(limited.retryAfterMs).toBeGreaterThan(0);
      expect(limited.retryAfterMs).toBeLessThanOrEqual(1000);
    }
    await socket.close();
  });

  it('for a frame over the size limit, before closing with 1009; a ref too long to be one is not echoed', async () => {
    const user = await createUser(stack);
    const socket = await TestSocket.connect(edge.url, { token: user.token });
    socket.send({ type: 'ping', ref: 'x'.repeat(65) });
    const plain = await socket.until((m) => m.type === 'error');
    expect(plain).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(plain).not.toHaveProperty('ref');
    socket.send({ type: 'ping', ref: 'big-1', pad: 'x'.repeat(5000) }); // over the 4096-byte limit
    expect(await withRef(socket, 'big-1')).toMatchObject({ type: 'error', code: 'PAYLOAD_TOO_LARGE' });
    expect(await socket.closed).toEqual({ code: 1009, reason: 'message too big' });
  });
});

describe('resuming after being removed from the room', () => {
  async function joinedAndGone(roomId: string): Promise<{ user: TestUser; lastSeq: number; epoch: string }> {
    const user = await createUser(stack);
    const socket = await TestSocket.connect(edge.url, { token: user.token });
    const snapshot = await join(socket, roomId);
    await socket.drop(); // the phone loses signal; the member keeps their place for the grace period
    return { user, lastSeq: snapshot.seq, epoch: snapshot.epoch };
  }

  it('after a kick: a snapshot marked not recovered (and rejoined), never the missed events as if nothing happened', async () => {
    const room = await createRoom(edge.rooms, owner.userId);
    const gone = await joinedAndGone(room.id);
    await edge.rooms.kick(owner.userId, room.id, gone.user.userId);
    expect(await edge.live.isMember(room.id, gone.user.userId)).toBe(false);

    const back = await TestSocket.connect(edge.url, { token: gone.user.token });
    back.send({ type: 'resume', room: room.id, lastSeq: gone.lastSeq, epoch: gone.epoch, ref: 'r' });
    const reply = await withRef(back, 'r');
    expect(reply).toMatchObject({ type: 'snapshot', recovered: false, rejoined: true, room: room.id });
    await back.close();
  });

  it('after a kick with a cooldown: the cooldown refusal, and the user stays out', async () => {
    const strict = await startEdge(stack, { sweepMs: 3_600_000 }, { ROOM_KICK_COOLDOWN_SECONDS: 300 });
    try {
      const room = await createRoom(strict.rooms, owner.userId);
      const user = await createUser(stack);
      const socket = await TestSocket.connect(strict.url, { token: user.token });
      const snapshot = await join(socket, room.id);
      await socket.drop();
      await strict.rooms.kick(owner.userId, room.id, user.userId);

      const back = await TestSocket.connect(strict.url, { token: user.token });
      back.send({ type: 'resume', room: room.id, lastSeq: snapshot.seq, epoch: snapshot.epoch, ref: 'r' });
      const reply = await withRef(back, 'r');
      expect(reply).toMatchObject({ type: 'error', code: 'ROOM_KICK_COOLDOWN' });
      expect(reply.retryAfterMs).toBeGreaterThan(0);
      expect(await strict.live.isMember(room.id, user.userId)).toBe(false);
      await back.close();
    } finally {
      await strict.close();
    }
  });

  it('after a ban: ROOM_BANNED, and the user stays out', async () => {
    const room = await createRoom(edge.rooms, owner.userId);
    const gone = await joinedAndGone(room.id);
    await edge.rooms.ban(owner.userId, room.id, gone.user.userId, null);

    const back = await TestSocket.connect(edge.url, { token: gone.user.token });
    back.send({ type: 'resume', room: room.id, lastSeq: gone.lastSeq, epoch: gone.epoch, ref: 'r' });
    expect(await withRef(back, 'r')).toMatchObject({ type: 'error', code: 'ROOM_BANNED' });
    expect(await edge.live.isMember(room.id, gone.user.userId)).toBe(false);
    await back.close();
  });

  it('after being swept as a ghost (grace period over): a snapshot marked not recovered (and rejoined)', async () => {
    const room = await createRoom(edge.rooms, owner.userId);
    const watching = await TestSocket.connect(edge.url, { token: owner.token });
    await join(watching, room.id);
    const gone = await joinedAndGone(room.id);
    // The edge has seen the connection go (the member is now away, in their grace period).
    await watching.until((m) => m.type === 'member.presence' && (m.data as { userId: string; connected: boolean }).userId === gone.user.userId);
    await watching.close();
    // Sweep as if the grace period had long passed.
    const swept = await edge.rooms.sweep(Date.now() + 3_600_000);
    expect(swept.removed).toBeGreaterThanOrEqual(1);
    expect(await edge.live.isMember(room.id, gone.user.userId)).toBe(false);

    const back = await TestSocket.connect(edge.url, { token: gone.user.token });
    back.send({ type: 'resume', room: room.id, lastSeq: gone.lastSeq, epoch: gone.epoch, ref: 'r' });
    expect(await withRef(back, 'r')).toMatchObject({ type: 'snapshot', recovered: false, rejoined: true });
    await back.close();
  });

  it('while still a member (inside the grace period) the missed events are replayed as before', async () => {
    const room = await createRoom(edge.rooms, owner.userId);
    const gone = await joinedAndGone(room.id);
    const back = await TestSocket.connect(edge.url, { token: gone.user.token });
    back.send({ type: 'resume', room: room.id, lastSeq: gone.lastSeq, epoch: gone.epoch, ref: 'r' });
    expect(await withRef(back, 'r')).toMatchObject({ type: 'resumed', fromSeq: gone.lastSeq });
    await back.close();
  });
});

describe('the socket URL over plain HTTP', () => {
  it('answers 426 Upgrade Required with Upgrade: websocket and the error body', async () => {
    const res = await fetch(edge.url.replace('ws://', 'http://'));
    expect(res.status).toBe(426);
    expect(res.headers.get('upgrade')).toBe('websocket');
    expect(await res.json()).toEqual({ error: { code: 'UPGRADE_REQUIRED', message: expect.any(String) } });
  });
});

describe('the client address', () => {
  it('comes from X-Forwarded-For only through the configured number of trusted proxies', async () => {
    const banned = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;
    // Bans are records: kept in PostgreSQL, copied to Redis, announced to every process's copy.
    const record = await new AccountBans(stack.dataSource).record({ kind: 'ip', subject: banned, reason: 'test', createdBy: 'test', expiresAt: null });
    await new BanList(stack.redis).ban('ip', banned, 'test', undefined, { id: record.id, expiresAt: null });
    const behindProxy = await startEdge(stack, { trustedProxies: 1 });
    try {
      const user = await createUser(stack);
      // Behind one proxy: the right-most entry is the one the proxy wrote, and it is banned.
      await expect(TestSocket.connect(behindProxy.url, { token: user.token, headers: { 'x-forwarded-for': banned } })).rejects.toEqual(new UpgradeRejected(403));
      // A client can't hide behind an address it writes itself: only the proxy's entry counts.
      await expect(TestSocket.connect(behindProxy.url, { token: user.token, headers: { 'x-forwarded-for': `198.51.100.1, ${banned}` } })).rejects.toEqual(
        new UpgradeRejected(403),
      );
      const clean = await TestSocket.connect(behindProxy.url, { token: user.token, headers: { 'x-forwarded-for': `${banned}, 198.51.100.1` } });
      await clean.close();
      // With no trusted proxy, the header is the client's own claim and is ignored.
      const direct = await TestSocket.connect(edge.url, { token: user.token, headers: { 'x-forwarded-for': banned } });
      await direct.close();
    } finally {
      await behindProxy.close();
      await new AccountBans(stack.dataSource).lift('ip', banned, 'test');
      await new BanList(stack.redis).lift('ip', banned);
    }
  });
});

describe('socket tickets for browsers', () => {
  async function ticketFor(user: TestUser): Promise<{ ticket: string; expiresIn: number }> {
    const res = await fetch(`${api.url}/v1/realtime/tickets`, { method: 'POST', headers: { authorization: `Bearer ${user.token}` } });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    return (await res.json()) as { ticket: string; expiresIn: number };
  }
  const origin = 'https://app.aura.test';

  it('opens one socket once, for the user who asked; a second use is refused', async () => {
    const user = await createUser(stack);
    const { ticket, expiresIn } = await ticketFor(user);
    expect(expiresIn).toBe(30);
    expect(ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Only the hash is kept, for at most the ticket's lifetime.
    const key = `aura:ws-ticket:${createHash('sha256').update(ticket).digest('hex')}`;
    const ttl = await stack.redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30_000);
    expect(await stack.redis.get(key)).not.toContain(ticket);

    const socket = await TestSocket.connect(edge.url, { ticket, origin });
    const room = await createRoom(edge.rooms, owner.userId);
    await join(socket, room.id);
    expect(await edge.live.isMember(room.id, user.userId)).toBe(true);
    await expect(TestSocket.connect(edge.url, { ticket, origin })).rejects.toEqual(new UpgradeRejected(401));
    await socket.close();
  });

  it('is refused once expired, and when made up', async () => {
    const user = await createUser(stack);
    const { ticket } = await ticketFor(user);
    const key = `aura:ws-ticket:${createHash('sha256').update(ticket).digest('hex')}`;
    await stack.redis.pexpire(key, 1); // its 30 s are up
    while ((await stack.redis.exists(key)) === 1) await new Promise((resolve) => setImmediate(resolve));
    await expect(TestSocket.connect(edge.url, { ticket, origin })).rejects.toEqual(new UpgradeRejected(401));
    await expect(TestSocket.connect(edge.url, { ticket: 'A'.repeat(43), origin })).rejects.toEqual(new UpgradeRejected(401));
  });

  it('needs a valid access token to be issued', async () => {
    const res = await fetch(`${api.url}/v1/realtime/tickets`, { method: 'POST' });
    expect(res.status).toBe(401);
  });

  it('is the only way a page (with an Origin) opens a socket without a header: ?access_token= is refused from browsers', async () => {
    const user = await createUser(stack);
    const refused = TestSocket.connect(edge.url, { token: user.token, query: true, origin });
    await expect(refused).rejects.toEqual(new UpgradeRejected(401));
    const rejection = (await refused.catch((err: unknown) => err)) as UpgradeRejected;
    const body = JSON.parse(rejection.body) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringContaining('ticket') });
    // A native app (no Origin) may still use it.
    const native = await TestSocket.connect(edge.url, { token: user.token, query: true });
    await native.close();
  });
});
