import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RoomView, SeatView } from '../../domain/rooms/model';
import type { RoomMuteRecords } from '../repositories/room-moderation';
import type { LivePlayback, LivePlaylist, MediaLiveParts } from '../repositories/room-playlists';
import { djSeatIndex, type NowPlaying } from '../../domain/media/music';
import { ROOM_SCRIPT } from './room-script';

/** How the live state is kept; all durations in milliseconds. */
export interface LiveStateSettings {
  /** Events kept per room for `resume`; older ones need a fresh snapshot. */
  streamMax: number;
  /** Chat lines (and system lines) a snapshot carries. */
  recentChat: number;
  /** A member whose connections all dropped stays (and keeps their seat) this long. */
  graceMs: number;
  /** An edge renews its connections' leases well inside this; past it, they count as gone. */
  leaseMs: number;
  /** An open room with no members closes itself after this. */
  emptyTimeoutMs: number;
  chatPerWindow: number;
  chatWindowMs: number;
  sweepBatch: number;
  /** Past this many members, listeners joining and leaving are summed up in member.count. */
  memberEventsMax: number;
}

export const DEFAULT_LIVE_STATE_SETTINGS: LiveStateSettings = {
  streamMax: 5000,
  recentChat: 50,
  graceMs: 30_000,
  leaseMs: 30_000,
  emptyTimeoutMs: 10 * 60_000,
  chatPerWindow: 5,
  chatWindowMs: 5_000,
  sweepBatch: 500,
  memberEventsMax: 200,
};

/** What a joining client draws: the room at exactly sequence number `seq`. */
export interface RoomSnapshot {
  seq: number;
  epoch: string;
  status: 'open' | 'closed';
  room: RoomView;
  seats: SeatView[];
  memberCount: number;
  applicationCount: number;
  muteAll: boolean;
  chatMutedUntil: number | null;
  /** Whether the user the snapshot was taken for is a member. */
  member: boolean;
  /** The room's shared video: position `positionMs` at server instant `at` (docs/realtime-protocol.md). */
  playback: LivePlayback;
  /** The queue after the current item: its length and first few items. */
  playlist: LivePlaylist;
  /** A music room's now-playing line. */
  nowPlaying: NowPlaying | null;
  recentChat: unknown[];
}

/** Which media part an event announces: it is emitted only if that part was stored (not stale). */
export interface MediaEvent {
  part: keyof MediaLiveParts;
  type: 'playback.updated' | 'playlist.updated' | 'music.now-playing';
  data: Record<string, unknown>;
}

export interface LiveMember {
  userId: string;
  joinedAt: number;
  connected: boolean;
  seat: number | null;
}

/** A refusal from the live state, named by a stable error code (see domain/errors). */
export class LiveStateRefusal extends Error {
  constructor(
    readonly code: string,
    readonly details: Record<string, unknown>,
  ) {
    super(code);
    this.name = 'LiveStateRefusal';
  }
}

type Result = { ok?: true; error?: string } & Record<string, unknown>;

const SHA = createHash('sha1').update(ROOM_SCRIPT).digest('hex');

export function roomChannel(roomId: string): string {
  return `aura:room:${roomId}`;
}

/**
 * Rooms' hot state in Redis: seats, members, presence leases, recent chat and each room's
 * numbered event stream. Every method is one atomic script call.
 */
export class RoomLiveState {
  private readonly settingsJson: string;

  constructor(
    private readonly redis: Redis,
    readonly settings: LiveStateSettings = DEFAULT_LIVE_STATE_SETTINGS,
    private readonly clock: () => number = Date.now,
  ) {
    this.settingsJson = JSON.stringify(settings);
  }

  /** Runs one command, loading the script on first use (or after a Redis restart). */
  private async raw(command: string, args: Record<string, unknown>, now = this.clock()): Promise<unknown> {
    const argv = [command, String(now), JSON.stringify(args), this.settingsJson];
    try {
      return await this.redis.evalsha(SHA, 0, ...argv);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return this.redis.eval(ROOM_SCRIPT, 0, ...argv);
    }
  }

  private async run(command: string, args: Record<string, unknown>, now?: number): Promise<Result> {
    const result = JSON.parse((await this.raw(command, args, now)) as string) as Result;
    if (result.error) {
      const { error, ...details } = result;
      throw new LiveStateRefusal(error, details);
    }
    return result;
  }

  /**
   * Makes a room live (idempotent: a live room keeps its state). A room that is not live is
   * built only with its mutes from PostgreSQL in hand (`moderation`); without them the answer
   * is 'needs-records', so a room Redis lost never comes back with its mutes forgotten.
   */
  async init(
    room: RoomView,
    epoch: string,
    moderation?: RoomMuteRecords,
    media?: MediaLiveParts & { revision: number },
  ): Promise<'live' | 'created' | 'needs-records'> {
    const r = await this.run('init', {
      room: room.id,
      owner: room.ownerId,
      seatCount: room.seatCount,
      seatMode: room.seatMode,
      view: room,
      epoch,
      dj: djSeatIndex(room),
      ...(moderation ? { moderation } : {}),
      ...(media
        ? {
            media: {
              revision: media.revision,
              playback: JSON.stringify(media.playback),
              playlist: JSON.stringify(media.playlist),
              // Nobody is seated in a rebuilt room: a line its DJ set went with them.
              nowPlaying: JSON.stringify(media.nowPlaying?.asDj ? null : media.nowPlaying),
            },
          }
        : {}),
    });
    return r.state as 'live' | 'created' | 'needs-records';
  }

  /** `memberOnly`: refuse NOT_IN_ROOM rather than admit (a media connection of someone not in the room). */
  async join(roomId: string, userId: string, connectionId: string, options: { memberOnly?: boolean } = {}): Promise<{ joined: boolean }> {
    const r = await this.run('join', { room: roomId, user: userId, conn: connectionId, ...(options.memberOnly ? { memberOnly: true } : {}) });
    return { joined: r.joined === true };
  }

  async isMember(roomId: string, userId: string): Promise<boolean> {
    return (await this.run('isMember', { room: roomId, user: userId })).member === true;
  }

  /**
   * A gift's receivers as the live room has them: named users split into present and missing,
   * or everyone seated / present (the sender excluded; at most `limit + 1`, so the caller can
   * tell "too many"). Refuses NOT_IN_ROOM for a sender who is not a member.
   */
  async giftTargets(
    roomId: string,
    senderId: string,
    target: { users: string[] } | { everyone: 'seated' | 'room' },
    limit: number,
  ): Promise<{ receivers: string[]; missing: string[] }> {
    const r = await this.run('giftTargets', { room: roomId, user: senderId, limit, ...target });
    // cjson encodes an empty Lua table as {}, not [].
    const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : []);
    return { receivers: list(r.receivers), missing: list(r.missing) };
  }

  async dropConnection(roomId: string, userId: string, connectionId: string, now?: number): Promise<void> {
    await this.run('dropConnection', { room: roomId, user: userId, conn: connectionId }, now);
  }

  /** Renews leases (`room|user|connection`); returns those that had already been swept. */
  async renewLeases(leases: string[]): Promise<string[]> {
    if (leases.length === 0) return [];
    const r = await this.run('renewLeases', { leases });
    return Array.isArray(r.lost) ? (r.lost as string[]) : [];
  }

  async leave(roomId: string, userId: string): Promise<void> {
    await this.run('leave', { room: roomId, user: userId });
  }

  /** Lifts the ban marker that keeps a banned user's joins out (the record is PostgreSQL's). */
  async unban(roomId: string, userId: string): Promise<void> {
    await this.run('unban', { room: roomId, user: userId });
  }

  /** Kick (with a rejoin cooldown) or ban: the member leaves now, seat and all. */
  async removeMember(roomId: string, userId: string, reason: 'kicked' | 'banned', by: string, cooldownMs = 0): Promise<boolean> {
    const r = await this.run('removeMember', { room: roomId, user: userId, reason, by, cooldownMs });
    return r.removed === true;
  }

  /**
   * Drops connections whose edge stopped renewing them, removes members whose grace ran
   * out, and lists rooms that stayed empty past their timeout (the caller closes those).
   */
  async sweep(now?: number): Promise<{ leases: number; removed: number; emptyRooms: string[] }> {
    const r = await this.run('sweep', {}, now);
    return { leases: r.leases as number, removed: r.removed as number, emptyRooms: Array.isArray(r.empty) ? (r.empty as string[]) : [] };
  }

  async closeIfEmpty(roomId: string, now?: number): Promise<boolean> {
    return (await this.run('closeIfEmpty', { room: roomId }, now)).close === true;
  }

  async forgetEmpty(roomId: string): Promise<void> {
    await this.run('forgetEmpty', { room: roomId });
  }

  async close(roomId: string, reason: string, by: string | null): Promise<boolean> {
    return (await this.run('close', { room: roomId, reason, by })).closed === true;
  }

  async updateRoom(room: RoomView, by: string): Promise<void> {
    await this.run('updateRoom', { room: room.id, view: room, by });
  }

  async roleChanged(roomId: string, userId: string, role: string, by: string): Promise<void> {
    await this.run('roleChanged', { room: roomId, user: userId, role, by });
  }

  async snapshot(roomId: string, forUserId?: string): Promise<RoomSnapshot> {
    const r = await this.run('snapshot', { room: roomId, user: forUserId ?? '' });
    const { ok: _ok, ...snapshot } = r;
    return snapshot as unknown as RoomSnapshot;
  }

  /**
   * The raw events after `afterSeq` (JSON strings, in order), or recovered=false when the
   * stream no longer holds all of them or the epoch changed.
   */
  async readEvents(roomId: string, afterSeq: number, epoch: string): Promise<{ recovered: boolean; seq: number; events: string[] }> {
    const reply = (await this.raw('readEvents', { room: roomId, after: afterSeq, epoch, max: this.settings.streamMax })) as string[];
    const head = JSON.parse(reply[0]!) as { recovered: boolean; seq: number };
    return { recovered: head.recovered, seq: head.seq, events: reply.slice(1) };
  }

  async members(roomId: string, page: { afterScore: number; afterUser: string; limit: number }): Promise<{ items: LiveMember[]; more: boolean }> {
    const r = await this.run('members', { room: roomId, ...page });
    return { items: r.items as LiveMember[], more: r.more === true };
  }

  // Seats. `actor` must be a member; `moderator` lifts the apply-mode rule.
  async takeSeat(roomId: string, actor: string, seat: number, moderator: boolean): Promise<SeatView> {
    return (await this.run('takeSeat', { room: roomId, actor, seat, moderator })).seat as SeatView;
  }

  async leaveSeat(roomId: string, actor: string): Promise<void> {
    await this.run('leaveSeat', { room: roomId, actor });
  }

  async moveSeat(roomId: string, actor: string, seat: number): Promise<void> {
    await this.run('moveSeat', { room: roomId, actor, seat });
  }

  /** `expect`: who the moderator saw on the seat (null: empty); a different occupant is refused. */
  async lockSeat(roomId: string, actor: string, seat: number, locked: boolean, expect: string | null): Promise<void> {
    await this.run('lockSeat', { room: roomId, by: actor, seat, locked, expect: expect ?? '' });
  }

  async muteOwnSeat(roomId: string, actor: string, muted: boolean): Promise<void> {
    await this.run('muteSeat', { room: roomId, actor, self: true, muted });
  }

  async muteSeat(roomId: string, actor: string, seat: number, muted: boolean, expect: string): Promise<void> {
    await this.run('muteSeat', { room: roomId, by: actor, self: false, seat, muted, expect });
  }

  async seatOccupant(roomId: string, seat: number): Promise<string | null> {
    const r = await this.run('seatOccupant', { room: roomId, seat });
    return typeof r.userId === 'string' ? r.userId : null;
  }

  async removeFromSeat(roomId: string, actor: string, userId: string): Promise<void> {
    await this.run('removeFromSeat', { room: roomId, by: actor, user: userId });
  }

  async invite(roomId: string, actor: string, userId: string, seat: number, ttlMs: number): Promise<void> {
    await this.run('invite', { room: roomId, by: actor, user: userId, seat, ttlMs });
  }

  async answerInvite(roomId: string, actor: string, accept: boolean): Promise<SeatView | null> {
    const r = await this.run('answerInvite', { room: roomId, actor, accept });
    return (r.seat as SeatView | undefined) ?? null;
  }

  async apply(roomId: string, actor: string): Promise<boolean> {
    return (await this.run('apply', { room: roomId, actor })).queued === true;
  }

  async withdrawApplication(roomId: string, actor: string): Promise<void> {
    await this.run('withdrawApplication', { room: roomId, actor });
  }

  async resolveApplication(roomId: string, actor: string, userId: string, approve: boolean, seat = -1): Promise<SeatView | null> {
    const r = await this.run('resolveApplication', { room: roomId, by: actor, user: userId, approve, seat });
    return (r.seat as SeatView | undefined) ?? null;
  }

  async applications(roomId: string): Promise<string[]> {
    const r = await this.run('applications', { room: roomId });
    return Array.isArray(r.queue) ? (r.queue as string[]) : [];
  }

  // Chat.
  /** Membership, chat mutes and the per-user chat rate, before a message is archived. */
  async checkChat(roomId: string, actor: string, moderator: boolean): Promise<void> {
    await this.run('chat', { room: roomId, actor, message: { id: '' }, moderator, checkOnly: true });
  }

  /** Publishes an archived message once (a resend after a lost ack publishes nothing). */
  async publishChat(roomId: string, actor: string, message: Record<string, unknown> & { id: string }): Promise<{ seq: number; duplicate: boolean }> {
    const r = await this.run('chat', { room: roomId, actor, message, checked: true });
    return { seq: r.seq as number, duplicate: r.duplicate === true };
  }

  async chatRemoved(roomId: string, actor: string, messageId: string, how: 'recalled' | 'deleted'): Promise<void> {
    await this.run('chatRemoved', { room: roomId, messageId, how, by: actor });
  }

  async chatMute(roomId: string, actor: string, userId: string, untilMs: number | null): Promise<void> {
    await this.run('chatMute', { room: roomId, by: actor, user: userId, ...(untilMs === null ? {} : { untilMs }) });
  }

  async muteAll(roomId: string, actor: string, on: boolean): Promise<void> {
    await this.run('muteAll', { room: roomId, by: actor, on });
  }

  /**
   * Open rooms by live member count, most first; ties by room id, descending. The cursor is
   * the last (count, id) seen, so a page never repeats a room that kept its count.
   */
  async popular(after: { members: number; roomId: string } | null, limit: number): Promise<{ roomId: string; members: number }[]> {
    const max = after ? String(after.members) : '+inf';
    const out: { roomId: string; members: number }[] = [];
    // Many rooms share a count (one listener each is common): step through the ties in
    // batches rather than assume they fit in one read.
    const batch = Math.max(limit * 2, 100);
    for (let offset = 0; out.length < limit; offset += batch) {
      const rows = await this.redis.zrevrangebyscore('aura:rooms:live', max, '1', 'WITHSCORES', 'LIMIT', offset, batch);
      for (let i = 0; i < rows.length && out.length < limit; i += 2) {
        const roomId = rows[i]!;
        const members = Number(rows[i + 1]);
        if (after && members === after.members && roomId >= after.roomId) continue;
        out.push({ roomId, members });
      }
      if (rows.length < batch * 2) break;
    }
    return out;
  }

  /**
   * Stores the parts of a committed media change that are newer than what the room holds
   * (`revision`), and emits the events of those parts, atomically. `stale`: nothing was newer.
   */
  async media(roomId: string, revision: number, parts: Partial<MediaLiveParts>, events: MediaEvent[]): Promise<{ seq: number; stale: boolean }> {
    const encoded: Record<string, string> = {};
    for (const [part, value] of Object.entries(parts)) if (value !== undefined) encoded[part] = JSON.stringify(value);
    const r = await this.run('media', { room: roomId, revision, parts: encoded, events: events.map((e) => ({ ...e, data: JSON.stringify(e.data) })) });
    return { seq: r.seq as number, stale: r.stale === true };
  }

  /**
   * Sets (or clears, `line` null) a music room's now-playing line: the DJ seat's occupant sets
   * it as DJ; a moderator anywhere else sets it as themselves. Refuses NOT_A_MUSIC_ROOM and
   * DJ_SEAT_REQUIRED.
   */
  async nowPlaying(
    roomId: string,
    userId: string,
    moderator: boolean,
    line: { title: string; artist: string | null } | null,
    revision: number,
  ): Promise<{ asDj: boolean; stale: boolean; line: NowPlaying | null }> {
    const r = await this.run('nowPlaying', { room: roomId, user: userId, moderator, line, revision });
    return { asDj: r.asDj === true, stale: r.stale === true, line: (r.line as NowPlaying | undefined) ?? null };
  }

  /** One event, nothing else changes: announcements, and the benchmark's load. */
  async emit(roomId: string, type: string, data: Record<string, unknown>): Promise<number> {
    return (await this.run('emit', { room: roomId, type, data })).seq as number;
  }
}
