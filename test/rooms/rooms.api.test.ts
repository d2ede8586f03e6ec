import { randomUUID } from 'node:crypto';
import type { RoomView, SeatView } from '../../domain/rooms/model';
import { startApi, startEdge } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { apiClient, errorCode, joinReply, RoomJanitor, sendChat, UNLIMITED_RATES, type ApiClient, type ApiReply } from '../support/room-api';
import { createRoom, createUser, join, type TestUser } from '../support/rooms';
import type { NewRoom } from '../../services/rooms/room-service';
import { TestSocket } from '../support/ws-client';

/**
 * The rooms REST surface on the real stack (PostgreSQL, Redis) with a real edge for the parts
 * that happen on the socket (joining, chat). Every refusal checks its stable code and that
 * nothing changed.
 */
let stack: RealStack;
let edge: Awaited<ReturnType<typeof startEdge>>;
let api: Awaited<ReturnType<typeof startApi>>;
let client: ApiClient;
let owner: TestUser;
let janitor: RoomJanitor;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  stack = await connectRealStack('rooms-api');
  // The edge's own sweeper is parked: these tests never wait for leases or grace to run out.
  edge = await startEdge(stack, { sweepMs: 3_600_000 });
  api = await startApi(stack, UNLIMITED_RATES);
  client = apiClient(api.url);
  owner = await createUser(stack, 'Owner');
  janitor = new RoomJanitor(edge.rooms, edge.live);
});

afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
  await janitor.sweep();
});

/** A room made straight through the service (fast), closed again after the test. */
async function openRoom(ownerId: string, overrides: Partial<NewRoom> = {}): Promise<RoomView> {
  return janitor.room(await createRoom(edge.rooms, ownerId, overrides));
}

afterAll(async () => {
  await api?.close();
  await edge?.close();
  await stack?.close();
});

const as = (user: TestUser) => client.as(user);
const refusal = (reply: ApiReply) => ({ status: reply.status, code: errorCode(reply) });

async function connect(user: TestUser): Promise<TestSocket> {
  const socket = await TestSocket.connect(edge.url, { token: user.token });
  sockets.push(socket);
  return socket;
}

/** A user inside the room over a real socket. */
async function joined(room: RoomView, user: TestUser, password?: string): Promise<TestSocket> {
  const socket = await connect(user);
  await join(socket, room.id, password);
  return socket;
}

/** The code that refused a socket join (or 'JOINED'). */
async function joinOutcome(room: RoomView, user: TestUser, password?: string): Promise<{ code: unknown; details?: unknown }> {
  const reply = await joinReply(await connect(user), room.id, password);
  return reply.type === 'snapshot' ? { code: 'JOINED' } : { code: reply.code, details: reply.details };
}

async function newMember(room: RoomView, name = 'Member'): Promise<TestUser> {
  const user = await createUser(stack, name);
  await janitor.enter(room, user.userId);
  return user;
}

async function seats(roomId: string): Promise<SeatView[]> {
  return (await edge.live.snapshot(roomId)).seats;
}

async function memberIds(roomId: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await edge.rooms.members(owner.userId, roomId, { limit: 100, ...(cursor ? { cursor } : {}) });
    ids.push(...page.items.map((m) => m.userId));
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}

type Page<T> = { items: T[]; nextCursor: string | null };

/** Walks a listing page by page until `done` says so (or the list ends). */
async function walk<T>(user: TestUser, path: string, done: (seen: T[]) => boolean, maxPages = 200): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const reply: ApiReply<Page<T>> = await as(user).get<Page<T>>(cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    expect(reply.status).toBe(200);
    items.push(...reply.body.items);
    cursor = reply.body.nextCursor;
    pages++;
  } while (cursor && !done(items) && pages < maxPages);
  return { items, pages };
}

const validRoom = { type: 'voice', name: 'Evening chat', seatCount: 8 };

describe('creating, reading, updating and closing a room', () => {
  it('creates a room: 201 with its Location, and reads it back', async () => {
    const reply = await as(owner).post<RoomView>('/rooms', {
      type: 'music',
      name: '  Evening chat  ',
      seatCount: 8,
      seatMode: 'apply',
      topic: 'Old songs',
      region: 'IN',
      password: 'open-sesame',
    });
    expect(reply.status).toBe(201);
    expect(reply.headers.get('location')).toBe(`/v1/rooms/${reply.body.id}`);
    expect(reply.body).toEqual({
      id: expect.any(String),
      ownerId: owner.userId,
      type: 'music',
      name: 'Evening chat',
      coverUrl: null,
      topic: 'Old songs',
      region: 'IN',
      seatCount: 8,
      seatMode: 'apply',
      passwordProtected: true,
      playlistPolicy: 'moderators',
      status: 'open',
      createdAt: expect.any(String),
    });

    const read = await as(await createUser(stack)).get(reply.headers.get('location')!.replace(/^\/v1/, ''));
    expect(read.status).toBe(200);
    // A password room shows an outsider no seats, and only its owner's badges.
    const ownerBadges = { vipTier: 0, wealthLevel: 0, charmLevel: 0, cpPartnerId: null };
    expect(read.body).toEqual({ ...reply.body, memberCount: 0, users: { [owner.userId]: ownerBadges } });
    expect(JSON.stringify(read.body)).not.toMatch(/sesame|scrypt|passwordHash/);
  });

  it('defaults to free seating', async () => {
    const reply = await as(owner).post('/rooms', validRoom);
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({ seatMode: 'free', passwordProtected: false, coverUrl: null, topic: null, region: null });
  });

  it.each([
    ['no seats', { seatCount: 0 }],
    ['21 seats', { seatCount: 21 }],
    ['a fractional seat count', { seatCount: 2.5 }],
    ['an unknown type', { type: 'podcast' }],
    ['a cover key (covers are set by PATCH once the room exists)', { coverKey: 'room-cover/3f1e2d4c-5b6a-4789-8abc-def012345678/3f1e2d4c-5b6a-4789-8abc-def012345679.png' }],
    ['an unknown field', { private: true }],
    ['an empty name', { name: '   ' }],
    ['a region that is not an ISO code', { region: 'India' }],
    ['a too-short password', { password: 'abc' }],
    ['an unknown seat mode', { seatMode: 'queue' }],
  ])('refuses a room with %s: 400 VALIDATION_FAILED, nothing created', async (_, change) => {
    const creator = await createUser(stack, 'Creator');
    const reply = await as(creator).post('/rooms', { ...validRoom, ...change });
    expect(refusal(reply)).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    const rows = (await stack.dataSource.query(`SELECT count(*)::int AS count FROM rooms WHERE owner_id = $1`, [creator.userId])) as { count: number }[];
    expect(rows).toEqual([{ count: 0 }]);
  });

  it.each([
    ['an https URL', 'https://cdn.aura.test/covers/1.png'],
    ['a plain-http URL', 'http://cdn.aura.test/covers/1.png'],
    ['not a URL', 'cover.png'],
  ])('refuses a room with a cover URL (%s): 400 MEDIA_URL_NOT_ACCEPTED, nothing created', async (_, coverUrl) => {
    const creator = await createUser(stack, 'Creator');
    expect(refusal(await as(creator).post('/rooms', { ...validRoom, coverUrl }))).toEqual({ status: 400, code: 'MEDIA_URL_NOT_ACCEPTED' });
    const rows = (await stack.dataSource.query(`SELECT count(*)::int AS count FROM rooms WHERE owner_id = $1`, [creator.userId])) as { count: number }[];
    expect(rows).toEqual([{ count: 0 }]);
  });

  it('404s an unknown room and 400s a malformed id', async () => {
    expect(refusal(await as(owner).get(`/rooms/${randomUUID()}`))).toEqual({ status: 404, code: 'ROOM_NOT_FOUND' });
    expect(refusal(await as(owner).get('/rooms/not-a-room'))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('lets the owner update the room; members are refused and change nothing', async () => {
    const room = await openRoom(owner.userId);
    const member = await newMember(room);

    const refused = await as(member).patch(`/rooms/${room.id}`, { name: 'Hijacked' });
    expect(refusal(refused)).toEqual({ status: 403, code: 'MODERATOR_REQUIRED' });
    expect((await as(member).get(`/rooms/${room.id}`)).body).toMatchObject({ name: 'Test room' });

    const updated = await as(owner).patch<RoomView>(`/rooms/${room.id}`, { name: 'Renamed', topic: 'New topic', region: 'BR', seatMode: 'apply', password: 'letmein' });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ id: room.id, name: 'Renamed', topic: 'New topic', region: 'BR', seatMode: 'apply', passwordProtected: true, seatCount: 9 });
    expect((await as(member).get(`/rooms/${room.id}`)).body).toMatchObject({ name: 'Renamed', seatMode: 'apply', passwordProtected: true, memberCount: 1 });
    // The live room follows: seats now need an application.
    expect(refusal(await as(member).post(`/rooms/${room.id}/seats/take`, { seat: 2 }))).toEqual({ status: 409, code: 'SEAT_APPLY_REQUIRED' });

    // The seat count is fixed, an empty patch says nothing, and unknown fields are refused.
    for (const body of [{ seatCount: 12 }, {}, { colour: 'red' }, { coverKey: 'https://x.test/a.png' }]) {
      expect(refusal(await as(owner).patch(`/rooms/${room.id}`, body))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    }
    // A cover is an uploaded file's key, never a URL.
    expect(refusal(await as(owner).patch(`/rooms/${room.id}`, { coverUrl: 'https://x.test/a.png' }))).toEqual({ status: 400, code: 'MEDIA_URL_NOT_ACCEPTED' });
    expect((await as(owner).get(`/rooms/${room.id}`)).body).toMatchObject({ name: 'Renamed', seatCount: 9, coverUrl: null });
  });

  it('closes a room: it reads as closed, nobody can join or change it, and discovery drops it', async () => {
    const room = await openRoom(owner.userId);
    const listener = await createUser(stack, 'Listener');
    const socket = await joined(room, listener);

    expect((await as(owner).post(`/rooms/${room.id}/close`)).status).toBe(204);
    expect(await socket.until((m) => m.type === 'room.closed' && m.room === room.id)).toMatchObject({ data: { reason: 'owner', byUserId: owner.userId } });
    expect((await as(listener).get(`/rooms/${room.id}`)).body).toMatchObject({ id: room.id, status: 'closed', memberCount: 0 });

    expect(await joinOutcome(room, await createUser(stack))).toMatchObject({ code: 'ROOM_CLOSED' });
    expect(refusal(await as(owner).patch(`/rooms/${room.id}`, { name: 'Reopened?' }))).toEqual({ status: 409, code: 'ROOM_CLOSED' });
    // Closing again is a no-op (a retry after a crash half-way finishes the job), audited once.
    expect((await as(owner).post(`/rooms/${room.id}/close`)).status).toBe(204);
    const log = await as(owner).get<{ items: { action: string }[] }>(`/rooms/${room.id}/moderation-log`);
    expect(log.body.items.filter((e) => e.action === 'close-room')).toHaveLength(1);
    expect(refusal(await as(listener).post(`/rooms/${room.id}/seats/take`, {}))).toEqual({ status: 409, code: 'ROOM_CLOSED' });
    const fresh = await walk<RoomView>(owner, '/rooms?sort=new&limit=100', () => true, 1);
    expect(fresh.items.map((r) => r.id)).not.toContain(room.id);
  });
});

describe('discovery', () => {
  it('pages the newest rooms by cursor with no repeats and no gaps', async () => {
    const mine: RoomView[] = [];
    for (let i = 0; i < 5; i++) mine.push(await openRoom(owner.userId, { name: `New ${i}` }));
    const wanted = new Set(mine.map((r) => r.id));
    const { items, pages } = await walk<RoomView>(owner, '/rooms?sort=new&limit=2', (seen) => [...wanted].every((id) => seen.some((r) => r.id === id)));

    expect(pages).toBeGreaterThanOrEqual(3);
    const ids = items.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length); // no room on two pages
    const created = items.map((r) => r.createdAt);
    expect(created).toEqual([...created].sort().reverse()); // newest first throughout
    // All five, newest first, and nothing of theirs skipped at a page boundary.
    expect(ids.filter((id) => wanted.has(id))).toEqual(mine.map((r) => r.id).reverse());
    expect(items.every((r) => r.status === 'open')).toBe(true);
  });

  it('filters the newest rooms by region', async () => {
    const india = [await openRoom(owner.userId, { region: 'IN' }), await openRoom(owner.userId, { region: 'IN' })];
    const elsewhere = [await openRoom(owner.userId, { region: 'US' }), await openRoom(owner.userId)];
    const { items } = await walk<RoomView>(owner, '/rooms?sort=new&region=IN&limit=1', (seen) => india.every((r) => seen.some((s) => s.id === r.id)));
    expect(items.every((r) => r.region === 'IN')).toBe(true);
    expect(items.map((r) => r.id)).toEqual(expect.arrayContaining(india.map((r) => r.id)));
    expect(items.map((r) => r.id)).not.toEqual(expect.arrayContaining([elsewhere[0]!.id]));
    expect(refusal(await as(owner).get('/rooms?sort=new&region=in'))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('orders popular rooms by live member count, most first, across pages', async () => {
    // Counts above the five-member rooms other room suites leave behind, so these rank near the top.
    const [eight, six, seven] = [await openRoom(owner.userId), await openRoom(owner.userId), await openRoom(owner.userId)];
    for (const [room, n] of [[eight, 8], [six, 6], [seven, 7]] as const) {
      await Promise.all(Array.from({ length: n }, () => newMember(room!)));
    }
    const empty = await openRoom(owner.userId);
    const wanted = [eight!, seven!, six!].map((r) => r.id);
    const { items } = await walk<RoomView & { memberCount: number }>(owner, '/rooms?sort=popular&limit=1', (seen) => wanted.every((id) => seen.some((r) => r.id === id)));

    const ids = items.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => wanted.includes(id))).toEqual(wanted);
    expect(items.filter((r) => wanted.includes(r.id)).map((r) => r.memberCount)).toEqual([8, 7, 6]);
    const counts = items.map((r) => r.memberCount);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    expect(ids).not.toContain(empty.id); // nobody inside: not listed
  });

  it('pages through popular rooms that tie on member count without ending early', async () => {
    // Many rooms with one listener each: the most common tie there is.
    const tied: RoomView[] = [];
    for (let batch = 0; batch < 13; batch++) {
      tied.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, async () => {
            const room = await openRoom(owner.userId);
            await newMember(room);
            return room;
          }),
        )),
      );
    }
    const wanted = new Set(tied.map((r) => r.id));
    const { items } = await walk<RoomView & { memberCount: number }>(
      owner,
      '/rooms?sort=popular&limit=10',
      (seen) => seen.filter((r) => wanted.has(r.id)).length === wanted.size,
      1_000,
    );
    const ids = items.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => wanted.has(id)).length).toBe(wanted.size);
  });

  it('lists open rooms of the owners the user follows, newest first, by cursor', async () => {
    const followed = await createUser(stack, 'Followed');
    const stranger = await createUser(stack, 'Stranger');
    const fan = await createUser(stack, 'Fan');
    const rooms = [];
    for (let i = 0; i < 3; i++) rooms.push(await openRoom(followed.userId, { name: `Followed ${i}` }));
    const closed = await openRoom(followed.userId);
    await edge.rooms.close(followed.userId, closed.id);
    await openRoom(stranger.userId);

    expect((await as(fan).get('/rooms?sort=following')).body).toEqual({ items: [], nextCursor: null });
    expect((await as(fan).put(`/users/${followed.userId}/follow`)).status).toBe(204);

    const first = await as(fan).get<Page<RoomView>>('/rooms?sort=following&limit=2');
    expect(first.body.items.map((r) => r.id)).toEqual([rooms[2]!.id, rooms[1]!.id]);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await as(fan).get<Page<RoomView>>(`/rooms?sort=following&limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body).toEqual({ items: [expect.objectContaining({ id: rooms[0]!.id })], nextCursor: null });
  });

  it.each([
    ['new', 'not-a-cursor'],
    ['new', Buffer.from('["2024-01-01T00:00:00Z","x"]').toString('base64url')],
    ['following', 'Zm9v'],
    ['popular', 'abc'],
    ['popular', '3_not-a-uuid'],
  ])('refuses a malformed %s cursor (%s): 400 VALIDATION_FAILED', async (sort, cursor) => {
    expect(refusal(await as(owner).get(`/rooms?sort=${sort}&cursor=${cursor}`))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('refuses an unknown sort or a bad limit', async () => {
    for (const query of ['sort=random', 'limit=0', 'limit=101', 'sort=new&extra=1']) {
      expect(refusal(await as(owner).get(`/rooms?${query}`))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    }
  });
});

describe('membership', () => {
  it('asks for the password of a protected room: missing and wrong are refused, right lets you in', async () => {
    const room = await openRoom(owner.userId, { password: 'open-sesame' });
    const guest = await createUser(stack, 'Guest');
    expect(await joinOutcome(room, guest)).toMatchObject({ code: 'ROOM_PASSWORD_REQUIRED' });
    expect(await joinOutcome(room, guest, 'open-sesamE')).toMatchObject({ code: 'ROOM_PASSWORD_WRONG' });
    expect(await memberIds(room.id)).not.toContain(guest.userId);

    expect(await joinOutcome(room, guest, 'open-sesame')).toEqual({ code: 'JOINED' });
    expect(await joinOutcome(room, owner)).toEqual({ code: 'JOINED' }); // the owner needs none
    expect(await memberIds(room.id)).toEqual(expect.arrayContaining([guest.userId, owner.userId]));
  });

  it('bans: the user is removed, refused ROOM_BANNED on rejoin, listed, and may return once unbanned', async () => {
    const room = await openRoom(owner.userId);
    const troll = await createUser(stack, 'Troll');
    const socket = await joined(room, troll);

    expect((await as(owner).put(`/rooms/${room.id}/bans/${troll.userId}`, { reason: 'spamming links' })).status).toBe(204);
    expect(await socket.until((m) => m.type === 'member.left' && m.room === room.id)).toMatchObject({ data: { userId: troll.userId, reason: 'banned' } });
    expect(await memberIds(room.id)).not.toContain(troll.userId);
    expect(await joinOutcome(room, troll)).toMatchObject({ code: 'ROOM_BANNED' });
    expect(await memberIds(room.id)).not.toContain(troll.userId);
    expect((await as(owner).get(`/rooms/${room.id}/bans`)).body).toEqual({
      items: [{ userId: troll.userId, bannedBy: owner.userId, reason: 'spamming links', createdAt: expect.any(String) }],
      nextCursor: null,
    });

    expect((await as(owner).delete(`/rooms/${room.id}/bans/${troll.userId}`)).status).toBe(204);
    expect(refusal(await as(owner).delete(`/rooms/${room.id}/bans/${troll.userId}`))).toEqual({ status: 404, code: 'NOT_FOUND' });
    expect(await joinOutcome(room, troll)).toEqual({ code: 'JOINED' });
  });

  it('refuses ROOM_BLOCKED when the owner blocked the user, or the user blocked the owner', async () => {
    const room = await openRoom(owner.userId);
    const blockedByOwner = await createUser(stack, 'Blocked');
    const blocksOwner = await createUser(stack, 'Blocker');
    expect((await as(owner).put(`/users/${blockedByOwner.userId}/block`)).status).toBe(204);
    expect((await as(blocksOwner).put(`/users/${owner.userId}/block`)).status).toBe(204);

    expect(await joinOutcome(room, blockedByOwner)).toMatchObject({ code: 'ROOM_BLOCKED' });
    expect(await joinOutcome(room, blocksOwner)).toMatchObject({ code: 'ROOM_BLOCKED' });
    expect(await memberIds(room.id)).toEqual([]);

    expect((await as(owner).delete(`/users/${blockedByOwner.userId}/block`)).status).toBe(204);
    expect(await joinOutcome(room, blockedByOwner)).toEqual({ code: 'JOINED' });
  });

  it('kicks: the user is removed and refused ROOM_KICK_COOLDOWN when they come straight back', async () => {
    const room = await openRoom(owner.userId);
    const rowdy = await createUser(stack, 'Rowdy');
    const socket = await joined(room, rowdy);
    await as(rowdy).post(`/rooms/${room.id}/seats/take`, { seat: 2 });

    expect((await as(owner).post(`/rooms/${room.id}/kick`, { userId: rowdy.userId })).status).toBe(204);
    expect(await socket.until((m) => m.type === 'member.left' && m.room === room.id)).toMatchObject({ data: { userId: rowdy.userId, reason: 'kicked' } });
    expect(await memberIds(room.id)).not.toContain(rowdy.userId);
    expect((await seats(room.id))[2]).toMatchObject({ userId: null });

    const again = await joinOutcome(room, rowdy);
    expect(again).toMatchObject({ code: 'ROOM_KICK_COOLDOWN', details: { retryAfterMs: expect.any(Number) } });
    expect((again.details as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
    expect(await memberIds(room.id)).not.toContain(rowdy.userId);
  });

  it('lists members by cursor in join order, with their seat and whether they are connected', async () => {
    const room = await openRoom(owner.userId);
    const people: TestUser[] = [];
    const connections: string[] = [];
    for (let i = 0; i < 5; i++) {
      const user = await createUser(stack, `Member ${i}`);
      people.push(user);
      connections.push(await janitor.enter(room, user.userId));
    }
    await as(people[1]!).post(`/rooms/${room.id}/seats/take`, { seat: 4 });
    await edge.live.dropConnection(room.id, people[3]!.userId, connections[3]!); // lost signal: still a member, for the grace period

    type Member = { userId: string; joinedAt: number; connected: boolean; seat: number | null };
    const pages: Page<Member>[] = [];
    let cursor: string | null = null;
    do {
      const reply: ApiReply<Page<Member>> = await as(people[0]!).get<Page<Member>>(`/rooms/${room.id}/members?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(reply.status).toBe(200);
      pages.push(reply.body);
      cursor = reply.body.nextCursor;
    } while (cursor && pages.length < 10);

    expect(pages.map((p) => p.items.length)).toEqual([2, 2, 1]);
    const all = pages.flatMap((p) => p.items);
    expect(all.map((m) => m.userId)).toEqual(people.map((p) => p.userId));
    expect(all.map((m) => m.connected)).toEqual([true, true, true, false, true]);
    expect(all.map((m) => m.seat)).toEqual([null, 4, null, null, null]);
    expect(all.every((m) => typeof m.joinedAt === 'number')).toBe(true);

    expect(refusal(await as(owner).get(`/rooms/${room.id}/members?cursor=bogus`))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    expect(refusal(await as(owner).get(`/rooms/${randomUUID()}/members`))).toEqual({ status: 404, code: 'ROOM_NOT_FOUND' });
  });
});

describe('seats', () => {
  it('take, move and leave, with the refusals that keep the seat map consistent', async () => {
    const room = await openRoom(owner.userId);
    const [ann, bob] = [await newMember(room, 'Ann'), await newMember(room, 'Bob')];
    const path = `/rooms/${room.id}/seats`;

    expect((await as(ann).post(`${path}/take`, { seat: 3 })).status).toBe(204);
    expect((await seats(room.id))[3]).toMatchObject({ userId: ann.userId, locked: false, mutedByAdmin: false, selfMuted: false });

    let before = await seats(room.id);
    expect(refusal(await as(ann).post(`${path}/take`, { seat: 5 }))).toEqual({ status: 409, code: 'ALREADY_SEATED' });
    expect(refusal(await as(bob).post(`${path}/take`, { seat: 3 }))).toEqual({ status: 409, code: 'SEAT_TAKEN' });
    expect(refusal(await as(ann).post(`${path}/move`, { seat: 3 }))).toEqual({ status: 409, code: 'ALREADY_SEATED' });
    expect(refusal(await as(bob).post(`${path}/move`, { seat: 5 }))).toEqual({ status: 409, code: 'NOT_SEATED' });
    expect(refusal(await as(bob).post(`${path}/leave`))).toEqual({ status: 409, code: 'NOT_SEATED' });
    const outsider = await createUser(stack, 'Outsider');
    expect(refusal(await as(outsider).post(`${path}/take`, { seat: 6 }))).toEqual({ status: 403, code: 'NOT_IN_ROOM' });
    expect(await seats(room.id)).toEqual(before);

    expect((await as(ann).post(`${path}/move`, { seat: 4 })).status).toBe(204);
    expect((await seats(room.id)).slice(3, 5).map((s) => s.userId)).toEqual([null, ann.userId]);

    expect((await as(bob).post(`${path}/take`)).status).toBe(204); // no seat named: the first open one
    expect((await seats(room.id))[1]).toMatchObject({ userId: bob.userId });

    expect((await as(ann).post(`${path}/leave`)).status).toBe(204);
    before = await seats(room.id);
    expect(before.filter((s) => s.userId !== null).map((s) => s.userId)).toEqual([bob.userId]);
  });

  it('keeps the host seat 0 for the owner (SEAT_HOST_ONLY)', async () => {
    const room = await openRoom(owner.userId);
    const member = await newMember(room);
    await janitor.enter(room, owner.userId);
    const path = `/rooms/${room.id}/seats`;

    expect(refusal(await as(member).post(`${path}/take`, { seat: 0 }))).toEqual({ status: 403, code: 'SEAT_HOST_ONLY' });
    await as(member).post(`${path}/take`, { seat: 2 });
    expect(refusal(await as(member).post(`${path}/move`, { seat: 0 }))).toEqual({ status: 403, code: 'SEAT_HOST_ONLY' });
    expect((await seats(room.id)).slice(0, 3).map((s) => s.userId)).toEqual([null, null, member.userId]);

    expect((await as(owner).post(`${path}/take`, { seat: 0 })).status).toBe(204);
    expect((await seats(room.id))[0]).toMatchObject({ userId: owner.userId });
  });

  it('refuses a locked seat (SEAT_LOCKED) until it is unlocked; the auto-pick skips it', async () => {
    const room = await openRoom(owner.userId);
    const [ann, bob] = [await newMember(room, 'Ann'), await newMember(room, 'Bob')];
    const path = `/rooms/${room.id}/seats`;
    expect((await as(owner).post(`${path}/1/lock`, { locked: true })).status).toBe(204);
    expect((await seats(room.id))[1]).toMatchObject({ locked: true, userId: null });

    expect(refusal(await as(ann).post(`${path}/take`, { seat: 1 }))).toEqual({ status: 409, code: 'SEAT_LOCKED' });
    expect((await as(ann).post(`${path}/take`)).status).toBe(204);
    expect((await seats(room.id))[2]).toMatchObject({ userId: ann.userId });
    expect(refusal(await as(ann).post(`${path}/move`, { seat: 1 }))).toEqual({ status: 409, code: 'SEAT_LOCKED' });
    expect((await seats(room.id))[1]).toMatchObject({ locked: true, userId: null });

    expect((await as(owner).post(`${path}/1/lock`, { locked: false })).status).toBe(204);
    expect((await as(bob).post(`${path}/take`, { seat: 1 })).status).toBe(204);
    expect((await seats(room.id))[1]).toMatchObject({ locked: false, userId: bob.userId });
  });

  it('lets a speaker mute and unmute themselves, but not undo an admin mute (SEAT_MUTED_BY_ADMIN)', async () => {
    const room = await openRoom(owner.userId);
    const speaker = await newMember(room, 'Speaker');
    const path = `/rooms/${room.id}/seats`;
    expect(refusal(await as(speaker).post(`${path}/mute`, { muted: true }))).toEqual({ status: 409, code: 'NOT_SEATED' });
    await as(speaker).post(`${path}/take`, { seat: 3 });

    expect((await as(speaker).post(`${path}/mute`, { muted: true })).status).toBe(204);
    expect((await seats(room.id))[3]).toMatchObject({ selfMuted: true, mutedByAdmin: false });
    expect((await as(speaker).post(`${path}/mute`, { muted: false })).status).toBe(204);
    expect((await seats(room.id))[3]).toMatchObject({ selfMuted: false, mutedByAdmin: false });

    expect((await as(owner).post(`${path}/3/mute`, { muted: true })).status).toBe(204);
    expect((await seats(room.id))[3]).toMatchObject({ userId: speaker.userId, mutedByAdmin: true });
    expect(refusal(await as(speaker).post(`${path}/mute`, { muted: false }))).toEqual({ status: 403, code: 'SEAT_MUTED_BY_ADMIN' });
    expect((await seats(room.id))[3]).toMatchObject({ userId: speaker.userId, mutedByAdmin: true, selfMuted: false });

    expect((await as(owner).post(`${path}/3/mute`, { muted: false })).status).toBe(204);
    expect((await as(speaker).post(`${path}/mute`, { muted: true })).status).toBe(204);
    expect((await seats(room.id))[3]).toMatchObject({ mutedByAdmin: false, selfMuted: true });
    expect(refusal(await as(owner).post(`${path}/5/mute`, { muted: true }))).toEqual({ status: 409, code: 'NOT_SEATED' });
  });

  it('invitations: accepting takes the offered seat, declining leaves the seats alone', async () => {
    const room = await openRoom(owner.userId);
    const [ann, bob, seated] = [await newMember(room, 'Ann'), await newMember(room, 'Bob'), await newMember(room, 'Seated')];
    const path = `/rooms/${room.id}/seats`;
    await as(seated).post(`${path}/take`, { seat: 1 });

    const invited = await as(owner).post(`${path}/invitations`, { userId: ann.userId, seat: 5 });
    expect(invited.status).toBe(201);
    expect(invited.body).toEqual({ expiresAt: expect.any(String) });
    expect((await as(ann).post(`${path}/invitation`, { accept: true })).status).toBe(204);
    expect((await seats(room.id))[5]).toMatchObject({ userId: ann.userId });
    expect(refusal(await as(ann).post(`${path}/invitation`, { accept: true }))).toEqual({ status: 404, code: 'INVITATION_NOT_FOUND' });

    expect((await as(owner).post(`${path}/invitations`, { userId: bob.userId })).status).toBe(201);
    const before = await seats(room.id);
    expect((await as(bob).post(`${path}/invitation`, { accept: false })).status).toBe(204);
    expect(refusal(await as(bob).post(`${path}/invitation`, { accept: true }))).toEqual({ status: 404, code: 'INVITATION_NOT_FOUND' });
    expect(await seats(room.id)).toEqual(before);

    expect(refusal(await as(owner).post(`${path}/invitations`, { userId: seated.userId }))).toEqual({ status: 409, code: 'ALREADY_SEATED' });
    const outsider = await createUser(stack, 'Outsider');
    expect(refusal(await as(owner).post(`${path}/invitations`, { userId: outsider.userId }))).toEqual({ status: 403, code: 'NOT_IN_ROOM' });
    expect(await seats(room.id)).toEqual(before);
  });

  it('apply mode: taking is refused, applications queue, approve seats and reject drops', async () => {
    const room = await openRoom(owner.userId, { seatMode: 'apply' });
    const [ann, bob, cat] = [await newMember(room, 'Ann'), await newMember(room, 'Bob'), await newMember(room, 'Cat')];
    await janitor.enter(room, owner.userId);
    const path = `/rooms/${room.id}/seats`;

    expect(refusal(await as(ann).post(`${path}/take`, { seat: 2 }))).toEqual({ status: 409, code: 'SEAT_APPLY_REQUIRED' });
    expect((await seats(room.id)).every((s) => s.userId === null)).toBe(true);
    expect((await as(owner).post(`${path}/take`, { seat: 0 })).status).toBe(204); // moderators just sit

    expect((await as(ann).post(`${path}/applications`)).status).toBe(202);
    expect((await as(ann).post(`${path}/applications`)).status).toBe(202); // once in the queue
    expect((await as(bob).post(`${path}/applications`)).status).toBe(202);
    expect((await as(owner).get(`${path}/applications`)).body).toEqual({ items: [ann.userId, bob.userId] });
    expect(refusal(await as(cat).get(`${path}/applications`))).toEqual({ status: 403, code: 'MODERATOR_REQUIRED' });

    expect((await as(owner).post(`${path}/applications/${ann.userId}`, { approve: true, seat: 2 })).status).toBe(204);
    expect((await seats(room.id))[2]).toMatchObject({ userId: ann.userId });
    expect((await as(owner).post(`${path}/applications/${bob.userId}`, { approve: false })).status).toBe(204);
    expect((await as(owner).get(`${path}/applications`)).body).toEqual({ items: [] });
    expect((await seats(room.id)).map((s) => s.userId)).not.toContain(bob.userId);
    expect(refusal(await as(owner).post(`${path}/applications/${bob.userId}`, { approve: true }))).toEqual({ status: 404, code: 'APPLICATION_NOT_FOUND' });

    expect((await as(cat).post(`${path}/applications`)).status).toBe(202);
    expect((await as(cat).delete(`${path}/applications`)).status).toBe(204);
    expect(refusal(await as(cat).delete(`${path}/applications`))).toEqual({ status: 404, code: 'APPLICATION_NOT_FOUND' });
    expect((await as(owner).get(`${path}/applications`)).body).toEqual({ items: [] });

    const free = await openRoom(owner.userId);
    const walkIn = await newMember(free);
    expect(refusal(await as(walkIn).post(`/rooms/${free.id}/seats/applications`))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('refuses seats outside the room: 400 past the largest room, 404 past this one', async () => {
    const room = await openRoom(owner.userId, { seatCount: 9 });
    const member = await newMember(room);
    const path = `/rooms/${room.id}/seats`;
    const before = await seats(room.id);

    for (const body of [{ seat: 20 }, { seat: -1 }, { seat: 1.5 }, { seat: '3' }]) {
      expect(refusal(await as(member).post(`${path}/take`, body))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    }
    expect(refusal(await as(owner).post(`${path}/20/lock`, { locked: true }))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    expect(refusal(await as(owner).post(`${path}/x/lock`, { locked: true }))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });

    expect(refusal(await as(member).post(`${path}/take`, { seat: 12 }))).toEqual({ status: 404, code: 'SEAT_NOT_FOUND' });
    expect(refusal(await as(owner).post(`${path}/12/lock`, { locked: true }))).toEqual({ status: 404, code: 'SEAT_NOT_FOUND' });
    expect(refusal(await as(owner).post(`${path}/12/mute`, { muted: true }))).toEqual({ status: 404, code: 'SEAT_NOT_FOUND' });
    await as(member).post(`${path}/take`, { seat: 3 });
    expect(refusal(await as(member).post(`${path}/move`, { seat: 12 }))).toEqual({ status: 404, code: 'SEAT_NOT_FOUND' });
    expect((await seats(room.id)).map((s) => s.userId)).toEqual(before.map((s) => (s.index === 3 ? member.userId : null)));
  });
});

describe('chat', () => {
  type Message = { id: string; senderId: string | null; body: string | null; recalled: boolean; deleted: boolean };
  const history = async (roomId: string, user: TestUser = owner) => (await as(user).get<Page<Message>>(`/rooms/${roomId}/messages?limit=100`)).body.items;

  async function say(socket: TestSocket, roomId: string, text: string): Promise<string> {
    const ack = await sendChat(socket, roomId, text);
    expect(ack).toMatchObject({ type: 'ack' });
    return ack.messageId as string;
  }

  it('serves history newest first, by cursor', async () => {
    const room = await openRoom(owner.userId);
    const [ann, bob] = [await createUser(stack, 'Ann'), await createUser(stack, 'Bob')];
    const [annSocket, bobSocket] = [await joined(room, ann), await joined(room, bob)];
    const sent: string[] = [];
    for (let i = 0; i < 6; i++) sent.push(await say(i % 2 ? bobSocket : annSocket, room.id, `line ${i}`));

    const pages: Page<Message>[] = [];
    let cursor: string | null = null;
    do {
      const reply: ApiReply<Page<Message>> = await as(ann).get<Page<Message>>(`/rooms/${room.id}/messages?limit=4${cursor ? `&cursor=${cursor}` : ''}`);
      expect(reply.status).toBe(200);
      pages.push(reply.body);
      cursor = reply.body.nextCursor;
    } while (cursor && pages.length < 5);

    expect(pages.map((p) => p.items.length)).toEqual([4, 2]);
    const items = pages.flatMap((p) => p.items);
    expect(items.map((m) => m.id)).toEqual([...sent].reverse());
    expect(items.map((m) => m.body)).toEqual(['line 5', 'line 4', 'line 3', 'line 2', 'line 1', 'line 0']);
    expect(items[0]).toMatchObject({ senderId: bob.userId, recalled: false, deleted: false });
    expect(refusal(await as(ann).get(`/rooms/${room.id}/messages?cursor=nope`))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('lets the sender recall their message (a tombstone stays); others cannot', async () => {
    const room = await openRoom(owner.userId);
    const [ann, bob] = [await createUser(stack, 'Ann'), await createUser(stack, 'Bob')];
    const [annSocket, bobSocket] = [await joined(room, ann), await joined(room, bob)];
    const mine = await say(annSocket, room.id, 'oops, wrong room');
    const theirs = await say(bobSocket, room.id, 'keep this');

    expect(refusal(await as(ann).post(`/rooms/${room.id}/messages/${theirs}/recall`))).toEqual({ status: 403, code: 'NOT_MESSAGE_SENDER' });
    expect(refusal(await as(owner).post(`/rooms/${room.id}/messages/${theirs}/recall`))).toEqual({ status: 403, code: 'NOT_MESSAGE_SENDER' });
    expect((await history(room.id)).find((m) => m.id === theirs)).toMatchObject({ body: 'keep this', recalled: false });

    expect((await as(ann).post(`/rooms/${room.id}/messages/${mine}/recall`)).status).toBe(204);
    expect(await bobSocket.until((m) => m.type === 'chat.recalled')).toMatchObject({ room: room.id, data: { messageId: mine } });
    expect(await history(room.id)).toEqual([
      expect.objectContaining({ id: theirs, body: 'keep this', recalled: false }),
      expect.objectContaining({ id: mine, senderId: ann.userId, body: null, recalled: true, deleted: false }),
    ]);
    expect(refusal(await as(ann).post(`/rooms/${room.id}/messages/999999999/recall`))).toEqual({ status: 404, code: 'MESSAGE_NOT_FOUND' });
  });

  it('lets moderators delete any member message; members cannot', async () => {
    const room = await openRoom(owner.userId);
    const [ann, bob] = [await createUser(stack, 'Ann'), await createUser(stack, 'Bob')];
    const [annSocket] = [await joined(room, ann), await joined(room, bob)];
    const rude = await say(annSocket, room.id, 'something rude');

    expect(refusal(await as(bob).delete(`/rooms/${room.id}/messages/${rude}`))).toEqual({ status: 403, code: 'MODERATOR_REQUIRED' });
    expect((await history(room.id))[0]).toMatchObject({ id: rude, body: 'something rude', deleted: false });

    expect((await as(owner).delete(`/rooms/${room.id}/messages/${rude}`)).status).toBe(204);
    expect(await annSocket.until((m) => m.type === 'chat.deleted')).toMatchObject({ data: { messageId: rude, byUserId: owner.userId } });
    expect((await history(room.id))[0]).toMatchObject({ id: rude, senderId: ann.userId, body: null, deleted: true });
    expect(refusal(await as(owner).delete(`/rooms/${room.id}/messages/999999999`))).toEqual({ status: 404, code: 'MESSAGE_NOT_FOUND' });
  });

  it('a timed chat mute refuses the muted user (CHAT_MUTED) and stores nothing', async () => {
    const room = await openRoom(owner.userId);
    const [ann, bob] = [await createUser(stack, 'Ann'), await createUser(stack, 'Bob')];
    const [annSocket, bobSocket] = [await joined(room, ann), await joined(room, bob)];

    const muted = await as(owner).put<{ until: string }>(`/rooms/${room.id}/chat-mutes/${ann.userId}`, { minutes: 5 });
    expect(muted.status).toBe(200);
    const until = Date.parse(muted.body.until);
    expect(Number.isNaN(until)).toBe(false);

    expect(await sendChat(annSocket, room.id, 'can I talk?')).toMatchObject({ type: 'error', code: 'CHAT_MUTED', details: { until } });
    expect(await sendChat(bobSocket, room.id, 'I can')).toMatchObject({ type: 'ack' });
    expect((await history(room.id)).map((m) => m.body)).toEqual(['I can']);
    expect(refusal(await as(owner).put(`/rooms/${room.id}/chat-mutes/${ann.userId}`, { minutes: 0 }))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('lifting a chat mute lets the user talk again', async () => {
    const room = await openRoom(owner.userId);
    const ann = await createUser(stack, 'Ann');
    const annSocket = await joined(room, ann);
    expect((await as(owner).put(`/rooms/${room.id}/chat-mutes/${ann.userId}`, { minutes: 5 })).status).toBe(200);
    expect(await sendChat(annSocket, room.id, 'muted')).toMatchObject({ code: 'CHAT_MUTED' });

    const lifted = await as(owner).delete(`/rooms/${room.id}/chat-mutes/${ann.userId}`);
    expect({ status: lifted.status, body: lifted.body }).toEqual({ status: 204, body: {} });
    expect(await sendChat(annSocket, room.id, 'free again')).toMatchObject({ type: 'ack' });
  });

  it('a chat mute the owner puts on an admin holds (the owner may mute admins; mute-all is what spares them)', async () => {
    const room = await openRoom(owner.userId);
    const admin = await createUser(stack, 'Admin');
    const adminSocket = await joined(room, admin);
    expect((await as(owner).put(`/rooms/${room.id}/admins/${admin.userId}`)).status).toBe(204);

    expect((await as(owner).put(`/rooms/${room.id}/chat-mutes/${admin.userId}`, { minutes: 5 })).status).toBe(200);
    expect((await edge.rooms.snapshot(room.id, admin.userId)).chatMutedUntil).not.toBeNull();
    expect(await sendChat(adminSocket, room.id, 'muted admin talking')).toMatchObject({ type: 'error', code: 'CHAT_MUTED' });
    expect(await history(room.id)).toEqual([]);
  });

  it('a recall after the room closed is refused ROOM_CLOSED and leaves the message as it was', async () => {
    const room = await openRoom(owner.userId);
    const ann = await createUser(stack, 'Ann');
    const message = await say(await joined(room, ann), room.id, 'last words');
    expect((await as(owner).post(`/rooms/${room.id}/close`)).status).toBe(204);

    expect(refusal(await as(ann).post(`/rooms/${room.id}/messages/${message}/recall`))).toEqual({ status: 409, code: 'ROOM_CLOSED' });
    expect((await history(room.id))[0]).toMatchObject({ id: message, body: 'last words', recalled: false });
  });

  it('mute-all refuses members but not the owner or admins, until it is lifted', async () => {
    const room = await openRoom(owner.userId);
    const [admin, member] = [await createUser(stack, 'Admin'), await createUser(stack, 'Member')];
    const [ownerSocket, adminSocket, memberSocket] = [await joined(room, owner), await joined(room, admin), await joined(room, member)];
    expect((await as(owner).put(`/rooms/${room.id}/admins/${admin.userId}`)).status).toBe(204);

    expect((await as(admin).put(`/rooms/${room.id}/mute-all`, { on: true })).status).toBe(204);
    expect((await edge.live.snapshot(room.id)).muteAll).toBe(true);
    expect(await sendChat(memberSocket, room.id, 'hello?')).toMatchObject({ type: 'error', code: 'CHAT_MUTED', details: { all: true } });
    expect(await sendChat(adminSocket, room.id, 'admins speak')).toMatchObject({ type: 'ack' });
    expect(await sendChat(ownerSocket, room.id, 'owner speaks')).toMatchObject({ type: 'ack' });
    expect((await history(room.id)).map((m) => m.body)).toEqual(['owner speaks', 'admins speak']);

    expect((await as(owner).put(`/rooms/${room.id}/mute-all`, { on: false })).status).toBe(204);
    expect(await sendChat(memberSocket, room.id, 'now I can')).toMatchObject({ type: 'ack' });
  });

  it('refuses a 501-character message (CHAT_TOO_LONG) and accepts 500 characters, counted as characters', async () => {
    const room = await openRoom(owner.userId);
    const user = await createUser(stack, 'Talker');
    const socket = await joined(room, user);

    expect(await sendChat(socket, room.id, 'a'.repeat(501))).toMatchObject({ type: 'error', code: 'CHAT_TOO_LONG' });
    expect(await history(room.id)).toEqual([]);
    expect(await sendChat(socket, room.id, 'a'.repeat(500))).toMatchObject({ type: 'ack' });
    expect(await sendChat(socket, room.id, '🎵'.repeat(500))).toMatchObject({ type: 'ack' }); // 1000 UTF-16 units, 500 characters
    expect(await sendChat(socket, room.id, '🎵'.repeat(501))).toMatchObject({ type: 'error', code: 'CHAT_TOO_LONG' });
    expect((await history(room.id)).map((m) => [...(m.body ?? '')].length)).toEqual([500, 500]);
  });

  it('files reports about a message or a user (201), and refuses ones about nothing real', async () => {
    const room = await openRoom(owner.userId);
    const [ann, bob] = [await createUser(stack, 'Ann'), await createUser(stack, 'Bob')];
    const [annSocket] = [await joined(room, ann), await joined(room, bob)];
    const message = await say(annSocket, room.id, 'buy followers at …');
    const count = async () =>
      ((await stack.dataSource.query(`SELECT count(*)::int AS n FROM reports WHERE room_id = $1`, [room.id])) as { n: number }[])[0]!.n;

    const aboutMessage = await as(bob).post(`/rooms/${room.id}/reports`, { messageId: message, reason: 'spam' });
    expect(aboutMessage.status).toBe(201);
    expect(aboutMessage.body).toEqual({ id: expect.any(String) });
    const aboutUser = await as(bob).post(`/rooms/${room.id}/reports`, { targetUserId: ann.userId, reason: 'harassment', details: 'keeps DMing' });
    expect(aboutUser.status).toBe(201);
    expect(aboutUser.body.id).not.toBe(aboutMessage.body.id);
    expect(await count()).toBe(2);

    expect(refusal(await as(bob).post(`/rooms/${room.id}/reports`, { messageId: '999999999', reason: 'spam' }))).toEqual({ status: 404, code: 'MESSAGE_NOT_FOUND' });
    expect(refusal(await as(bob).post(`/rooms/${room.id}/reports`, { targetUserId: randomUUID(), reason: 'spam' }))).toEqual({ status: 404, code: 'USER_NOT_FOUND' });
    expect(refusal(await as(bob).post(`/rooms/${room.id}/reports`, { messageId: message, reason: 'boring' }))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    expect(refusal(await as(bob).post(`/rooms/${randomUUID()}/reports`, { reason: 'other' }))).toEqual({ status: 404, code: 'ROOM_NOT_FOUND' });
    expect(await count()).toBe(2);
  });
});

describe('who may read what', () => {
  it('shows chat history only to people inside the room and its moderators', async () => {
    const room = await openRoom(owner.userId);
    const [inside, outside] = await Promise.all([createUser(stack, 'Inside'), createUser(stack, 'Outside')]);
    await sendChat(await joined(room, inside), room.id, 'for the room only');
    expect(refusal(await as(outside).get(`/rooms/${room.id}/messages`))).toEqual({ status: 403, code: 'NOT_IN_ROOM' });
    const forMember = await as(inside).get<{ items: { body: string }[] }>(`/rooms/${room.id}/messages`);
    expect(forMember.body.items.map((m) => m.body)).toEqual(['for the room only']);
    expect((await as(owner).get(`/rooms/${room.id}/messages`)).status).toBe(200);
  });

  it('hides the member list of a password room from outsiders, and any member list from someone banned', async () => {
    const locked = await openRoom(owner.userId, { password: 'secret-1' });
    const [inside, outside, banned] = await Promise.all([createUser(stack), createUser(stack), createUser(stack)]);
    await joined(locked, inside, 'secret-1');
    expect(refusal(await as(outside).get(`/rooms/${locked.id}/members`))).toEqual({ status: 403, code: 'ROOM_PASSWORD_REQUIRED' });
    expect((await as(inside).get(`/rooms/${locked.id}/members`)).status).toBe(200);

    const open = await openRoom(owner.userId);
    expect((await as(outside).get(`/rooms/${open.id}/members`)).status).toBe(200);
    expect((await as(owner).put(`/rooms/${open.id}/bans/${banned.userId}`)).status).toBe(204);
    expect(refusal(await as(banned).get(`/rooms/${open.id}/members`))).toEqual({ status: 403, code: 'ROOM_BANNED' });
  });

  it('refuses to make a banned user an admin, and keeps the audit log and bans readable after the room closed', async () => {
    const room = await openRoom(owner.userId);
    const banned = await createUser(stack);
    expect((await as(owner).put(`/rooms/${room.id}/bans/${banned.userId}`, { reason: 'spam' })).status).toBe(204);
    expect(refusal(await as(owner).put(`/rooms/${room.id}/admins/${banned.userId}`))).toEqual({ status: 403, code: 'ROOM_BANNED' });
    expect((await as(owner).post(`/rooms/${room.id}/close`)).status).toBe(204);
    const log = await as(owner).get<{ items: { action: string }[] }>(`/rooms/${room.id}/moderation-log`);
    expect(log.body.items.map((e) => e.action)).toEqual(['close-room', 'ban']);
    const bans = await as(owner).get<{ items: { userId: string }[] }>(`/rooms/${room.id}/bans`);
    expect(bans.body.items.map((b) => b.userId)).toEqual([banned.userId]);
  });

  it('answers a seat application with whether it joined the queue', async () => {
    const room = await openRoom(owner.userId, { seatMode: 'apply' });
    const hopeful = await createUser(stack);
    await joined(room, hopeful);
    expect(await as(hopeful).post(`/rooms/${room.id}/seats/applications`)).toMatchObject({ status: 202, body: { queued: true } });
    expect(await as(hopeful).post(`/rooms/${room.id}/seats/applications`)).toMatchObject({ status: 202, body: { queued: false } });
  });
});
