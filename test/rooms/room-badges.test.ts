import { randomUUID } from 'node:crypto';
import type { RoomView } from '../../domain/rooms/model';
import type { UserBadges } from '../../domain/profiles/badges';
import { PublicProfiles } from '../../db/repositories/profiles';
import { CachedBadges, type BadgeFactSource } from '../../services/profiles/cached-badges';
import { startApi, startEdge } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { apiClient, errorCode, RoomJanitor, sendChat, UNLIMITED_RATES, type ApiClient } from '../support/room-api';
import { createRoom, createUser, join, type TestUser } from '../support/rooms';
import { TestSocket } from '../support/ws-client';

/**
 * Badges (VIP tier, levels, CP partner) where rooms show users: the socket snapshot's `users`
 * map, GET /v1/rooms/:id and the members list; and the per-process cache they are read through.
 */
let stack: RealStack;
let edge: Awaited<ReturnType<typeof startEdge>>;
let api: Awaited<ReturnType<typeof startApi>>;
let client: ApiClient;
let janitor: RoomJanitor;
const sockets: TestSocket[] = [];

// Badges are set in PostgreSQL right before they are read: no cache between (its own tests are below).
const NO_BADGE_CACHE = { USER_BADGE_CACHE_MS: 0 };

beforeAll(async () => {
  stack = await connectRealStack('room-badges');
  edge = await startEdge(stack, { sweepMs: 3_600_000 }, NO_BADGE_CACHE);
  api = await startApi(stack, { ...UNLIMITED_RATES, ...NO_BADGE_CACHE });
  client = apiClient(api.url);
  janitor = new RoomJanitor(edge.rooms, edge.live);
});

afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
  await janitor.sweep();
});

afterAll(async () => {
  await api?.close();
  await edge?.close();
  await stack?.close();
});

const sql = (text: string, params: unknown[] = []) => stack.dataSource.query(text, params);

async function joined(room: RoomView, user: TestUser, password?: string): Promise<TestSocket> {
  const socket = await TestSocket.connect(edge.url, { token: user.token });
  sockets.push(socket);
  await join(socket, room.id, password);
  return socket;
}

async function setStatus(userId: string, status: { vipTier?: number; wealth?: number; charm?: number }): Promise<void> {
  await sql(
    `UPDATE users SET vip_tier = $2::smallint, vip_expires_at = CASE WHEN $2::smallint > 0 THEN now() + interval '1 day' END, wealth_level = $3, charm_level = $4 WHERE id = $1`,
    [userId, status.vipTier ?? 0, status.wealth ?? 0, status.charm ?? 0],
  );
}

async function pair(a: string, b: string): Promise<void> {
  const [low, high] = [a, b].sort();
  await sql(`INSERT INTO cp_pairs (user_a, user_b) VALUES ($1, $2)`, [low, high]);
}

const badges = (vipTier: number, wealthLevel: number, charmLevel: number, cpPartnerId: string | null = null): UserBadges => ({
  vipTier,
  wealthLevel,
  charmLevel,
  cpPartnerId,
});

interface SnapshotFrame {
  data: { seats: { index: number; userId: string | null }[]; users: Record<string, UserBadges> };
}

describe('badges in rooms', () => {
  it('the snapshot frame carries badges of the owner, the seated users and the recent chat senders', async () => {
    const [owner, seated, talker, partner, quiet] = (await Promise.all(['Owner', 'Seated', 'Talker', 'Partner', 'Quiet'].map((n) => createUser(stack, n)))) as [
      TestUser,
      TestUser,
      TestUser,
      TestUser,
      TestUser,
    ];
    await setStatus(owner.userId, { wealth: 3, charm: 1 });
    await setStatus(seated.userId, { vipTier: 2, wealth: 15, charm: 8 });
    await setStatus(talker.userId, { charm: 4 });
    await pair(seated.userId, partner.userId);
    const room = janitor.room(await createRoom(edge.rooms, owner.userId));

    await joined(room, owner);
    await joined(room, seated);
    expect((await client.as(seated).post(`/rooms/${room.id}/seats/take`, { seat: 3 })).status).toBe(204);
    const talkerSocket = await joined(room, talker);
    expect((await sendChat(talkerSocket, room.id, 'hello')).type).toBe('ack');
    await janitor.enter(room, quiet.userId); // a member who neither sits nor talks (their join line shows them, though)

    const late = await TestSocket.connect(edge.url, { token: partner.token });
    sockets.push(late);
    const frame = (await join(late, room.id)) as unknown as SnapshotFrame;
    const users = frame.data.users;
    expect(users[owner.userId]).toEqual(badges(0, 3, 1));
    expect(users[seated.userId]).toEqual(badges(2, 15, 8, partner.userId));
    expect(users[talker.userId]).toEqual(badges(0, 0, 4));
    // Everyone the frame names has badges; the seat map's users among them.
    for (const seat of frame.data.seats) if (seat.userId) expect(users[seat.userId]).toBeDefined();
    expect(users[partner.userId]).toEqual(badges(0, 0, 0, seated.userId)); // the joiner's own join line names them
  });

  it('GET /v1/rooms/:id carries seats and badges; a password room shows outsiders only its owner', async () => {
    const [owner, seated, outsider] = await Promise.all([createUser(stack, 'Owner'), createUser(stack, 'Seated'), createUser(stack, 'Outsider')]);
    await setStatus(seated.userId, { vipTier: 1, wealth: 5, charm: 6 });
    await setStatus(owner.userId, { wealth: 2 });
    const room = janitor.room(await createRoom(edge.rooms, owner.userId));
    await janitor.enter(room, seated.userId);
    expect((await client.as(seated).post(`/rooms/${room.id}/seats/take`, { seat: 1 })).status).toBe(204);

    const open = await client.as(outsider).get<{ seats: { userId: string | null }[]; users: Record<string, UserBadges>; memberCount: number }>(`/rooms/${room.id}`);
    expect(open.status).toBe(200);
    expect(open.body.seats[1]!.userId).toBe(seated.userId);
    expect(open.body.users).toEqual({ [owner.userId]: badges(0, 2, 0), [seated.userId]: badges(1, 5, 6) });

    const locked = janitor.room(await createRoom(edge.rooms, owner.userId, { password: 'pass1234' }));
    await janitor.enter(locked, seated.userId, 'pass1234');
    expect((await client.as(seated).post(`/rooms/${locked.id}/seats/take`, { seat: 1 })).status).toBe(204);
    const outside = await client.as(outsider).get<Record<string, unknown>>(`/rooms/${locked.id}`);
    expect(outside.status).toBe(200);
    expect(outside.body.seats).toBeUndefined();
    expect(outside.body.users).toEqual({ [owner.userId]: badges(0, 2, 0) });
    const inside = await client.as(seated).get<{ users: Record<string, UserBadges> }>(`/rooms/${locked.id}`);
    expect(Object.keys(inside.body.users).sort()).toEqual([owner.userId, seated.userId].sort());
  });

  it('each member in the members list carries badges; a lapsed VIP shows no tier', async () => {
    const [owner, a, b] = await Promise.all([createUser(stack, 'Owner'), createUser(stack, 'A'), createUser(stack, 'B')]);
    await setStatus(a.userId, { vipTier: 3, wealth: 20, charm: 1 });
    await sql(`UPDATE users SET vip_tier = 2, vip_expires_at = now() - interval '1 second', charm_level = 9 WHERE id = $1`, [b.userId]);
    await pair(a.userId, b.userId);
    const room = janitor.room(await createRoom(edge.rooms, owner.userId));
    for (const u of [owner, a, b]) await janitor.enter(room, u.userId);

    const reply = await client.as(owner).get<{ items: { userId: string; badges: UserBadges }[] }>(`/rooms/${room.id}/members?limit=10`);
    expect(reply.status).toBe(200);
    const byUser = new Map(reply.body.items.map((m) => [m.userId, m.badges]));
    expect(byUser.get(owner.userId)).toEqual(badges(0, 0, 0));
    expect(byUser.get(a.userId)).toEqual(badges(3, 20, 1, b.userId));
    expect(byUser.get(b.userId)).toEqual(badges(0, 0, 9, a.userId));
  });

  it('GET /v1/users/badges answers for users who appear after the snapshot, by canonical id, and refuses bad lists', async () => {
    const [viewer, newcomer, partner] = await Promise.all([createUser(stack, 'Viewer'), createUser(stack, 'Newcomer'), createUser(stack, 'Partner')]);
    await setStatus(newcomer.userId, { vipTier: 2, wealth: 7, charm: 3 });
    await pair(newcomer.userId, partner.userId);
    const unknown = randomUUID();
    // An upper-case id and a repeat name the same user once; an id with no user reads as no badges.
    const ids = [newcomer.userId.toUpperCase(), newcomer.userId, partner.userId, unknown].join(',');
    const reply = await client.as(viewer).get<{ users: Record<string, UserBadges> }>(`/users/badges?ids=${ids}`);
    expect(reply.status).toBe(200);
    expect(reply.body.users).toEqual({
      [newcomer.userId]: badges(2, 7, 3, partner.userId),
      [partner.userId]: badges(0, 0, 0, newcomer.userId),
      [unknown]: badges(0, 0, 0),
    });

    const tooMany = Array.from({ length: 51 }, () => randomUUID()).join(',');
    for (const query of ['', '?ids=', '?ids=not-a-uuid', `?ids=${tooMany}`, `?ids=${unknown}&ids=${unknown}`, `?ids=${unknown}&extra=1`]) {
      const refused = await client.as(viewer).get(`/users/badges${query}`);
      expect({ query, status: refused.status, code: errorCode(refused) }).toEqual({ query, status: 400, code: 'VALIDATION_FAILED' });
    }
  });
});

describe('the badge cache', () => {
  /** Counts the queries the cache makes and the ids each asked for. */
  function countingSource(): BadgeFactSource & { calls: string[][] } {
    const profiles = new PublicProfiles(stack.dataSource);
    const calls: string[][] = [];
    return {
      calls,
      badgeFacts: (ids) => {
        calls.push([...ids]);
        return profiles.badgeFacts(ids);
      },
    };
  }

  it('reads all misses in one query, serves hits from memory, and a change shows once the entry is ttl old', async () => {
    const users = await Promise.all(Array.from({ length: 3 }, () => createUser(stack)));
    const ids = users.map((u) => u.userId);
    await setStatus(ids[0]!, { wealth: 1 });
    let now = Date.UTC(2026, 0, 1);
    const source = countingSource();
    const cache = new CachedBadges(source, 5_000, () => now);

    const unknown = randomUUID();
    const first = await cache.badgesOf([...ids, ids[0]!, unknown]);
    expect(source.calls).toHaveLength(1);
    expect(source.calls[0]!.sort()).toEqual([...ids, unknown].sort());
    expect(first[ids[0]!]!.wealthLevel).toBe(1);
    expect(first[unknown]).toEqual(badges(0, 0, 0)); // no such user: nothing to show

    await setStatus(ids[0]!, { wealth: 2 });
    now += 4_999;
    // Still within the bound: the old level, and no query at all.
    expect((await cache.badgesOf(ids))[ids[0]!]!.wealthLevel).toBe(1);
    expect(source.calls).toHaveLength(1);

    now += 1; // ttl reached
    expect((await cache.badgesOf(ids))[ids[0]!]!.wealthLevel).toBe(2);
    expect(source.calls).toHaveLength(2);

    // Concurrent readers share the loads: two calls at once, one query.
    now += 5_000;
    await Promise.all([cache.badgesOf(ids), cache.badgesOf(ids)]);
    expect(source.calls).toHaveLength(3);

    // A writer in this process drops its user at once.
    await setStatus(ids[1]!, { charm: 7 });
    cache.forget(ids[1]!);
    expect((await cache.badgesOf([ids[1]!]))[ids[1]!]!.charmLevel).toBe(7);
  });

  it('shows a VIP expiry at the expiry instant, even from cached facts', async () => {
    const user = await createUser(stack);
    const [row] = (await sql(`UPDATE users SET vip_tier = 2, vip_expires_at = now() + interval '1 hour' WHERE id = $1 RETURNING vip_expires_at`, [user.userId])) as [
      { vip_expires_at: Date }[],
      number,
    ];
    const expiresAt = row[0]!.vip_expires_at.getTime();
    let now = expiresAt - 1_000;
    const source = countingSource();
    const cache = new CachedBadges(source, 60_000, () => now);
    expect((await cache.badgesOf([user.userId]))[user.userId]!.vipTier).toBe(2);
    now = expiresAt;
    expect((await cache.badgesOf([user.userId]))[user.userId]!.vipTier).toBe(0);
    expect(source.calls).toHaveLength(1); // read from the cached expiry, no new query
  });

  it('keeps no failed load: the next read asks again', async () => {
    const user = await createUser(stack);
    const real = new PublicProfiles(stack.dataSource);
    let fail = true;
    const cache = new CachedBadges(
      {
        badgeFacts: (ids) => (fail ? Promise.reject(new Error('database down')) : real.badgeFacts(ids)),
      },
      60_000,
    );
    await expect(cache.badgesOf([user.userId])).rejects.toThrow('database down');
    fail = false;
    expect((await cache.badgesOf([user.userId]))[user.userId]).toEqual(badges(0, 0, 0));
  });
});
