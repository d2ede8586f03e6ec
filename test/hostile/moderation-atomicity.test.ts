import { Registry } from 'prom-client';
import type { EntityManager } from 'typeorm';
import { RoomLiveState } from '../../db/live/room-live-state';
import { ChatArchive } from '../../db/repositories/room-messages';
import { ModerationLog, Reports, RoomMutes, type ModerationEntry } from '../../db/repositories/room-moderation';
import { RoomDirectory } from '../../db/repositories/rooms';
import { Relations } from '../../db/repositories/relations';
import { createLogger } from '../../platform/logging';
import { halfAppliedReporter, liveStateSettingsFromConfig, roomPolicyFromConfig } from '../../services/rooms';
import { RoomService, type HalfApplied } from '../../services/rooms/room-service';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { RoomJanitor } from '../support/room-api';
import { createRoom, createUser } from '../support/rooms';

/**
 * A moderation change and its audit row commit together or not at all, and a live step that
 * fails after PostgreSQL committed is reported and repaired by a retry. Faults are injected in
 * the real stores: one live-state call that fails like a dropped Redis connection, and an audit
 * write that fails like a refused insert.
 */
let stack: RealStack;
let live: RoomLiveState;
let rooms: RoomService;
let janitor: RoomJanitor;
const reported: HalfApplied[] = [];
let failLive: string | null = null;
let failAudit = false;

class FlakyModerationLog extends ModerationLog {
  override async record(entry: ModerationEntry, tx?: EntityManager): Promise<void> {
    if (failAudit) throw new Error('audit insert refused');
    return super.record(entry, tx);
  }
}

beforeAll(async () => {
  stack = await connectRealStack('moderation-atomicity');
  live = new RoomLiveState(stack.redis, liveStateSettingsFromConfig(stack.config));
  // The named live-state call fails once, as if Redis dropped the connection mid-action.
  const flakyLive = new Proxy(live, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (prop === failLive) {
          failLive = null;
          return Promise.reject(new Error('Connection is closed.'));
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  rooms = new RoomService({
    rooms: new RoomDirectory(stack.dataSource),
    chat: new ChatArchive(stack.dataSource),
    moderationLog: new FlakyModerationLog(stack.dataSource),
    reports: new Reports(stack.dataSource),
    mutes: new RoomMutes(stack.dataSource),
    relations: new Relations(stack.dataSource),
    live: flakyLive,
    policy: roomPolicyFromConfig(stack.config),
    onHalfApplied: (failure) => reported.push(failure),
  });
  janitor = new RoomJanitor(rooms, live);
});

afterEach(async () => {
  failLive = null;
  failAudit = false;
  reported.length = 0;
  await janitor.sweep();
});

afterAll(async () => {
  await stack?.close();
});

async function auditRows(roomId: string, action: string): Promise<number> {
  const [row]: { n: number }[] = await stack.dataSource.query(`SELECT count(*)::int AS n FROM room_moderation_log WHERE room_id = $1 AND action = $2`, [roomId, action]);
  return row!.n;
}

async function scene() {
  const owner = await createUser(stack, 'Owner');
  const member = await createUser(stack, 'Member');
  const room = janitor.room(await createRoom(rooms, owner.userId));
  await janitor.enter(room, member.userId);
  return { owner, member, room };
}

describe('a change and its audit row', () => {
  it('a ban whose audit row fails to commit leaves no ban and the member inside', async () => {
    const { owner, member, room } = await scene();
    failAudit = true;
    await expect(rooms.ban(owner.userId, room.id, member.userId, 'spam')).rejects.toThrow('audit insert refused');
    expect(await new RoomDirectory(stack.dataSource).isBanned(room.id, member.userId)).toBe(false);
    expect(await live.isMember(room.id, member.userId)).toBe(true);
    expect(await auditRows(room.id, 'ban')).toBe(0);
    expect(reported).toEqual([]);
  });

  it('a kick (live only) whose audit row fails is not applied; a refused live step writes no audit row', async () => {
    const { owner, member, room } = await scene();
    failAudit = true;
    await expect(rooms.kick(owner.userId, room.id, member.userId)).rejects.toThrow('audit insert refused');
    expect(await live.isMember(room.id, member.userId)).toBe(true);
    expect(await auditRows(room.id, 'kick')).toBe(0);

    failAudit = false;
    await expect(rooms.resolveApplication(owner.userId, room.id, member.userId, true, null)).rejects.toMatchObject({ code: 'APPLICATION_NOT_FOUND' });
    expect(await auditRows(room.id, 'seat-approve')).toBe(0);

    await rooms.kick(owner.userId, room.id, member.userId);
    expect(await live.isMember(room.id, member.userId)).toBe(false);
    expect(await auditRows(room.id, 'kick')).toBe(1);
  });
});

describe('a live step that fails after PostgreSQL committed', () => {
  it('is reported with its ids, and a retry of the ban repairs the live side without a second audit row', async () => {
    const { owner, member, room } = await scene();
    failLive = 'removeMember';
    await expect(rooms.ban(owner.userId, room.id, member.userId, 'spam')).rejects.toThrow('Connection is closed.');
    expect(await new RoomDirectory(stack.dataSource).isBanned(room.id, member.userId)).toBe(true);
    expect(await auditRows(room.id, 'ban')).toBe(1);
    expect(await live.isMember(room.id, member.userId)).toBe(true); // half-applied, and said so:
    expect(reported).toEqual([
      expect.objectContaining({ action: 'ban', missing: 'live', roomId: room.id, actorId: owner.userId, targetUserId: member.userId }),
    ]);

    await rooms.ban(owner.userId, room.id, member.userId, 'spam');
    expect(await live.isMember(room.id, member.userId)).toBe(false);
    expect(await auditRows(room.id, 'ban')).toBe(1);
  });

  it('closing: the owner retries a close whose live step failed, and the room closes live, audited once', async () => {
    const { owner, member, room } = await scene();
    failLive = 'close';
    await expect(rooms.close(owner.userId, room.id)).rejects.toThrow('Connection is closed.');
    expect(reported).toEqual([expect.objectContaining({ action: 'close-room', missing: 'live', roomId: room.id })]);
    expect((await live.snapshot(room.id)).status).toBe('open');
    await rooms.close(owner.userId, room.id);
    expect((await live.snapshot(room.id)).status).toBe('closed');
    expect(await live.isMember(room.id, member.userId)).toBe(false);
    expect(await auditRows(room.id, 'close-room')).toBe(1);
  });

  it('the reporter logs an error with the ids and counts aura_room_half_applied_total', async () => {
    const lines: string[] = [];
    const registry = new Registry();
    const reporter = halfAppliedReporter(createLogger({ name: 'test', level: 'error', destination: { write: (s: string) => void lines.push(s) } }), registry);
    reporter.report({ action: 'ban', roomId: 'room-1', actorId: 'actor-1', targetUserId: 'user-1', missing: 'live', err: new Error('Connection is closed.') });
    const metric = await registry.getSingleMetricAsString('aura_room_half_applied_total');
    expect(metric).toContain('aura_room_half_applied_total{action="ban",missing="live"} 1');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'error', action: 'ban', roomId: 'room-1', actorId: 'actor-1', targetUserId: 'user-1', missing: 'live' });
  });
});
