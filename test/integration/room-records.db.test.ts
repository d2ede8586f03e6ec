import { randomUUID } from 'node:crypto';
import { encodeCursor, type Page } from '../../db/repositories/pagination';
import { Relations } from '../../db/repositories/relations';
import { ChatArchive, type ChatMessageView } from '../../db/repositories/room-messages';
import { ModerationLog, Reports } from '../../db/repositories/room-moderation';
import { RoomDirectory, type NewRoom } from '../../db/repositories/rooms';
import { AppError, ErrorCode } from '../../domain/errors';
import { CHAT_MAX_CHARS, CHAT_RECALL_WINDOW_MS, type RoomView } from '../../domain/rooms/model';
import { hashRoomPassword, verifyRoomPassword } from '../../platform/crypto/room-passwords';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * The PostgreSQL side of rooms (Rooms migration and its repositories) on the real database:
 * rooms and their settings, roles, admins, bans, discovery lists, the chat archive, the
 * moderation log and reports.
 */
let stack: RealStack;
let rooms: RoomDirectory;
let chat: ChatArchive;
let log: ModerationLog;
let reports: Reports;
let relations: Relations;

beforeAll(async () => {
  stack = await connectRealStack('room-records');
  rooms = new RoomDirectory(stack.dataSource);
  chat = new ChatArchive(stack.dataSource);
  log = new ModerationLog(stack.dataSource);
  reports = new Reports(stack.dataSource);
  relations = new Relations(stack.dataSource);
});

afterAll(async () => {
  await stack?.close();
});

/** Awaits a promise that must reject with an AppError of the given code; returns the error. */
async function refusedWith(promise: Promise<unknown>, code: ErrorCode): Promise<AppError> {
  const outcome = await promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected ${code} but the call resolved with ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(AppError);
  expect(outcome.error).toMatchObject({ code });
  return outcome.error as AppError;
}

async function newRoom(ownerId: string, overrides: Partial<NewRoom> = {}): Promise<RoomView> {
  return rooms.create({ ownerId, type: 'voice', name: `room ${randomUUID().slice(0, 6)}`, seatCount: 8, seatMode: 'free', ...overrides });
}

/** Every page of a list, following cursors until the last; fails on a loop. */
async function allPages<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>): Promise<{ pages: T[][]; items: T[] }> {
  const pages: T[][] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await fetchPage(cursor);
    pages.push(page.items);
    if (page.nextCursor === null) break;
    expect(page.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
    cursor = page.nextCursor;
    if (pages.length > 1000) throw new Error('pagination does not end');
  }
  return { pages, items: pages.flat() };
}

/** Newest first, ties broken by the larger id: the discovery order. */
async function expectedOrder(ids: string[]): Promise<string[]> {
  const rows: { id: string }[] = await stack.dataSource.query(
    `SELECT id FROM rooms WHERE id = ANY($1::uuid[]) ORDER BY created_at DESC, id DESC`,
    [ids],
  );
  return rows.map((r) => r.id);
}

/** Rooms inserted directly with chosen creation times (microseconds apart, or equal). */
async function roomsCreatedAt(ownerId: string, region: string, times: string[]): Promise<string[]> {
  const rows: { id: string }[] = await stack.dataSource.query(
    `INSERT INTO rooms (owner_id, type, name, region, seat_count, seat_mode, created_at)
     SELECT $1, 'voice', 'timed room', $2, 4, 'free', t::timestamptz FROM unnest($3::text[]) AS t
     RETURNING id`,
    [ownerId, region, times],
  );
  return rows.map((r) => r.id);
}

describe('room passwords', () => {
  it('hashes with scrypt and a random salt, verifies in constant time, and rejects what it cannot read', async () => {
    const [a, b] = await Promise.all([hashRoomPassword('open sesame'), hashRoomPassword('open sesame')]);
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(a.split('$')[4]!, 'base64')).toHaveLength(16);
    expect(a).not.toBe(b);
    expect(a).not.toContain('open sesame');
    expect(await verifyRoomPassword(a, 'open sesame')).toBe(true);
    expect(await verifyRoomPassword(b, 'open sesame')).toBe(true);
    expect(await verifyRoomPassword(a, 'open sesame ')).toBe(false);
    expect(await verifyRoomPassword(a, '')).toBe(false);
    const parts = a.split('$');
    expect(await verifyRoomPassword(['bcrypt', ...parts.slice(1)].join('$'), 'open sesame')).toBe(false);
    expect(await verifyRoomPassword([...parts.slice(0, 1), '1000', ...parts.slice(2)].join('$'), 'open sesame')).toBe(false);
    expect(await verifyRoomPassword(parts.slice(0, 5).join('$'), 'open sesame')).toBe(false);
    expect(await verifyRoomPassword('', 'open sesame')).toBe(false);
  });
});

describe('rooms', () => {
  it('creates a room, finds it with its password hash, and checks passwords', async () => {
    const owner = await stack.newUser();
    const room = await newRoom(owner.id, {
      type: 'music',
      name: '  Late night jams ',
      coverUrl: 'https://cdn.aura.test/c.png',
      topic: 'lofi',
      region: 'IN',
      seatCount: 12,
      seatMode: 'apply',
      password: 'hunter2',
    });
    expect(room).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      ownerId: owner.id,
      type: 'music',
      name: 'Late night jams',
      coverUrl: 'https://cdn.aura.test/c.png',
      topic: 'lofi',
      region: 'IN',
      seatCount: 12,
      seatMode: 'apply',
      passwordProtected: true,
      playlistPolicy: 'moderators',
      status: 'open',
      createdAt: expect.any(String),
    });
    expect(room).not.toHaveProperty('passwordHash');

    const found = await rooms.findById(room.id);
    expect(found).toEqual({ ...room, passwordHash: expect.stringMatching(/^scrypt\$/) });
    expect(await rooms.checkPassword(found!, 'hunter2')).toBe(true);
    expect(await rooms.checkPassword(found!, 'hunter3')).toBe(false);
    expect(await rooms.checkPassword(found!, undefined)).toBe(false);

    const open = await newRoom(owner.id);
    expect(open.passwordProtected).toBe(false);
    const openFound = await rooms.findById(open.id);
    expect(openFound?.passwordHash).toBeNull();
    expect(await rooms.checkPassword(openFound!, undefined)).toBe(true);
    expect(await rooms.checkPassword(openFound!, 'anything')).toBe(true);
  });

  it('answers null for an unknown or malformed id, and 404 for an owner that does not exist', async () => {
    expect(await rooms.findById(randomUUID())).toBeNull();
    expect(await rooms.findById('not-a-uuid')).toBeNull();
    expect(await rooms.findById("'; DROP TABLE rooms; --")).toBeNull();
    await refusedWith(newRoom(randomUUID()), ErrorCode.UserNotFound);
  });

  it('refuses settings outside the table constraints', async () => {
    const owner = await stack.newUser();
    await expect(newRoom(owner.id, { seatCount: 21 })).rejects.toThrow(/check constraint/);
    await expect(newRoom(owner.id, { seatCount: 0 })).rejects.toThrow(/check constraint/);
    await expect(newRoom(owner.id, { name: '   ' })).rejects.toThrow(/check constraint/);
    await expect(newRoom(owner.id, { region: 'in' })).rejects.toThrow(/check constraint/);
    await expect(newRoom(owner.id, { type: 'podcast' as never })).rejects.toThrow(/check constraint/);
    const room = await newRoom(owner.id);
    await expect(stack.dataSource.query(`UPDATE rooms SET status = 'closed' WHERE id = $1`, [room.id])).rejects.toThrow(
      /rooms_closed_at_matches_status/,
    );
  });

  it('updates settings of an open room, keeps the seat count, and removes or replaces the password', async () => {
    const owner = await stack.newUser();
    const room = await newRoom(owner.id, { password: 'first', seatCount: 6 });
    const [before]: { updated_at: Date }[] = await stack.dataSource.query(`SELECT updated_at FROM rooms WHERE id = $1`, [room.id]);

    const renamed = await rooms.update(room.id, { name: 'Renamed', topic: 'new topic', region: 'GB', seatMode: 'apply' });
    expect(renamed).toEqual({ ...room, name: 'Renamed', topic: 'new topic', region: 'GB', seatMode: 'apply' });
    const [after]: { updated_at: Date }[] = await stack.dataSource.query(`SELECT updated_at FROM rooms WHERE id = $1`, [room.id]);
    expect(after!.updated_at.getTime()).toBeGreaterThanOrEqual(before!.updated_at.getTime());
    expect(after!.updated_at).not.toEqual(before!.updated_at);

    const changed = await rooms.update(room.id, { password: 'second' });
    expect(changed?.passwordProtected).toBe(true);
    const withNew = await rooms.findById(room.id);
    expect(await rooms.checkPassword(withNew!, 'first')).toBe(false);
    expect(await rooms.checkPassword(withNew!, 'second')).toBe(true);

    const cleared = await rooms.update(room.id, { password: null });
    expect(cleared).toMatchObject({ passwordProtected: false, seatCount: 6, name: 'Renamed' });
    expect((await rooms.findById(room.id))?.passwordHash).toBeNull();

    // The patch type has no seat count; a stray one is ignored.
    expect((await rooms.update(room.id, { seatCount: 20 } as never))?.seatCount).toBe(6);
    expect(await rooms.update(randomUUID(), { name: 'nobody' })).toBeNull();
    expect(await rooms.update('bogus', { name: 'nobody' })).toBeNull();
  });

  it('closes once: a second close, and updates after closing, change nothing', async () => {
    const owner = await stack.newUser();
    const room = await newRoom(owner.id);
    expect(await rooms.close(room.id, 'owner')).toBe(true);
    expect(await rooms.close(room.id, 'empty')).toBe(false);
    expect(await rooms.close(randomUUID(), 'owner')).toBe(false);
    expect((await rooms.findById(room.id))?.status).toBe('closed');
    const [row]: { closed_reason: string; closed_at: Date | null }[] = await stack.dataSource.query(
      `SELECT closed_reason, closed_at FROM rooms WHERE id = $1`,
      [room.id],
    );
    expect(row).toEqual({ closed_reason: 'owner', closed_at: expect.any(Date) });
    expect(await rooms.update(room.id, { name: 'too late' })).toBeNull();
    expect((await rooms.findById(room.id))?.name).toBe(room.name);
  });
});

describe('roles and admins', () => {
  it('tells owner, admin and member apart, and grants and revokes admins', async () => {
    const [owner, admin, member] = await Promise.all([stack.newUser(), stack.newUser(), stack.newUser()]);
    const room = await newRoom(owner.id);
    await rooms.grantAdmin(room.id, admin.id, owner.id, 5);
    await rooms.grantAdmin(room.id, admin.id, owner.id, 5); // a no-op
    expect(await rooms.roleOf(room.id, owner.id)).toBe('owner');
    expect(await rooms.roleOf(room.id, admin.id)).toBe('admin');
    expect(await rooms.roleOf(room.id, member.id)).toBe('member');
    expect(await rooms.roleOf(room.id, 'nonsense')).toBe('member');
    expect(await rooms.roleOf(randomUUID(), owner.id)).toBe('member');
    expect(await rooms.listAdmins(room.id)).toEqual([admin.id]);

    await refusedWith(rooms.grantAdmin(room.id, owner.id, owner.id, 5), ErrorCode.TargetProtected);
    await refusedWith(rooms.grantAdmin(randomUUID(), member.id, owner.id, 5), ErrorCode.RoomNotFound);
    await refusedWith(rooms.grantAdmin(room.id, randomUUID(), owner.id, 5), ErrorCode.UserNotFound);

    expect(await rooms.revokeAdmin(room.id, admin.id)).toBe(true);
    expect(await rooms.revokeAdmin(room.id, admin.id)).toBe(false);
    expect(await rooms.roleOf(room.id, admin.id)).toBe('member');
    expect(await rooms.listAdmins(room.id)).toEqual([]);

    await rooms.close(room.id, 'owner');
    await refusedWith(rooms.grantAdmin(room.id, member.id, owner.id, 5), ErrorCode.RoomClosed);
  });

  it('lets exactly the maximum number of concurrent grants succeed', async () => {
    const owner = await stack.newUser();
    const candidates = await Promise.all(Array.from({ length: 10 }, () => stack.newUser()));
    const room = await newRoom(owner.id);
    const max = 3;
    const outcomes = await Promise.allSettled(candidates.map((c) => rooms.grantAdmin(room.id, c.id, owner.id, max)));

    const granted = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(granted).toHaveLength(max);
    expect(refused).toHaveLength(candidates.length - max);
    for (const r of refused) expect(r.reason).toMatchObject({ code: ErrorCode.AdminLimitReached });
    const admins = await rooms.listAdmins(room.id);
    expect(admins).toHaveLength(max);
    const winners = candidates.filter((_, i) => outcomes[i]!.status === 'fulfilled').map((c) => c.id);
    expect([...admins].sort()).toEqual([...winners].sort());

    // At the limit, re-granting an admin is still a no-op rather than a refusal.
    await rooms.grantAdmin(room.id, winners[0]!, owner.id, max);
    expect(await rooms.listAdmins(room.id)).toHaveLength(max);
  });
});

describe('bans', () => {
  it('bans idempotently, drops a banned admin, refuses banning the owner, unbans, and pages the list', async () => {
    const [owner, admin, ...others] = await Promise.all(Array.from({ length: 7 }, () => stack.newUser()));
    const room = await newRoom(owner!.id);
    await rooms.grantAdmin(room.id, admin!.id, owner!.id, 5);

    await rooms.ban(room.id, admin!.id, owner!.id, 'spamming the mic');
    await rooms.ban(room.id, admin!.id, owner!.id, 'a second reason is ignored');
    expect(await rooms.isBanned(room.id, admin!.id)).toBe(true);
    expect(await rooms.roleOf(room.id, admin!.id)).toBe('member');
    const [firstBan] = (await rooms.listBans(room.id, { limit: 10 })).items;
    expect(firstBan).toEqual({ userId: admin!.id, bannedBy: owner!.id, reason: 'spamming the mic', createdAt: expect.any(String) });

    await refusedWith(rooms.ban(room.id, owner!.id, admin!.id), ErrorCode.TargetProtected);
    await refusedWith(rooms.ban(randomUUID(), admin!.id, owner!.id), ErrorCode.RoomNotFound);
    await refusedWith(rooms.ban(room.id, randomUUID(), owner!.id), ErrorCode.UserNotFound);

    for (const other of others) await rooms.ban(room.id, other.id, owner!.id);
    const { pages, items } = await allPages((cursor) => rooms.listBans(room.id, { cursor, limit: 2 }));
    expect(pages.map((p) => p.length)).toEqual([2, 2, 2]);
    const listed = items.map((b) => b.userId);
    expect(new Set(listed).size).toBe(6);
    expect([...listed].sort()).toEqual([admin!.id, ...others.map((o) => o.id)].sort());
    const rows: { user_id: string }[] = await stack.dataSource.query(
      `SELECT user_id FROM room_bans WHERE room_id = $1 ORDER BY created_at DESC, user_id DESC`,
      [room.id],
    );
    expect(listed).toEqual(rows.map((r) => r.user_id));

    expect(await rooms.unban(room.id, admin!.id)).toBe(true);
    expect(await rooms.unban(room.id, admin!.id)).toBe(false);
    expect(await rooms.isBanned(room.id, admin!.id)).toBe(false);
    expect(await rooms.isBanned(room.id, owner!.id)).toBe(false);
  });
});

describe('discovery', () => {
  it('lists open rooms newest first, in pages with neither overlap nor gaps, filtered by region', async () => {
    const owner = await stack.newUser();
    const region = 'QA';
    const created: string[] = [];
    for (let i = 0; i < 7; i++) created.push((await newRoom(owner.id, { region })).id);
    const closed = await newRoom(owner.id, { region });
    await rooms.close(closed.id, 'empty');
    await newRoom(owner.id, { region: 'QB' });

    const { pages, items } = await allPages((cursor) => rooms.listNew({ cursor, limit: 3, region }));
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(items.map((r) => r.id)).toEqual(await expectedOrder(created));
    expect(items.every((r) => r.region === region && r.status === 'open')).toBe(true);

    // Without a region the same rooms appear in the same relative order among everyone's.
    const everything = await allPages((cursor) => rooms.listNew({ cursor, limit: 50 }));
    const ids = everything.items.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).not.toContain(closed.id);
    expect(ids.filter((id) => created.includes(id))).toEqual(await expectedOrder(created));
  });

  it('keeps keyset order exact for rooms created in the same microsecond or microseconds apart', async () => {
    const owner = await stack.newUser();
    const region = 'QC';
    // In the past, so these never crowd the top of other suites' "new" lists.
    const ids = await roomsCreatedAt(owner.id, region, [
      '2001-01-01T00:00:00.000100Z',
      '2001-01-01T00:00:00.000200Z',
      '2001-01-01T00:00:00.000200Z',
      '2001-01-01T00:00:00.000200Z',
      '2001-01-01T00:00:00.000900Z',
      '2001-01-01T00:00:00.000300Z',
    ]);
    const expected = await expectedOrder(ids);
    for (const limit of [1, 2, 4]) {
      const { items } = await allPages((cursor) => rooms.listNew({ cursor, limit, region }));
      expect(items.map((r) => r.id)).toEqual(expected);
    }
  });

  it('refuses a cursor that is not one of ours', async () => {
    for (const cursor of ['%%%', 'bm90IGpzb24', encodeCursor(['2001-01-01T00:00:00.000000Z']), encodeCursor(['yesterday', randomUUID()]), encodeCursor(['42'])]) {
      const error = await refusedWith(rooms.listNew({ cursor, limit: 5 }), ErrorCode.ValidationFailed);
      expect(error).toMatchObject({ message: 'cursor is not valid' });
    }
  });

  it('lists open rooms of the owners a user follows', async () => {
    const [viewer, followedA, followedB, stranger] = await Promise.all(Array.from({ length: 4 }, () => stack.newUser()));
    await relations.follow(viewer!.id, followedA!.id);
    await relations.follow(viewer!.id, followedB!.id);
    const wanted: string[] = [];
    for (const owner of [followedA!, followedB!, followedA!, followedB!, followedA!]) wanted.push((await newRoom(owner.id)).id);
    await newRoom(stranger!.id);
    const closed = await newRoom(followedA!.id);
    await rooms.close(closed.id, 'owner');

    const { pages, items } = await allPages((cursor) => rooms.listFollowedOwners(viewer!.id, { cursor, limit: 2 }));
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(items.map((r) => r.id)).toEqual(await expectedOrder(wanted));

    expect(await rooms.listFollowedOwners(stranger!.id, { limit: 10 })).toEqual({ items: [], nextCursor: null });
  });

  it('lists rooms by id in the order given, skipping closed, missing and malformed ids', async () => {
    const owner = await stack.newUser();
    const [a, b, c] = [await newRoom(owner.id), await newRoom(owner.id), await newRoom(owner.id)];
    await rooms.close(b.id, 'empty');
    const listed = await rooms.listByIds([c.id, randomUUID(), b.id, 'junk', a.id, c.id]);
    expect(listed.map((r) => r.id)).toEqual([c.id, a.id]);
    expect(await rooms.listByIds([])).toEqual([]);
  });
});

describe('chat archive', () => {
  it('appends once per (room, sender, client message id)', async () => {
    const [owner, other] = await Promise.all([stack.newUser(), stack.newUser()]);
    const room = await newRoom(owner.id);
    const first = await chat.append({ roomId: room.id, senderId: owner.id, kind: 'text', body: 'hello', clientMsgId: 'c-1' });
    expect(first).toEqual({
      duplicate: false,
      message: {
        id: expect.stringMatching(/^\d+$/),
        roomId: room.id,
        senderId: owner.id,
        kind: 'text',
        body: 'hello',
        clientMsgId: 'c-1',
        createdAt: expect.any(String),
        recalled: false,
        deleted: false,
      },
    });
    const retry = await chat.append({ roomId: room.id, senderId: owner.id, kind: 'text', body: 'hello (edited)', clientMsgId: 'c-1' });
    expect(retry).toEqual({ duplicate: true, message: first.message });

    // The same client id from someone else, or with no client id, is a new message.
    const theirs = await chat.append({ roomId: room.id, senderId: other.id, kind: 'text', body: 'hi', clientMsgId: 'c-1' });
    expect(theirs.duplicate).toBe(false);
    const plain1 = await chat.append({ roomId: room.id, senderId: owner.id, kind: 'text', body: 'again' });
    const plain2 = await chat.append({ roomId: room.id, senderId: owner.id, kind: 'text', body: 'again' });
    expect(plain1.message.id).not.toBe(plain2.message.id);

    // System messages have no sender and still dedupe on their client id.
    const sys1 = await chat.append({ roomId: room.id, senderId: null, kind: 'system', body: 'x'.repeat(1500), clientMsgId: 'sys-1' });
    const sys2 = await chat.append({ roomId: room.id, senderId: null, kind: 'system', body: 'x'.repeat(1500), clientMsgId: 'sys-1' });
    expect(sys1.duplicate).toBe(false);
    expect(sys2).toEqual({ duplicate: true, message: sys1.message });

    const counted: { count: number }[] = await stack.dataSource.query(`SELECT count(*)::int AS count FROM room_messages WHERE room_id = $1`, [room.id]);
    expect(counted).toEqual([{ count: 5 }]);
  });

  it('writes one row when the same message is retried concurrently', async () => {
    const owner = await stack.newUser();
    const room = await newRoom(owner.id);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => chat.append({ roomId: room.id, senderId: owner.id, kind: 'text', body: 'race', clientMsgId: 'same' })),
    );
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
  });

  it('refuses over-long text, empty text, a missing room, and a sender on a system message', async () => {
    const owner = await stack.newUser();
    const room = await newRoom(owner.id);
    await refusedWith(
      chat.append({ roomId: room.id, senderId: owner.id, kind: 'text', body: 'a'.repeat(CHAT_MAX_CHARS + 1) }),
      ErrorCode.ChatTooLong,
    );
    // Characters, not UTF-16 units: 500 emoji fit.
    expect((await chat.append({ roomId: room.id, senderId: owner.id, kind: 'text', body: '😀'.repeat(CHAT_MAX_CHARS) })).duplicate).toBe(false);
    await refusedWith(chat.append({ roomId: room.id, senderId: owner.id, kind: 'text', body: '   ' }), ErrorCode.ValidationFailed);
    await refusedWith(chat.append({ roomId: randomUUID(), senderId: owner.id, kind: 'text', body: 'hi' }), ErrorCode.RoomNotFound);
    await expect(chat.append({ roomId: room.id, senderId: owner.id, kind: 'system', body: 'hi' })).rejects.toThrow(/sender/);
    await expect(
      stack.dataSource.query(`INSERT INTO room_messages (room_id, sender_id, kind, body) VALUES ($1, NULL, 'text', 'x')`, [room.id]),
    ).rejects.toThrow(/room_messages_system_has_no_sender/);
  });

  it('pages history newest first, showing recalled and deleted messages as tombstones', async () => {
    const [owner, moderator] = await Promise.all([stack.newUser(), stack.newUser()]);
    const room = await newRoom(owner.id);
    const sent: ChatMessageView[] = [];
    for (let i = 0; i < 7; i++) sent.push((await chat.append({ roomId: room.id, senderId: owner.id, kind: 'text', body: `m${i}` })).message);
    await chat.recall(room.id, sent[2]!.id, owner.id, new Date(), CHAT_RECALL_WINDOW_MS);
    await chat.remove(room.id, sent[4]!.id, moderator.id);

    const { pages, items } = await allPages((before) => chat.history(room.id, { before, limit: 3 }));
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(items.map((m) => m.id)).toEqual([...sent].reverse().map((m) => m.id));
    expect(items.map((m) => m.body)).toEqual(['m6', 'm5', null, 'm3', null, 'm1', 'm0']);
    expect(items.find((m) => m.id === sent[2]!.id)).toMatchObject({ recalled: true, deleted: false, body: null });
    expect(items.find((m) => m.id === sent[4]!.id)).toMatchObject({ recalled: false, deleted: true, body: null });

    expect(await chat.history(randomUUID(), { limit: 3 })).toEqual({ items: [], nextCursor: null });
    await refusedWith(chat.history(room.id, { before: 'garbage!', limit: 3 }), ErrorCode.ValidationFailed);
    await refusedWith(chat.history(room.id, { before: encodeCursor(['-1']), limit: 3 }), ErrorCode.ValidationFailed);

    expect(await chat.findById(room.id, sent[0]!.id)).toEqual(sent[0]);
    expect(await chat.findById(room.id, sent[4]!.id)).toMatchObject({ deleted: true, body: null });
    expect(await chat.findById(room.id, 'abc')).toBeNull();
    expect(await chat.findById(room.id, '999999999999')).toBeNull();
    expect(await chat.findById(randomUUID(), sent[0]!.id)).toBeNull();
  });

  it('lets only the sender recall, only inside the window measured at the given time, and idempotently', async () => {
    const [sender, other] = await Promise.all([stack.newUser(), stack.newUser()]);
    const room = await newRoom(sender.id);
    const send = async (body: string) => (await chat.append({ roomId: room.id, senderId: sender.id, kind: 'text', body })).message;
    const window = CHAT_RECALL_WINDOW_MS;

    const m1 = await send('oops');
    const sentAt = Date.parse(m1.createdAt);
    await refusedWith(chat.recall(room.id, m1.id, other.id, new Date(sentAt), window), ErrorCode.NotMessageSender);
    // Exactly at the end of the window still counts; a millisecond later does not.
    const recalled = await chat.recall(room.id, m1.id, sender.id, new Date(sentAt + window), window);
    expect(recalled).toMatchObject({ id: m1.id, recalled: true, deleted: false, body: null });
    const [row]: { recalled_at: Date }[] = await stack.dataSource.query(`SELECT recalled_at FROM room_messages WHERE id = $1`, [m1.id]);
    expect(row!.recalled_at.getTime()).toBe(sentAt + window);
    // Recalling again, even long after, returns the same tombstone.
    expect(await chat.recall(room.id, m1.id, sender.id, new Date(sentAt + 10 * window), window)).toEqual(recalled);

    const m2 = await send('too late');
    await refusedWith(
      chat.recall(room.id, m2.id, sender.id, new Date(Date.parse(m2.createdAt) + window + 1), window),
      ErrorCode.RecallWindowPassed,
    );
    expect((await chat.findById(room.id, m2.id))?.body).toBe('too late');

    await refusedWith(chat.recall(room.id, m2.id, other.id, new Date(), window), ErrorCode.NotMessageSender);
    await refusedWith(chat.recall(room.id, '987654321', sender.id, new Date(), window), ErrorCode.MessageNotFound);
    await refusedWith(chat.recall(room.id, 'x1', sender.id, new Date(), window), ErrorCode.MessageNotFound);
    const elsewhere = await newRoom(sender.id);
    await refusedWith(chat.recall(elsewhere.id, m2.id, sender.id, new Date(), window), ErrorCode.MessageNotFound);

    const sys = (await chat.append({ roomId: room.id, senderId: null, kind: 'system', body: 'welcome' })).message;
    await refusedWith(chat.recall(room.id, sys.id, sender.id, new Date(), window), ErrorCode.NotMessageSender);
  });

  it('deletes a message idempotently, keeping who deleted it first', async () => {
    const [sender, mod1, mod2] = await Promise.all([stack.newUser(), stack.newUser(), stack.newUser()]);
    const room = await newRoom(sender.id);
    const m = (await chat.append({ roomId: room.id, senderId: sender.id, kind: 'text', body: 'rude' })).message;
    const deleted = await chat.remove(room.id, m.id, mod1.id);
    expect(deleted).toEqual({ ...m, body: null, deleted: true });
    expect(await chat.remove(room.id, m.id, mod2.id)).toEqual(deleted);
    const [row]: { deleted_by: string; body: string }[] = await stack.dataSource.query(
      `SELECT deleted_by, body FROM room_messages WHERE id = $1`,
      [m.id],
    );
    expect(row).toEqual({ deleted_by: mod1.id, body: 'rude' });
    // A deleted message can't be recalled back into view; the sender gets the tombstone.
    expect(await chat.recall(room.id, m.id, sender.id, new Date(), CHAT_RECALL_WINDOW_MS)).toEqual(deleted);
    await refusedWith(chat.remove(room.id, '987654321', mod1.id), ErrorCode.MessageNotFound);
    await refusedWith(chat.remove(room.id, 'NaN', mod1.id), ErrorCode.MessageNotFound);
  });
});

describe('moderation log', () => {
  it('records entries, lists them newest first in pages, and refuses updates, deletes and truncation', async () => {
    const [owner, target] = await Promise.all([stack.newUser(), stack.newUser()]);
    const room = await newRoom(owner.id);
    const msg = (await chat.append({ roomId: room.id, senderId: target.id, kind: 'text', body: 'spam' })).message;
    await log.record({ roomId: room.id, actorId: owner.id, action: 'kick', targetUserId: target.id, details: { cooldownSeconds: 300 } });
    await log.record({ roomId: room.id, actorId: owner.id, action: 'delete-message', targetUserId: target.id, targetMessageId: msg.id });
    await log.record({ roomId: room.id, actorId: owner.id, action: 'mute-all' });

    const { pages, items } = await allPages((cursor) => log.list(room.id, { cursor, limit: 2 }));
    expect(pages.map((p) => p.length)).toEqual([2, 1]);
    expect(items).toEqual([
      { id: expect.any(String), actorId: owner.id, action: 'mute-all', targetUserId: null, targetMessageId: null, details: {}, createdAt: expect.any(String) },
      { id: expect.any(String), actorId: owner.id, action: 'delete-message', targetUserId: target.id, targetMessageId: msg.id, details: {}, createdAt: expect.any(String) },
      { id: expect.any(String), actorId: owner.id, action: 'kick', targetUserId: target.id, targetMessageId: null, details: { cooldownSeconds: 300 }, createdAt: expect.any(String) },
    ]);

    await expect(stack.dataSource.query(`UPDATE room_moderation_log SET action = 'ban' WHERE room_id = $1`, [room.id])).rejects.toThrow(
      /append-only/,
    );
    await expect(stack.dataSource.query(`DELETE FROM room_moderation_log WHERE room_id = $1`, [room.id])).rejects.toThrow(/append-only/);
    await expect(stack.dataSource.query(`TRUNCATE room_moderation_log`)).rejects.toThrow(/append-only/);
    expect((await log.list(room.id, { limit: 10 })).items).toHaveLength(3);
  });

  it('records inside the caller’s transaction: a rollback leaves no entry', async () => {
    const owner = await stack.newUser();
    const room = await newRoom(owner.id);
    await expect(
      stack.dataSource.transaction(async (tx) => {
        await log.record({ roomId: room.id, actorId: owner.id, action: 'close-room' }, tx);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await log.list(room.id, { limit: 10 })).toEqual({ items: [], nextCursor: null });
  });
});

describe('reports', () => {
  it('files reports about a message, a user or a room, and refuses one about nothing', async () => {
    const [reporter, offender] = await Promise.all([stack.newUser(), stack.newUser()]);
    const room = await newRoom(offender.id);
    const msg = (await chat.append({ roomId: room.id, senderId: offender.id, kind: 'text', body: 'abuse' })).message;

    const a = await reports.file({ reporterId: reporter.id, roomId: room.id, targetUserId: offender.id, targetMessageId: msg.id, reason: 'harassment', details: 'see message' });
    const b = await reports.file({ reporterId: reporter.id, targetUserId: offender.id, reason: 'spam' });
    const c = await reports.file({ reporterId: reporter.id, roomId: room.id, reason: 'other' });
    expect(new Set([a.id, b.id, c.id]).size).toBe(3);
    const rows: { id: string; status: string; reason: string; target_message_id: string | null }[] = await stack.dataSource.query(
      `SELECT id::text AS id, status, reason, target_message_id::text AS target_message_id FROM reports WHERE reporter_id = $1 ORDER BY id`,
      [reporter.id],
    );
    expect(rows).toEqual([
      { id: a.id, status: 'open', reason: 'harassment', target_message_id: msg.id },
      { id: b.id, status: 'open', reason: 'spam', target_message_id: null },
      { id: c.id, status: 'open', reason: 'other', target_message_id: null },
    ]);

    await refusedWith(reports.file({ reporterId: reporter.id, reason: 'spam' }), ErrorCode.ValidationFailed);
    await refusedWith(reports.file({ reporterId: reporter.id, targetUserId: randomUUID(), reason: 'spam' }), ErrorCode.UserNotFound);
    await refusedWith(reports.file({ reporterId: reporter.id, targetMessageId: '987654321', reason: 'spam' }), ErrorCode.MessageNotFound);
    await expect(reports.file({ reporterId: reporter.id, roomId: room.id, reason: 'boring' as never })).rejects.toThrow(/check constraint/);
    await expect(stack.dataSource.query(`INSERT INTO reports (reporter_id, reason) VALUES ($1, 'spam')`, [reporter.id])).rejects.toThrow(
      /reports_have_a_target/,
    );
  });
});
