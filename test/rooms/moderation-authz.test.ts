import { randomUUID } from 'node:crypto';
import type { RoomLiveState } from '../../db/live/room-live-state';
import { ChatArchive } from '../../db/repositories/room-messages';
import { ModerationLog, type ModerationRecord } from '../../db/repositories/room-moderation';
import { RoomDirectory } from '../../db/repositories/rooms';
import type { RoomRole, RoomView } from '../../domain/rooms/model';
import { createRoomService } from '../../services/rooms';
import type { NewRoom, RoomService } from '../../services/rooms/room-service';
import { startApi } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { apiClient, errorCode, RoomJanitor, UNLIMITED_RATES, type ApiClient, type Method } from '../support/room-api';
import { createRoom, createUser, type TestUser } from '../support/rooms';

/**
 * "Only the owner and admins may moderate, and admins cannot act on the owner. Every
 * moderation action is authorised on the server and kept in an audit log."
 *
 * Every moderation action over REST, by every role, against every kind of target. What each
 * case should do is written out by hand below (never derived from the permission rules under
 * test), so a wrong rule fails here. Each case gets a fresh room.
 */

type ActorRole = 'owner' | 'admin' | 'member';
type TargetRole = 'owner' | 'admin' | 'member' | 'self';
type Refusal = 'MODERATOR_REQUIRED' | 'OWNER_REQUIRED' | 'TARGET_PROTECTED' | 'CANNOT_TARGET_SELF';
/** Allowed, refused by the permission rules (403 + code), or (one case) a 404 because there is nothing to undo. */
type Outcome = 'allowed' | Refusal | 'NOT_FOUND';

const OK = 'allowed';
const MOD: Refusal = 'MODERATOR_REQUIRED';
const OWNER: Refusal = 'OWNER_REQUIRED';
const PROT: Refusal = 'TARGET_PROTECTED';
const SELF: Refusal = 'CANNOT_TARGET_SELF';

/** The owner's "owner" target is themselves, so owners are tried against an admin, a member and themselves. */
interface PersonRow {
  owner: { admin: Outcome; member: Outcome; self: Outcome };
  admin: { owner: Outcome; admin: Outcome; member: Outcome; self: Outcome };
  member: { owner: Outcome; admin: Outcome; member: Outcome; self: Outcome };
}
const MEMBERS_CANNOT = { owner: MOD, admin: MOD, member: MOD, self: MOD } as const;

/** Actions aimed at a person: the expected outcome for each actor and target. */
const PERSON_EXPECTATIONS = {
  kick: { owner: { admin: OK, member: OK, self: SELF }, admin: { owner: PROT, admin: PROT, member: OK, self: SELF }, member: MEMBERS_CANNOT },
  ban: { owner: { admin: OK, member: OK, self: SELF }, admin: { owner: PROT, admin: PROT, member: OK, self: SELF }, member: MEMBERS_CANNOT },
  unban: { owner: { admin: OK, member: OK, self: SELF }, admin: { owner: PROT, admin: PROT, member: OK, self: SELF }, member: MEMBERS_CANNOT },
  'chat-mute': { owner: { admin: OK, member: OK, self: SELF }, admin: { owner: PROT, admin: PROT, member: OK, self: SELF }, member: MEMBERS_CANNOT },
  'chat-unmute': { owner: { admin: OK, member: OK, self: SELF }, admin: { owner: PROT, admin: PROT, member: OK, self: SELF }, member: MEMBERS_CANNOT },
  // The target of a deletion is the message's sender.
  'delete-message': { owner: { admin: OK, member: OK, self: SELF }, admin: { owner: PROT, admin: PROT, member: OK, self: SELF }, member: MEMBERS_CANNOT },
  'seat-mute': { owner: { admin: OK, member: OK, self: SELF }, admin: { owner: PROT, admin: PROT, member: OK, self: SELF }, member: MEMBERS_CANNOT },
  'seat-unmute': { owner: { admin: OK, member: OK, self: SELF }, admin: { owner: PROT, admin: PROT, member: OK, self: SELF }, member: MEMBERS_CANNOT },
  'seat-remove': { owner: { admin: OK, member: OK, self: SELF }, admin: { owner: PROT, admin: PROT, member: OK, self: SELF }, member: MEMBERS_CANNOT },
  // Friendly actions: an admin may invite, approve or reject another admin (never the owner).
  'seat-invite': { owner: { admin: OK, member: OK, self: SELF }, admin: { owner: PROT, admin: OK, member: OK, self: SELF }, member: MEMBERS_CANNOT },
  'seat-approve': { owner: { admin: OK, member: OK, self: SELF }, admin: { owner: PROT, admin: OK, member: OK, self: SELF }, member: MEMBERS_CANNOT },
  'seat-reject': { owner: { admin: OK, member: OK, self: SELF }, admin: { owner: PROT, admin: OK, member: OK, self: SELF }, member: MEMBERS_CANNOT },
  // Only the owner manages admins. Granting to an admin is a no-op that still succeeds; revoking
  // from someone who isn't an admin is allowed but finds nothing to revoke.
  'grant-admin': { owner: { admin: OK, member: OK, self: SELF }, admin: { owner: OWNER, admin: OWNER, member: OWNER, self: OWNER }, member: MEMBERS_CANNOT },
  'revoke-admin': { owner: { admin: OK, member: 'NOT_FOUND', self: SELF }, admin: { owner: OWNER, admin: OWNER, member: OWNER, self: OWNER }, member: MEMBERS_CANNOT },
} satisfies Record<string, PersonRow>;
type PersonAction = keyof typeof PERSON_EXPECTATIONS;

/**
 * Locking a seat aims at the seat, but locking an occupied seat unseats its speaker, so it is
 * also judged against whoever sits there.
 */
const SEAT_LOCK_EXPECTATIONS = {
  owner: { empty: OK, admin: OK, member: OK, self: SELF },
  admin: { empty: OK, owner: PROT, admin: PROT, member: OK, self: SELF },
  member: { empty: MOD, owner: MOD, admin: MOD, member: MOD, self: MOD },
} satisfies Record<ActorRole, Partial<Record<TargetRole | 'empty', Outcome>>>;

/** Actions on the room itself. */
const ROOM_EXPECTATIONS = {
  'mute-all': { owner: OK, admin: OK, member: MOD },
  'unmute-all': { owner: OK, admin: OK, member: MOD },
  'seat-unlock': { owner: OK, admin: OK, member: MOD },
  'update-room': { owner: OK, admin: OK, member: MOD },
  'close-room': { owner: OK, admin: OWNER, member: MOD },
} satisfies Record<string, Record<ActorRole, Outcome>>;
type RoomAction = keyof typeof ROOM_EXPECTATIONS;

// The cast: the same people in every room; their role comes from each room's setup.
type CastName = 'owner' | 'admin' | 'admin2' | 'member' | 'member2';
const SEAT_OF: Record<CastName, number> = { owner: 0, admin: 1, admin2: 2, member: 3, member2: 4 };
const EMPTY_SEAT = 6;
const ROLE_OF: Record<CastName, RoomRole> = { owner: 'owner', admin: 'admin', admin2: 'admin', member: 'member', member2: 'member' };

/** Who the target is, for an actor: "admin" is another admin, "member" another member. */
function castFor(actor: ActorRole, target: TargetRole): CastName {
  if (target === 'self') return actor;
  if (target === 'owner') return 'owner';
  if (target === 'admin') return actor === 'admin' ? 'admin2' : 'admin';
  return actor === 'member' ? 'member2' : 'member';
}

let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let client: ApiClient;
let rooms: RoomService;
let live: RoomLiveState;
let directory: RoomDirectory;
let chat: ChatArchive;
let log: ModerationLog;
let janitor: RoomJanitor;
const cast = {} as Record<CastName, TestUser>;

beforeAll(async () => {
  stack = await connectRealStack('rooms-moderation-authz');
  api = await startApi(stack, UNLIMITED_RATES);
  client = apiClient(api.url);
  ({ rooms, live } = createRoomService({ config: stack.config, dataSource: stack.dataSource, redis: stack.redis }));
  directory = new RoomDirectory(stack.dataSource);
  chat = new ChatArchive(stack.dataSource);
  log = new ModerationLog(stack.dataSource);
  janitor = new RoomJanitor(rooms, live);
  for (const name of ['owner', 'admin', 'admin2', 'member', 'member2'] as const) cast[name] = await createUser(stack, name);
});

afterEach(() => janitor.sweep());

afterAll(async () => {
  await api?.close();
  await stack?.close();
});

interface Scene {
  room: RoomView;
  actor: TestUser;
  /** The person aimed at, if any (for seat-lock, the occupant of the locked seat). */
  target: TestUser | null;
  targetName: CastName | null;
  seat: number;
  messageId?: string;
  wasBanned?: boolean;
}

/** A fresh room: two admins, everyone inside (as a WebSocket join makes them). */
async function freshRoom(overrides: Partial<NewRoom> = {}): Promise<RoomView> {
  const room = janitor.room(await createRoom(rooms, cast.owner.userId, overrides));
  await rooms.grantAdmin(cast.owner.userId, room.id, cast.admin.userId);
  await rooms.grantAdmin(cast.owner.userId, room.id, cast.admin2.userId);
  await Promise.all(Object.values(cast).map((u) => janitor.enter(room, u.userId)));
  return room;
}

async function seat(room: RoomView, name: CastName): Promise<void> {
  await rooms.takeSeat(cast[name].userId, room.id, SEAT_OF[name]);
}

async function seatView(scene: Scene, index = scene.seat) {
  const snapshot = await rooms.snapshot(scene.room.id, scene.actor.userId);
  return snapshot.seats[index]!;
}

async function auditTrail(roomId: string): Promise<ModerationRecord[]> {
  return (await log.list(roomId, { limit: 100 })).items;
}

interface ActionSpec {
  roomOverrides?: Partial<NewRoom>;
  /** Puts the room in the state the action needs (target seated, muted, applied, …). */
  arrange?(scene: Scene): Promise<void>;
  request(scene: Scene): { method: Method; path: string; body?: unknown };
  status: number;
  /** The action's effect is visible. */
  applied(scene: Scene): Promise<void>;
  /** Nothing changed. */
  unchanged(scene: Scene): Promise<void>;
  /** What the audit entry of an allowed action records (besides actor and action). */
  audit?(scene: Scene): Partial<ModerationRecord>;
}

const t = (scene: Scene) => scene.target!.userId;
const roomPath = (scene: Scene) => `/rooms/${scene.room.id}`;

const isBanned = (scene: Scene) => directory.isBanned(scene.room.id, t(scene));
const isMember = (scene: Scene) => live.isMember(scene.room.id, t(scene));
const chatMutedUntil = async (scene: Scene) => (await rooms.snapshot(scene.room.id, t(scene))).chatMutedUntil;
const hasInvitation = (scene: Scene) =>
  rooms.answerInvite(t(scene), scene.room.id, false).then(
    () => true,
    (err: { code?: string }) => {
      if (err.code === 'INVITATION_NOT_FOUND') return false;
      throw err;
    },
  );

const PERSON_SPECS: Record<PersonAction, ActionSpec> = {
  kick: {
    request: (s) => ({ method: 'POST', path: `${roomPath(s)}/kick`, body: { userId: t(s) } }),
    status: 204,
    applied: async (s) => expect(await isMember(s)).toBe(false),
    unchanged: async (s) => expect(await isMember(s)).toBe(true),
  },
  ban: {
    request: (s) => ({ method: 'PUT', path: `${roomPath(s)}/bans/${t(s)}`, body: { reason: 'spam' } }),
    status: 204,
    applied: async (s) => {
      expect(await isBanned(s)).toBe(true);
      expect(await isMember(s)).toBe(false);
    },
    unchanged: async (s) => {
      expect(await isBanned(s)).toBe(false);
      expect(await isMember(s)).toBe(true);
      expect(await directory.roleOf(s.room.id, t(s))).toBe(ROLE_OF[s.targetName!]);
    },
    audit: () => ({ details: { reason: 'spam' } }),
  },
  unban: {
    // Banned behind the service's back, so an admin stays an admin (the owner can't be banned at all).
    arrange: async (s) => {
      if (s.targetName === 'owner') return;
      await stack.dataSource.query(`INSERT INTO room_bans (room_id, user_id, banned_by) VALUES ($1, $2, $3)`, [s.room.id, t(s), cast.owner.userId]);
      s.wasBanned = true;
    },
    request: (s) => ({ method: 'DELETE', path: `${roomPath(s)}/bans/${t(s)}` }),
    status: 204,
    applied: async (s) => expect(await isBanned(s)).toBe(false),
    unchanged: async (s) => expect(await isBanned(s)).toBe(s.wasBanned === true),
  },
  'chat-mute': {
    request: (s) => ({ method: 'PUT', path: `${roomPath(s)}/chat-mutes/${t(s)}`, body: { minutes: 10 } }),
    status: 200,
    applied: async (s) => expect(await chatMutedUntil(s)).not.toBeNull(),
    unchanged: async (s) => expect(await chatMutedUntil(s)).toBeNull(),
    audit: () => ({ details: { durationMs: 600_000 } }),
  },
  'chat-unmute': {
    arrange: async (s) => live.chatMute(s.room.id, cast.owner.userId, t(s), Date.now() + 600_000),
    request: (s) => ({ method: 'DELETE', path: `${roomPath(s)}/chat-mutes/${t(s)}` }),
    status: 204,
    applied: async (s) => expect(await chatMutedUntil(s)).toBeNull(),
    unchanged: async (s) => expect(await chatMutedUntil(s)).not.toBeNull(),
  },
  'delete-message': {
    arrange: async (s) => {
      const posted = await rooms.postChat(t(s), s.room.id, { text: 'a line to moderate', clientMsgId: `authz-${randomUUID()}` });
      s.messageId = posted.message.id;
    },
    request: (s) => ({ method: 'DELETE', path: `${roomPath(s)}/messages/${s.messageId}` }),
    status: 204,
    applied: async (s) => expect(await chat.findById(s.room.id, s.messageId!)).toMatchObject({ deleted: true, body: null }),
    unchanged: async (s) => expect(await chat.findById(s.room.id, s.messageId!)).toMatchObject({ deleted: false, body: 'a line to moderate' }),
    audit: (s) => ({ targetMessageId: s.messageId, details: {} }),
  },
  'seat-mute': {
    arrange: (s) => seat(s.room, s.targetName!),
    request: (s) => ({ method: 'POST', path: `${roomPath(s)}/seats/${s.seat}/mute`, body: { muted: true } }),
    status: 204,
    applied: async (s) => expect(await seatView(s)).toMatchObject({ userId: t(s), mutedByAdmin: true }),
    unchanged: async (s) => expect(await seatView(s)).toMatchObject({ userId: t(s), mutedByAdmin: false }),
    audit: (s) => ({ details: { seat: s.seat } }),
  },
  'seat-unmute': {
    arrange: async (s) => {
      await seat(s.room, s.targetName!);
      await live.muteSeat(s.room.id, cast.owner.userId, s.seat, true, t(s));
    },
    request: (s) => ({ method: 'POST', path: `${roomPath(s)}/seats/${s.seat}/mute`, body: { muted: false } }),
    status: 204,
    applied: async (s) => expect(await seatView(s)).toMatchObject({ userId: t(s), mutedByAdmin: false }),
    unchanged: async (s) => expect(await seatView(s)).toMatchObject({ userId: t(s), mutedByAdmin: true }),
    audit: (s) => ({ details: { seat: s.seat } }),
  },
  'seat-remove': {
    arrange: (s) => seat(s.room, s.targetName!),
    request: (s) => ({ method: 'POST', path: `${roomPath(s)}/seats/remove`, body: { userId: t(s) } }),
    status: 204,
    applied: async (s) => expect(await seatView(s)).toMatchObject({ userId: null }),
    unchanged: async (s) => expect(await seatView(s)).toMatchObject({ userId: t(s) }),
  },
  'seat-invite': {
    request: (s) => ({ method: 'POST', path: `${roomPath(s)}/seats/invitations`, body: { userId: t(s) } }),
    status: 201,
    applied: async (s) => expect(await hasInvitation(s)).toBe(true),
    unchanged: async (s) => expect(await hasInvitation(s)).toBe(false),
  },
  'seat-approve': {
    roomOverrides: { seatMode: 'apply' },
    arrange: async (s) => {
      await rooms.applyForSeat(t(s), s.room.id);
    },
    request: (s) => ({ method: 'POST', path: `${roomPath(s)}/seats/applications/${t(s)}`, body: { approve: true, seat: 5 } }),
    status: 204,
    applied: async (s) => {
      expect(await live.applications(s.room.id)).not.toContain(t(s));
      expect(await seatView(s, 5)).toMatchObject({ userId: t(s) });
    },
    unchanged: async (s) => {
      expect(await live.applications(s.room.id)).toContain(t(s));
      expect(await seatView(s, 5)).toMatchObject({ userId: null });
    },
    audit: () => ({ details: { seat: 5 } }),
  },
  'seat-reject': {
    roomOverrides: { seatMode: 'apply' },
    arrange: async (s) => {
      await rooms.applyForSeat(t(s), s.room.id);
    },
    request: (s) => ({ method: 'POST', path: `${roomPath(s)}/seats/applications/${t(s)}`, body: { approve: false } }),
    status: 204,
    applied: async (s) => {
      expect(await live.applications(s.room.id)).not.toContain(t(s));
      expect((await live.snapshot(s.room.id)).seats.map((x) => x.userId)).not.toContain(t(s));
    },
    unchanged: async (s) => expect(await live.applications(s.room.id)).toContain(t(s)),
  },
  'grant-admin': {
    request: (s) => ({ method: 'PUT', path: `${roomPath(s)}/admins/${t(s)}` }),
    status: 204,
    applied: async (s) => expect(await directory.roleOf(s.room.id, t(s))).toBe('admin'),
    unchanged: async (s) => expect(await directory.roleOf(s.room.id, t(s))).toBe(ROLE_OF[s.targetName!]),
  },
  'revoke-admin': {
    request: (s) => ({ method: 'DELETE', path: `${roomPath(s)}/admins/${t(s)}` }),
    status: 204,
    applied: async (s) => expect(await directory.roleOf(s.room.id, t(s))).toBe('member'),
    unchanged: async (s) => expect(await directory.roleOf(s.room.id, t(s))).toBe(ROLE_OF[s.targetName!]),
  },
};

const SEAT_LOCK_SPEC: ActionSpec = {
  arrange: async (s) => {
    if (s.targetName) await seat(s.room, s.targetName);
  },
  request: (s) => ({ method: 'POST', path: `${roomPath(s)}/seats/${s.seat}/lock`, body: { locked: true } }),
  status: 204,
  applied: async (s) => expect(await seatView(s)).toMatchObject({ locked: true, userId: null }),
  unchanged: async (s) => expect(await seatView(s)).toMatchObject({ locked: false, userId: s.target?.userId ?? null }),
  audit: (s) => ({ targetUserId: s.target?.userId ?? null, details: { seat: s.seat } }),
};

const ROOM_SPECS: Record<RoomAction, ActionSpec> = {
  'mute-all': {
    request: (s) => ({ method: 'PUT', path: `${roomPath(s)}/mute-all`, body: { on: true } }),
    status: 204,
    applied: async (s) => expect((await live.snapshot(s.room.id)).muteAll).toBe(true),
    unchanged: async (s) => expect((await live.snapshot(s.room.id)).muteAll).toBe(false),
  },
  'unmute-all': {
    arrange: (s) => live.muteAll(s.room.id, cast.owner.userId, true),
    request: (s) => ({ method: 'PUT', path: `${roomPath(s)}/mute-all`, body: { on: false } }),
    status: 204,
    applied: async (s) => expect((await live.snapshot(s.room.id)).muteAll).toBe(false),
    unchanged: async (s) => expect((await live.snapshot(s.room.id)).muteAll).toBe(true),
  },
  'seat-unlock': {
    arrange: (s) => live.lockSeat(s.room.id, cast.owner.userId, s.seat, true, null),
    request: (s) => ({ method: 'POST', path: `${roomPath(s)}/seats/${s.seat}/lock`, body: { locked: false } }),
    status: 204,
    applied: async (s) => expect(await seatView(s)).toMatchObject({ locked: false }),
    unchanged: async (s) => expect(await seatView(s)).toMatchObject({ locked: true }),
    audit: (s) => ({ details: { seat: s.seat } }),
  },
  'update-room': {
    request: (s) => ({ method: 'PATCH', path: roomPath(s), body: { topic: 'Retitled by a moderator' } }),
    status: 200,
    applied: async (s) => expect(await rooms.get(s.room.id)).toMatchObject({ topic: 'Retitled by a moderator' }),
    unchanged: async (s) => expect(await rooms.get(s.room.id)).toMatchObject({ topic: null }),
    audit: () => ({ details: { fields: ['topic'] } }),
  },
  'close-room': {
    request: (s) => ({ method: 'POST', path: `${roomPath(s)}/close` }),
    status: 204,
    applied: async (s) => expect(await rooms.get(s.room.id)).toMatchObject({ status: 'closed' }),
    unchanged: async (s) => {
      expect(await rooms.get(s.room.id)).toMatchObject({ status: 'open', memberCount: 5 });
    },
  },
};

interface Case {
  name: string;
  action: string;
  spec: ActionSpec;
  actor: ActorRole;
  target: TargetRole | 'empty' | null;
  expected: Outcome;
}

function describeOutcome(expected: Outcome): string {
  if (expected === 'allowed') return 'allowed';
  if (expected === 'NOT_FOUND') return 'allowed, nothing to undo (404 NOT_FOUND)';
  return `refused ${expected}`;
}

function caseName(actor: ActorRole, action: string, target: Case['target'], expected: Outcome): string {
  const aim = target === null ? '' : target === 'empty' ? ' → empty seat' : ` → ${target}`;
  return `${actor} → ${action}${aim}: ${describeOutcome(expected)}`;
}

function personCases(action: PersonAction): Case[] {
  const row: PersonRow = PERSON_EXPECTATIONS[action];
  const cases: Case[] = [];
  for (const actor of ['owner', 'admin', 'member'] as const) {
    for (const [target, expected] of Object.entries(row[actor]) as [TargetRole, Outcome][]) {
      cases.push({ name: caseName(actor, action, target, expected), action, spec: PERSON_SPECS[action], actor, target, expected });
    }
  }
  return cases;
}

function seatLockCases(): Case[] {
  const cases: Case[] = [];
  for (const actor of ['owner', 'admin', 'member'] as const) {
    for (const [target, expected] of Object.entries(SEAT_LOCK_EXPECTATIONS[actor]) as [TargetRole | 'empty', Outcome][]) {
      cases.push({ name: caseName(actor, 'seat-lock', target, expected), action: 'seat-lock', spec: SEAT_LOCK_SPEC, actor, target, expected });
    }
  }
  return cases;
}

function roomCases(action: RoomAction): Case[] {
  return (['owner', 'admin', 'member'] as const).map((actor) => {
    const expected = ROOM_EXPECTATIONS[action][actor];
    return { name: caseName(actor, action, null, expected), action, spec: ROOM_SPECS[action], actor, target: null, expected };
  });
}

async function runCase({ action, spec, actor, target, expected }: Case): Promise<void> {
  const room = await freshRoom(spec.roomOverrides);
  const targetName = target === null || target === 'empty' ? null : castFor(actor, target);
  const scene: Scene = {
    room,
    actor: cast[actor],
    target: targetName ? cast[targetName] : null,
    targetName,
    seat: targetName ? SEAT_OF[targetName] : EMPTY_SEAT,
  };
  await spec.arrange?.(scene);
  const before = await auditTrail(room.id);

  const { method, path, body } = spec.request(scene);
  const reply = await client.call(scene.actor.token, method, path, body);

  const after = await auditTrail(room.id);
  const added = after.slice(0, after.length - before.length);
  if (expected === 'allowed') {
    expect({ status: reply.status, code: errorCode(reply) }).toEqual({ status: spec.status, code: undefined });
    await spec.applied(scene);
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({
      action,
      actorId: scene.actor.userId,
      targetUserId: scene.target?.userId ?? null,
      ...spec.audit?.(scene),
    });
  } else {
    const status = expected === 'NOT_FOUND' ? 404 : 403;
    expect({ status: reply.status, code: errorCode(reply) }).toEqual({ status, code: expected });
    await spec.unchanged(scene);
    expect(added).toEqual([]);
  }
}

describe('moderation over REST: each action, by each role, against each target', () => {
  for (const action of Object.keys(PERSON_EXPECTATIONS) as PersonAction[]) {
    describe(action, () => {
      it.each(personCases(action))('$name', runCase);
    });
  }

  describe('seat-lock', () => {
    it.each(seatLockCases())('$name', runCase);
  });

  for (const action of Object.keys(ROOM_EXPECTATIONS) as RoomAction[]) {
    describe(action, () => {
      it.each(roomCases(action))('$name', runCase);
    });
  }
});

describe('the audit log itself', () => {
  it('is readable by the owner and admins over REST, newest first, and refused to members', async () => {
    const room = await freshRoom();
    expect((await client.as(cast.admin).post(`/rooms/${room.id}/kick`, { userId: cast.member.userId })).status).toBe(204);
    expect((await client.as(cast.owner).put(`/rooms/${room.id}/mute-all`, { on: true })).status).toBe(204);

    for (const reader of [cast.owner, cast.admin]) {
      const reply = await client.as(reader).get<{ items: ModerationRecord[] }>(`/rooms/${room.id}/moderation-log`);
      expect(reply.status).toBe(200);
      expect(reply.body.items.slice(0, 2)).toMatchObject([
        { action: 'mute-all', actorId: cast.owner.userId, targetUserId: null },
        { action: 'kick', actorId: cast.admin.userId, targetUserId: cast.member.userId },
      ]);
    }
    const refused = await client.as(cast.member2).get(`/rooms/${room.id}/moderation-log`);
    expect({ status: refused.status, code: errorCode(refused) }).toEqual({ status: 403, code: 'MODERATOR_REQUIRED' });
  });
});
