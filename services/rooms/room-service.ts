import { randomUUID } from 'node:crypto';
import { MicroCache } from '../../platform/cache/micro-cache';
import type { RoomLiveState, RoomSnapshot, LiveMember } from '../../db/live/room-live-state';
import { LiveStateRefusal } from '../../db/live/room-live-state';
import type { ChatArchive, ChatMessageView } from '../../db/repositories/room-messages';
import type { EntityManager } from 'typeorm';
import type { ModerationEntry, ModerationLog, ReportReason, Reports, RoomMutes } from '../../db/repositories/room-moderation';
import type { NewRoom as NewRoomRecord, RoomDirectory, RoomPatch } from '../../db/repositories/rooms';
import type { Relations } from '../../db/repositories/relations';
import type { RoomPlaylists } from '../../db/repositories/room-playlists';
import { AppError, ErrorCode } from '../../domain/errors';
import { NO_BADGES, type UserBadges } from '../../domain/profiles/badges';
import type { BadgeReader } from '../profiles/cached-badges';
import { CHAT_MAX_CHARS, CHAT_RECALL_WINDOW_MS, type RoomRole, type RoomView } from '../../domain/rooms/model';
import { authorizeRoomAction, type ModerationAction } from '../../domain/rooms/permissions';
import { PasswordCheckBusy } from '../../platform/crypto/room-passwords';
import type { RoomLimits } from './limits';
import { rateLimited } from './limits';
import { asAppError, liveCall, refusalError } from './refusals';

export interface RoomPolicy {
  maxAdmins: number;
  kickCooldownMs: number;
  inviteTtlMs: number;
  /** Longest timed chat mute a moderator may set. */
  maxChatMuteMs: number;
  /** How long a page of the popular list is served from this process's memory (0: never). */
  popularCacheMs?: number;
}

export const DEFAULT_ROOM_POLICY: RoomPolicy = {
  maxAdmins: 5,
  kickCooldownMs: 5 * 60_000,
  inviteTtlMs: 60_000,
  maxChatMuteMs: 7 * 24 * 3_600_000,
};

export interface RoomServiceDeps {
  rooms: RoomDirectory;
  chat: ChatArchive;
  moderationLog: ModerationLog;
  /** Chat mutes, moderators' seat mutes and mute-all: the records a lost live state is rebuilt with. */
  mutes: RoomMutes;
  reports: Reports;
  relations: Relations;
  live: RoomLiveState;
  /** Playlists and playback: a rebuilt live state starts from their record too (absent: rebuilt idle). */
  playlists?: Pick<RoomPlaylists, 'liveParts'>;
  policy?: RoomPolicy;
  /** Abuse limits (password attempts, creation, reports); none when absent. */
  limits?: RoomLimits;
  /** Covers from uploads; without it a coverKey is refused. */
  covers?: RoomCovers;
  /** Badges (VIP tier, levels, CP partner) of the users a room shows; absent: none shown. */
  badges?: BadgeReader;
  clock?: () => number;
  /** Told when a change committed in PostgreSQL but its live step failed (or the reverse). */
  onHalfApplied?: (failure: HalfApplied) => void;
}

/**
 * A moderation change that is only partly in force: PostgreSQL committed and the live step
 * (Redis) failed, or a live-only change was applied and its audit row did not commit. The
 * action answers an error, so the client retries; every action re-applies its live step
 * idempotently on a retry, which repairs it.
 */
export interface HalfApplied {
  action: ModerationAction;
  roomId: string;
  actorId: string;
  targetUserId: string | null;
  /** Which side is missing. */
  missing: 'live' | 'audit';
  err: unknown;
}

/** Live refusals that may mean the room isn't there at all (see RoomService.inRoom). */
const ROOM_STATE_REFUSALS = new Set(['ROOM_NOT_LIVE', 'ROOM_CLOSED', 'NOT_IN_ROOM']);

// The lists ranked from Redis use plain cursors (count or join time, then a canonical id).
const POPULAR_CURSOR = /^(0|[1-9]\d{0,8})_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const MEMBERS_CURSOR = /^(0|[1-9]\d{0,14})_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** Badges of the users a snapshot shows (the owner, seated users, recent chat senders), keyed by user id. */
export type ShownUsers = Record<string, UserBadges>;

/** A live snapshot and the badges of everyone it shows. */
export type RoomSnapshotView = RoomSnapshot & { users: ShownUsers };

/** A member in the members list, with their badges. */
export type MemberView = LiveMember & { badges: UserBadges };

/** A room as its owner describes it (the owner is the caller). */
export type NewRoom = Omit<NewRoomRecord, 'ownerId' | 'coverUrl'>;

/** The settings a moderator changes: the record's, and the cover as an uploaded file's key (null: none). */
export type RoomSettingsPatch = RoomPatch & { coverKey?: string | null };

/** Sets a room's cover from an upload inside the settings' transaction, and deletes the replaced file after (services/media/attachments.ts). */
export interface RoomCovers {
  setRoomCover(tx: EntityManager, actorId: string, roomId: string, key: string | null): Promise<{ replaced: string | null }>;
  discard(key: string | null): Promise<void>;
}

/**
 * Room use cases, shared by the REST API and the realtime edge: who may do what (domain
 * rules), what is kept (PostgreSQL) and what everyone sees live (Redis), in that order.
 */
export class RoomService {
  private readonly policy: RoomPolicy;
  private readonly clock: () => number;
  /**
   * Pages of the popular list, the discovery screen every app opens: the same for everyone and
   * ranked by live member counts that move every second anyway, so a page a second old is as
   * good as a fresh one, and serving it from memory saves a Redis and a PostgreSQL round trip.
   */
  private readonly popularPages: MicroCache<{ items: (RoomView & { memberCount?: number })[]; nextCursor: string | null }> | null;

  constructor(private readonly deps: RoomServiceDeps) {
    this.policy = deps.policy ?? DEFAULT_ROOM_POLICY;
    this.clock = deps.clock ?? Date.now;
    const popularMs = this.policy.popularCacheMs ?? 0;
    this.popularPages = popularMs > 0 ? new MicroCache(popularMs, 1_000, this.clock) : null;
  }

  // Lifecycle.

  async create(ownerId: string, input: NewRoom): Promise<RoomView> {
    await this.deps.limits?.roomCreated(ownerId);
    const room = await this.deps.rooms.create({ ownerId, ...input });
    await this.deps.live.init(room, randomUUID(), { chatMutes: [], seatMutes: [], muteAll: false });
    return room;
  }

  /**
   * The room with its member count and the badges of its owner; and, for whoever may see who
   * is inside (as for the members list), its seats and the seated users' badges too.
   */
  async get(roomId: string, viewerId?: string): Promise<RoomView & { memberCount: number; seats?: RoomSnapshot['seats']; users: ShownUsers }> {
    const record = await this.deps.rooms.findById(roomId);
    if (!record) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
    const { passwordHash, ...room } = record;
    if (room.status !== 'open') return { ...room, memberCount: 0, users: await this.badgesOf([room.ownerId]) };
    const live = await this.liveSnapshot(room);
    const insideView = !passwordHash || (viewerId !== undefined && (await this.seesInside(roomId, room.ownerId, viewerId)));
    if (!insideView) return { ...room, memberCount: live.memberCount, users: await this.badgesOf([room.ownerId]) };
    return { ...room, memberCount: live.memberCount, seats: live.seats, users: await this.badgesOf(shownUserIds(live)) };
  }

  /** The settings and their audit row commit together; then the room sees them live. */
  async update(actorId: string, roomId: string, patch: RoomSettingsPatch): Promise<RoomView> {
    await this.authorize(actorId, roomId, 'update-room');
    const { coverKey, ...settings } = patch;
    const covers = this.deps.covers;
    if (coverKey !== undefined && !covers) throw new AppError(ErrorCode.DependencyUnavailable, 'room covers cannot be changed on this server');
    const entry = this.entry(roomId, actorId, 'update-room', null, { fields: Object.keys(patch).filter((k) => k !== 'password') });
    let replacedCover: string | null = null;
    const room = await this.deps.moderationLog.audited(async (tx) => {
      if (coverKey !== undefined) replacedCover = (await covers!.setRoomCover(tx, actorId, roomId, coverKey)).replaced;
      const updated = await this.deps.rooms.update(roomId, settings, tx);
      if (!updated) throw await this.goneError(roomId); // closed (or gone) since authorize
      return updated;
    }, entry);
    await covers?.discard(replacedCover);
    await this.afterCommit(entry, async () => {
      await this.ensureLive(room);
      await this.deps.live.updateRoom(room, actorId);
    });
    return room;
  }

  /**
   * PostgreSQL first (with the audit row): if the live side fails, the next join finds the room
   * closed there, and the owner's retry (allowed on a closed room) finishes the live side.
   * Audited once, by the call that closed it.
   */
  async close(actorId: string, roomId: string): Promise<void> {
    await this.authorize(actorId, roomId, 'close-room', null, { evenIfClosed: true });
    const entry = this.entry(roomId, actorId, 'close-room', null);
    await this.deps.moderationLog.audited((tx) => this.deps.rooms.close(roomId, 'owner', tx), (closedNow) => (closedNow ? entry : null));
    await this.afterCommit(entry, () => this.deps.live.close(roomId, 'owner', actorId));
  }

  /**
   * Periodic clean-up, run by every realtime edge (the scripts make concurrent sweeps safe):
   * ghost members lose their seats, and rooms left empty past the timeout close.
   *
   * Why a sweeper over Redis leases rather than a durable timer (a Temporal workflow per
   * disconnect): the case that matters most is an edge process that dies, and a dead process
   * sends no "disconnected" signal to start any timer. Leases that the live edges renew cover
   * that case and the ordinary one alike. The state the decision needs (connections, seats)
   * is already in Redis, so one atomic script decides with no second store to agree with.
   * It also avoids a Temporal start and signal for every phone that blinks off the network.
   * The cost is that a sweep runs every second on each edge: a range read on three small
   * sorted sets, which is nothing next to the room traffic.
   */
  async sweep(now = this.clock()): Promise<{ removed: number; closed: string[] }> {
    const result = await this.deps.live.sweep(now);
    const closed: string[] = [];
    for (const roomId of result.emptyRooms) {
      if (!(await this.deps.live.closeIfEmpty(roomId, now))) continue;
      await this.deps.rooms.close(roomId, 'empty');
      await this.deps.live.forgetEmpty(roomId);
      closed.push(roomId);
    }
    return { removed: result.removed, closed };
  }

  /** Discovery lists, cursor-paginated: popular (live members), new, by region, followed owners. */
  async discover(
    userId: string,
    query: { sort: 'popular' | 'new' | 'following'; region?: string; cursor?: string; limit: number },
  ): Promise<{ items: (RoomView & { memberCount?: number })[]; nextCursor: string | null }> {
    if (query.sort === 'new') return this.deps.rooms.listNew({ cursor: query.cursor, limit: query.limit, region: query.region });
    if (query.sort === 'following') return this.deps.rooms.listFollowedOwners(userId, { cursor: query.cursor, limit: query.limit });
    if (!this.popularPages) return this.popular(query);
    return this.popularPages.get(`${query.region ?? ''}|${query.cursor ?? ''}|${query.limit}`, () => this.popular(query));
  }

  private async popular(query: { region?: string; cursor?: string; limit: number }): Promise<{ items: (RoomView & { memberCount?: number })[]; nextCursor: string | null }> {
    let after: { members: number; roomId: string } | null = null;
    if (query.cursor) {
      const m = POPULAR_CURSOR.exec(query.cursor);
      if (!m) throw new AppError(ErrorCode.ValidationFailed, 'cursor is not valid');
      after = { members: Number(m[1]), roomId: m[2]! };
    }
    const ranked = await this.deps.live.popular(after, query.limit + 1);
    const more = ranked.length > query.limit;
    const page = ranked.slice(0, query.limit);
    const views = new Map((await this.deps.rooms.listByIds(page.map((r) => r.roomId))).map((r) => [r.id, r]));
    const items = page.flatMap((r) => {
      const view = views.get(r.roomId);
      return view && (!query.region || view.region === query.region) ? [{ ...view, memberCount: r.members }] : [];
    });
    const last = page.at(-1);
    return { items, nextCursor: more && last ? `${last.members}_${last.roomId}` : null };
  }

  // Membership.

  /**
   * Whether a user may enter: the room is open, they aren't banned from it, neither they nor
   * the owner blocked the other, and they know the password (unless already inside).
   */
  async admit(userId: string, roomId: string, password?: string, client: { ip?: string } = {}): Promise<RoomView> {
    const room = await this.deps.rooms.findById(roomId);
    if (!room) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
    if (room.status !== 'open') throw new AppError(ErrorCode.RoomClosed, 'this room has closed');
    if (await this.deps.rooms.isBanned(roomId, userId)) throw new AppError(ErrorCode.RoomBanned, 'you are banned from this room');
    if (room.ownerId !== userId && (await this.deps.relations.isBlockedEitherWay(room.ownerId, userId))) {
      throw new AppError(ErrorCode.RoomBlocked, 'you cannot enter this room');
    }
    const { passwordHash, ...view } = room;
    if (passwordHash && room.ownerId !== userId) {
      const inside = await this.deps.live.isMember(roomId, userId);
      if (!inside) {
        if (!password) throw new AppError(ErrorCode.RoomPasswordRequired, 'this room needs a password');
        await this.checkPassword(room, userId, password, client.ip);
      }
    }
    return view;
  }

  /** One connection enters an admitted user into the room (their first makes them a member). */
  async connect(room: RoomView, userId: string, connectionId: string): Promise<{ joined: boolean }> {
    try {
      return await this.deps.live.join(room.id, userId, connectionId);
    } catch (err) {
      // Redis lost the room (or never had it): rebuild it from PostgreSQL, then join.
      if (!(err instanceof LiveStateRefusal) || err.code !== 'ROOM_NOT_LIVE') throw asAppError(err);
      await this.ensureLive(room);
      return liveCall(this.deps.live.join(room.id, userId, connectionId));
    }
  }

  /**
   * The room at one sequence number, with the badges of the users it shows. Badges are read
   * after the live state (from PostgreSQL, through a cache of a few seconds): they are not part
   * of the numbered state, and no room event carries them. `badges: false`: the live state
   * alone (a media token needs none), with `users` empty.
   */
  async snapshot(roomId: string, userId: string, options: { badges?: boolean } = {}): Promise<RoomSnapshotView> {
    const snapshot = await this.deps.live.snapshot(roomId, userId);
    return { ...snapshot, users: options.badges === false ? {} : await this.badgesOf(shownUserIds(snapshot)) };
  }

  async leave(userId: string, roomId: string): Promise<void> {
    await this.inRoom(roomId, () => this.deps.live.leave(roomId, userId));
  }

  /**
   * Who is inside. A public room shows its members to anyone browsing (as the app's room
   * preview does); a password room only to those inside; never to someone banned from it.
   */
  async members(userId: string, roomId: string, page: { cursor?: string; limit: number }): Promise<{ items: MemberView[]; nextCursor: string | null }> {
    const room = await this.deps.rooms.findById(roomId);
    if (!room) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
    if (await this.deps.rooms.isBanned(roomId, userId)) throw new AppError(ErrorCode.RoomBanned, 'you are banned from this room');
    if (room.passwordHash && !(await this.seesInside(roomId, room.ownerId, userId))) {
      throw new AppError(ErrorCode.RoomPasswordRequired, 'join the room to see who is inside');
    }
    let after = { afterScore: 0, afterUser: '' };
    if (page.cursor) {
      const m = MEMBERS_CURSOR.exec(page.cursor);
      if (!m) throw new AppError(ErrorCode.ValidationFailed, 'cursor is not valid');
      after = { afterScore: Number(m[1]), afterUser: m[2]! };
    }
    const { items, more } = await this.deps.live.members(roomId, { ...after, limit: page.limit });
    const badges = await this.badgesOf(items.map((m) => m.userId));
    const last = items.at(-1);
    return { items: items.map((m) => ({ ...m, badges: badges[m.userId]! })), nextCursor: more && last ? `${last.joinedAt}_${last.userId}` : null };
  }

  /** Who may see inside a password room: its owner, its admins and its members. */
  private async seesInside(roomId: string, ownerId: string, userId: string): Promise<boolean> {
    if (ownerId === userId) return true;
    return (await this.deps.live.isMember(roomId, userId)) || (await this.deps.rooms.roleOf(roomId, userId)) !== 'member';
  }

  private async badgesOf(ids: readonly string[]): Promise<ShownUsers> {
    if (!this.deps.badges) return Object.fromEntries(ids.map((id) => [id, { ...NO_BADGES }]));
    return this.deps.badges.badgesOf(ids);
  }

  async roleOf(roomId: string, userId: string): Promise<RoomRole> {
    return this.deps.rooms.roleOf(roomId, userId);
  }

  // Seats, by the user themselves.

  async takeSeat(userId: string, roomId: string, seat: number | null): Promise<void> {
    const role = await this.deps.rooms.roleOf(roomId, userId);
    await this.inRoom(roomId, () => this.deps.live.takeSeat(roomId, userId, seat ?? -1, role !== 'member'));
  }

  async leaveSeat(userId: string, roomId: string): Promise<void> {
    await this.inRoom(roomId, () => this.deps.live.leaveSeat(roomId, userId));
  }

  async moveSeat(userId: string, roomId: string, seat: number): Promise<void> {
    await this.inRoom(roomId, () => this.deps.live.moveSeat(roomId, userId, seat));
  }

  async muteOwnSeat(userId: string, roomId: string, muted: boolean): Promise<void> {
    await this.inRoom(roomId, () => this.deps.live.muteOwnSeat(roomId, userId, muted));
  }

  async answerInvite(userId: string, roomId: string, accept: boolean): Promise<void> {
    await this.inRoom(roomId, () => this.deps.live.answerInvite(roomId, userId, accept));
  }

  /** Joins the apply-mode queue; false if already in it. */
  async applyForSeat(userId: string, roomId: string): Promise<boolean> {
    return this.inRoom(roomId, () => this.deps.live.apply(roomId, userId));
  }

  async withdrawApplication(userId: string, roomId: string): Promise<void> {
    await this.inRoom(roomId, () => this.deps.live.withdrawApplication(roomId, userId));
  }

  async applications(actorId: string, roomId: string): Promise<string[]> {
    await this.authorize(actorId, roomId, 'seat-approve');
    return this.deps.live.applications(roomId);
  }

  // Moderation: authorised here, kept in the audit log, applied live.
  //
  // Changes PostgreSQL keeps (bans, admins, settings, closing, deleted messages) commit with
  // their audit row in one transaction, then the live step follows; changes that live only in
  // Redis (seats, kicks, mutes) run their live step inside the audit row's transaction, so a
  // refusal leaves no row. Either way a failure in between is reported (HalfApplied) and the
  // action answers an error; repeating it re-applies the live step, which is idempotent.

  async lockSeat(actorId: string, roomId: string, seat: number, locked: boolean): Promise<void> {
    const action = locked ? 'seat-lock' : 'seat-unlock';
    await this.authorize(actorId, roomId, action);
    // Locking an occupied seat unseats its speaker, so it must be allowed against them too.
    const occupant = locked ? await this.inRoom(roomId, () => this.deps.live.seatOccupant(roomId, seat)) : null;
    if (occupant) await this.authorize(actorId, roomId, 'seat-remove', occupant);
    await this.liveAudited(this.entry(roomId, actorId, action, occupant, { seat }), () =>
      this.deps.live.lockSeat(roomId, actorId, seat, locked, occupant));
  }

  async muteSeat(actorId: string, roomId: string, seat: number, muted: boolean): Promise<void> {
    const action = muted ? 'seat-mute' : 'seat-unmute';
    await this.authorize(actorId, roomId, action);
    await this.ensureLive(await this.findRoom(roomId));
    const occupant = await liveCall(this.deps.live.seatOccupant(roomId, seat));
    if (!occupant) throw new AppError(ErrorCode.NotSeated, 'nobody is on that seat');
    await this.authorize(actorId, roomId, action, occupant);
    await this.recordThenApply(
      async (tx) => {
        await this.deps.mutes.setSeatMute(tx, roomId, occupant, muted, actorId);
        await this.deps.moderationLog.record(this.entry(roomId, actorId, action, occupant, { seat }), tx);
      },
      () => this.deps.live.muteSeat(roomId, actorId, seat, muted, occupant),
    );
  }

  async removeFromSeat(actorId: string, roomId: string, userId: string): Promise<void> {
    await this.authorize(actorId, roomId, 'seat-remove', userId);
    await this.liveAudited(this.entry(roomId, actorId, 'seat-remove', userId), () => this.deps.live.removeFromSeat(roomId, actorId, userId));
  }

  async inviteToSeat(actorId: string, roomId: string, userId: string, seat: number | null): Promise<{ expiresAt: string }> {
    await this.authorize(actorId, roomId, 'seat-invite', userId);
    await this.liveAudited(this.entry(roomId, actorId, 'seat-invite', userId, { seat }), () =>
      this.deps.live.invite(roomId, actorId, userId, seat ?? -1, this.policy.inviteTtlMs));
    return { expiresAt: new Date(this.clock() + this.policy.inviteTtlMs).toISOString() };
  }

  async resolveApplication(actorId: string, roomId: string, userId: string, approve: boolean, seat: number | null): Promise<void> {
    const action = approve ? 'seat-approve' : 'seat-reject';
    await this.authorize(actorId, roomId, action, userId);
    await this.liveAudited(this.entry(roomId, actorId, action, userId, { seat }), () =>
      this.deps.live.resolveApplication(roomId, actorId, userId, approve, seat ?? -1));
  }

  async kick(actorId: string, roomId: string, userId: string): Promise<void> {
    await this.authorize(actorId, roomId, 'kick', userId);
    await this.liveAudited(this.entry(roomId, actorId, 'kick', userId, { cooldownMs: this.policy.kickCooldownMs }), () =>
      this.deps.live.removeMember(roomId, userId, 'kicked', actorId, this.policy.kickCooldownMs));
  }

  /** The ban row and its audit row commit together (once: a repeat records nothing); then the member goes. */
  async ban(actorId: string, roomId: string, userId: string, reason: string | null): Promise<void> {
    await this.authorize(actorId, roomId, 'ban', userId);
    const entry = this.entry(roomId, actorId, 'ban', userId, reason ? { reason } : {});
    await this.deps.moderationLog.audited((tx) => this.deps.rooms.ban(roomId, userId, actorId, reason, tx), (added) => (added ? entry : null));
    await this.afterCommit(entry, () => this.deps.live.removeMember(roomId, userId, 'banned', actorId));
  }

  async unban(actorId: string, roomId: string, userId: string): Promise<void> {
    await this.authorize(actorId, roomId, 'unban', userId, { evenIfClosed: true });
    const entry = this.entry(roomId, actorId, 'unban', userId);
    const lifted = await this.deps.moderationLog.audited((tx) => this.deps.rooms.unban(roomId, userId, tx), (l) => (l ? entry : null));
    // Also clears a marker left by a ban whose live step failed, so it runs even when nothing was lifted.
    await this.afterCommit(entry, () => this.deps.live.unban(roomId, userId));
    if (!lifted) throw new AppError(ErrorCode.NotFound, 'that user is not banned here');
  }

  async listBans(actorId: string, roomId: string, page: { cursor?: string; limit: number }) {
    await this.authorize(actorId, roomId, 'unban', null, { evenIfClosed: true });
    return this.deps.rooms.listBans(roomId, page);
  }

  async muteChat(actorId: string, roomId: string, userId: string, durationMs: number): Promise<{ until: string }> {
    if (durationMs <= 0 || durationMs > this.policy.maxChatMuteMs) {
      throw new AppError(ErrorCode.ValidationFailed, `a chat mute lasts 1 ms to ${this.policy.maxChatMuteMs} ms`);
    }
    await this.authorize(actorId, roomId, 'chat-mute', userId);
    await this.ensureLive(await this.findRoom(roomId));
    // The mute ends at this instant in PostgreSQL and in Redis alike, whenever Redis is rebuilt.
    const until = this.clock() + durationMs;
    await this.recordThenApply(
      async (tx) => {
        await this.deps.mutes.setChatMute(tx, roomId, userId, new Date(until), actorId);
        await this.deps.moderationLog.record(this.entry(roomId, actorId, 'chat-mute', userId, { durationMs, until: new Date(until).toISOString() }), tx);
      },
      () => this.deps.live.chatMute(roomId, actorId, userId, until),
    );
    return { until: new Date(until).toISOString() };
  }

  async unmuteChat(actorId: string, roomId: string, userId: string): Promise<void> {
    await this.authorize(actorId, roomId, 'chat-unmute', userId);
    await this.ensureLive(await this.findRoom(roomId));
    await this.recordThenApply(
      async (tx) => {
        await this.deps.mutes.setChatMute(tx, roomId, userId, null, actorId);
        await this.deps.moderationLog.record(this.entry(roomId, actorId, 'chat-unmute', userId, {}), tx);
      },
      () => this.deps.live.chatMute(roomId, actorId, userId, null),
    );
  }

  async muteAll(actorId: string, roomId: string, on: boolean): Promise<void> {
    const action = on ? 'mute-all' : 'unmute-all';
    await this.authorize(actorId, roomId, action);
    await this.ensureLive(await this.findRoom(roomId));
    await this.recordThenApply(
      async (tx) => {
        await this.deps.mutes.setMuteAll(tx, roomId, on, actorId);
        await this.deps.moderationLog.record(this.entry(roomId, actorId, action, null, {}), tx);
      },
      () => this.deps.live.muteAll(roomId, actorId, on),
    );
  }

  /**
   * Roles are read from PostgreSQL; the live step only announces the change, so a failed one
   * is reported and the role still holds. A repeat grant (allowed, and audited as asked)
   * re-announces it.
   */
  async grantAdmin(actorId: string, roomId: string, userId: string): Promise<void> {
    await this.authorize(actorId, roomId, 'grant-admin', userId);
    if (await this.deps.rooms.isBanned(roomId, userId)) throw new AppError(ErrorCode.RoomBanned, 'that user is banned from this room');
    const entry = this.entry(roomId, actorId, 'grant-admin', userId);
    await this.deps.moderationLog.audited((tx) => this.deps.rooms.grantAdmin(roomId, userId, actorId, this.policy.maxAdmins, tx), entry);
    await this.afterCommit(entry, () => this.deps.live.roleChanged(roomId, userId, 'admin', actorId));
  }

  async revokeAdmin(actorId: string, roomId: string, userId: string): Promise<void> {
    await this.authorize(actorId, roomId, 'revoke-admin', userId);
    const entry = this.entry(roomId, actorId, 'revoke-admin', userId);
    const revoked = await this.deps.moderationLog.audited((tx) => this.deps.rooms.revokeAdmin(roomId, userId, tx), (r) => (r ? entry : null));
    if (!revoked) throw new AppError(ErrorCode.NotFound, 'that user is not an admin here');
    await this.afterCommit(entry, () => this.deps.live.roleChanged(roomId, userId, 'member', actorId));
  }

  // Chat.

  /**
   * Checks (membership, mutes, rate) → archive in PostgreSQL → publish live. A client that
   * resends with the same clientMsgId after a lost ack gets the same message, published once.
   */
  async postChat(userId: string, roomId: string, input: { text: string; clientMsgId: string }): Promise<{ message: ChatMessageView; seq: number; duplicate: boolean }> {
    const text = input.text.trim();
    if (text.length === 0) throw new AppError(ErrorCode.ValidationFailed, 'a message needs some text');
    if ([...text].length > CHAT_MAX_CHARS) throw new AppError(ErrorCode.ChatTooLong, `messages are at most ${CHAT_MAX_CHARS} characters`);
    // A resend of an accepted message skips the checks (it must not spend the rate or meet a
    // mute set since) and is published at most once.
    const earlier = await this.deps.chat.findByClientMsgId(roomId, userId, input.clientMsgId);
    if (!earlier) {
      const role = await this.deps.rooms.roleOf(roomId, userId);
      await this.inRoom(roomId, () => this.deps.live.checkChat(roomId, userId, role !== 'member'));
    }
    const { message, duplicate } = earlier
      ? { message: earlier, duplicate: true }
      : await this.deps.chat.append({ roomId, senderId: userId, kind: 'text', body: text, clientMsgId: input.clientMsgId });
    const published = await this.inRoom(roomId, () => this.deps.live.publishChat(roomId, userId, { ...message }));
    return { message, seq: published.seq, duplicate: duplicate || published.duplicate };
  }

  async recallChat(userId: string, roomId: string, messageId: string): Promise<void> {
    const room = await this.findRoom(roomId);
    if (room.status !== 'open') throw new AppError(ErrorCode.RoomClosed, 'this room has closed');
    await this.deps.chat.recall(roomId, messageId, userId, new Date(this.clock()), CHAT_RECALL_WINDOW_MS);
    await this.inRoom(roomId, () => this.deps.live.chatRemoved(roomId, userId, messageId, 'recalled'));
  }

  async deleteChat(actorId: string, roomId: string, messageId: string): Promise<void> {
    await this.authorize(actorId, roomId, 'delete-message'); // a member learns nothing about the message
    const message = await this.deps.chat.findById(roomId, messageId);
    if (!message) throw new AppError(ErrorCode.MessageNotFound, 'no such message in this room');
    await this.authorize(actorId, roomId, 'delete-message', message.senderId ?? undefined);
    const entry = this.entry(roomId, actorId, 'delete-message', message.senderId, {}, messageId);
    // A repeat (after a failed live step) records nothing new and re-applies the live step.
    if (!message.deleted) await this.deps.moderationLog.audited((tx) => this.deps.chat.remove(roomId, messageId, actorId, tx), entry);
    await this.afterCommit(entry, () => this.deps.live.chatRemoved(roomId, actorId, messageId, 'deleted'));
  }

  /** Chat history is for the people in the room (and its moderators). */
  async history(userId: string, roomId: string, page: { before?: string; limit: number }) {
    await this.findRoom(roomId);
    const inside = (await this.deps.live.isMember(roomId, userId)) || (await this.deps.rooms.roleOf(roomId, userId)) !== 'member';
    if (!inside) throw new AppError(ErrorCode.NotInRoom, 'join the room to read its chat');
    return this.deps.chat.history(roomId, page);
  }

  async report(reporterId: string, roomId: string, input: { targetUserId?: string; messageId?: string; reason: ReportReason; details?: string }): Promise<{ id: string }> {
    await this.findRoom(roomId);
    await this.deps.limits?.reportFiled(reporterId);
    if (input.messageId && !(await this.deps.chat.findById(roomId, input.messageId))) {
      throw new AppError(ErrorCode.MessageNotFound, 'no such message in this room');
    }
    return this.deps.reports.file({
      reporterId,
      roomId,
      targetUserId: input.targetUserId ?? null,
      targetMessageId: input.messageId ?? null,
      reason: input.reason,
      details: input.details ?? null,
    });
  }

  /** The audit log stays readable after the room closed. */
  async moderationLog(actorId: string, roomId: string, page: { cursor?: string; limit: number }) {
    await this.authorize(actorId, roomId, 'update-room', null, { evenIfClosed: true });
    return this.deps.moderationLog.list(roomId, page);
  }

  // Helpers.

  /**
   * The attempt is counted (per user and room, per room, per address) before the slow hash
   * runs, so a refused guess costs no CPU; a right password gives its attempt back, so people
   * joining a popular password room never use up its budget.
   */
  private async checkPassword(room: { id: string; passwordHash: string | null }, userId: string, password: string, ip: string | undefined): Promise<void> {
    const attempt = await this.deps.limits?.passwordAttempt(userId, room.id, ip);
    let right: boolean;
    try {
      right = await this.deps.rooms.checkPassword(room, password);
    } catch (err) {
      if (err instanceof PasswordCheckBusy) {
        await attempt?.refund(); // never checked: it was no guess
        throw rateLimited('room-password-checks', 1_000, 'too many password checks right now; try again shortly');
      }
      throw err;
    }
    if (!right) throw new AppError(ErrorCode.RoomPasswordWrong, 'wrong room password');
    await attempt?.refund();
  }

  private async findRoom(roomId: string): Promise<RoomView> {
    const room = await this.deps.rooms.findById(roomId);
    if (!room) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
    const { passwordHash: _hidden, ...view } = room;
    return view;
  }

  private async authorize(actorId: string, roomId: string, action: ModerationAction, targetUserId?: string | null, options: { evenIfClosed?: boolean } = {}): Promise<void> {
    const room = await this.findRoom(roomId);
    if (room.status !== 'open' && !options.evenIfClosed) throw new AppError(ErrorCode.RoomClosed, 'this room has closed');
    const actor = await this.deps.rooms.roleOf(roomId, actorId);
    const target = targetUserId ? { role: await this.deps.rooms.roleOf(roomId, targetUserId), self: targetUserId === actorId } : undefined;
    const refusal = authorizeRoomAction(action, actor, target);
    if (refusal) throw refusalError(refusal);
  }

  private entry(
    roomId: string,
    actorId: string,
    action: ModerationAction,
    targetUserId: string | null,
    details: Record<string, unknown> = {},
    targetMessageId: string | null = null,
  ): ModerationEntry {
    return { roomId, actorId, action, targetUserId, targetMessageId, details };
  }

  /**
   * A change that lives only in Redis, made inside its audit row's transaction: the row is
   * written first, so a failing write stops the change, and a refused change leaves no row.
   * Only a commit failing after the live step leaves it unaudited: that is reported.
   */
  private async liveAudited<T>(entry: ModerationEntry, step: () => Promise<T>): Promise<T> {
    let applied = false;
    try {
      return await this.deps.moderationLog.audited(async () => {
        const result = await this.inRoom(entry.roomId, step);
        applied = true;
        return result;
      }, entry);
    } catch (err) {
      if (applied) this.halfApplied(entry, 'audit', err);
      throw err;
    }
  }

  /** The live step of a change PostgreSQL already committed: a failure is reported, then answered. */
  private async afterCommit(entry: ModerationEntry, step: () => Promise<unknown>): Promise<void> {
    try {
      await step();
    } catch (err) {
      this.halfApplied(entry, 'live', err);
      throw asAppError(err);
    }
  }

  private halfApplied(entry: ModerationEntry, missing: HalfApplied['missing'], err: unknown): void {
    this.deps.onHalfApplied?.({
      action: entry.action,
      roomId: entry.roomId,
      actorId: entry.actorId,
      targetUserId: entry.targetUserId ?? null,
      missing,
      err,
    });
  }

  /**
   * A live step on one room. Redis refuses a room it doesn't hold (ROOM_NOT_LIVE) or holds as
   * closed the same way whether the room closed or never existed: PostgreSQL tells which, so a
   * room that doesn't exist is ROOM_NOT_FOUND on every route. An open room Redis lost (it then
   * reads as not live, or closed) is rebuilt and the step tried once more; one Redis really
   * holds as closed (an empty room closing right now) stays closed, since a rebuild keeps it.
   */
  /** A live step on one room for another service (playback): see inRoom. */
  async inLiveRoom<T>(roomId: string, step: () => Promise<T>): Promise<T> {
    return this.inRoom(roomId, step);
  }

  private async inRoom<T>(roomId: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      if (!(err instanceof LiveStateRefusal) || !ROOM_STATE_REFUSALS.has(err.code)) throw asAppError(err);
      const room = await this.deps.rooms.findById(roomId);
      if (!room) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
      if (room.status !== 'open') throw new AppError(ErrorCode.RoomClosed, 'this room has closed');
      if (err.code === 'NOT_IN_ROOM') throw asAppError(err);
      const { passwordHash: _hidden, ...view } = room;
      await this.ensureLive(view); // a no-op for a room Redis holds (closed stays closed: the retry says so)
      return liveCall(step());
    }
  }

  /** Why a room found a moment ago can't be changed now. */
  private async goneError(roomId: string): Promise<AppError> {
    return (await this.deps.rooms.findById(roomId))
      ? new AppError(ErrorCode.RoomClosed, 'this room has closed')
      : new AppError(ErrorCode.RoomNotFound, 'no such room');
  }

  /**
   * A mute's record and its audit row commit together, and only if the live change is made:
   * the live call runs inside the transaction, so a refusal there (the seat changed hands)
   * rolls both back. Should the commit itself fail after the live change, the request fails
   * and the live state holds a mute with no record, until the room is next rebuilt.
   */
  private async recordThenApply(record: (tx: EntityManager) => Promise<void>, apply: () => Promise<unknown>): Promise<void> {
    await this.deps.mutes.transaction(async (tx) => {
      await record(tx);
      await liveCall(apply());
    });
  }

  /**
   * A room's live state is rebuilt from PostgreSQL if Redis lost it (new epoch: clients
   * resnapshot), with its mutes: chat mutes until their recorded end, seat mutes, mute-all;
   * and its playback, playlist and now-playing line as last committed.
   */
  private async ensureLive(room: RoomView): Promise<void> {
    if ((await this.deps.live.init(room, randomUUID())) !== 'needs-records') return;
    const [mutes, media] = await Promise.all([this.deps.mutes.inForce(room.id), this.deps.playlists?.liveParts(room.id)]);
    await this.deps.live.init(room, randomUUID(), mutes, media);
  }

  private async liveSnapshot(room: RoomView): Promise<RoomSnapshot> {
    try {
      return await this.deps.live.snapshot(room.id);
    } catch (err) {
      if (!(err instanceof LiveStateRefusal) || err.code !== 'ROOM_NOT_LIVE') throw err;
      await this.ensureLive(room);
      return this.deps.live.snapshot(room.id);
    }
  }
}

/** The users a snapshot shows: the owner, whoever sits on a seat, and the recent chat's senders and subjects. */
export function shownUserIds(snapshot: Pick<RoomSnapshot, 'room' | 'seats' | 'recentChat'>): string[] {
  const ids = new Set<string>([snapshot.room.ownerId]);
  for (const seat of snapshot.seats) if (seat.userId) ids.add(seat.userId);
  for (const line of snapshot.recentChat) {
    const { senderId, userId } = (line ?? {}) as { senderId?: unknown; userId?: unknown };
    if (typeof senderId === 'string') ids.add(senderId);
    if (typeof userId === 'string') ids.add(userId);
  }
  return [...ids];
}
