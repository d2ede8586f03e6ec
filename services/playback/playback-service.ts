import type { EntityManager } from 'typeorm';
import type { MediaEvent, RoomLiveState } from '../../db/live/room-live-state';
import type { ModerationEntry, ModerationLog } from '../../db/repositories/room-moderation';
import {
  livePlayback,
  playlistPart,
  type LivePlayback,
  type MediaLiveParts,
  type PlaybackRecord,
  type PlaylistItemView,
  type RoomPlaylists,
} from '../../db/repositories/room-playlists';
import type { RoomDirectory } from '../../db/repositories/rooms';
import { AppError, ErrorCode } from '../../domain/errors';
import type { NowPlaying } from '../../domain/media/music';
import {
  endsAt,
  mayControlPlayback,
  mayRemoveItem,
  moveInQueue,
  pause,
  queueRefusal,
  resume,
  seek,
  skipVotesNeeded,
  startItem,
  videoRefusal,
  type Playback,
  type PlaybackItem,
  type PlaylistLimits,
  type VideoRefusal,
} from '../../domain/media/playback';
import type { RoomRole, RoomView } from '../../domain/rooms/model';
import { VideoCatalogUnavailable, VideoNotFound, type VideoCatalog, type VideoMeta } from '../../platform/media/video-catalog';
import type { Page } from '../../db/repositories/pagination';
import { asAppError } from '../rooms/refusals';
import type { RoomService } from '../rooms/room-service';

export interface PlaybackPolicy extends PlaylistLimits {
  /** Fraction of the room's listeners whose votes skip the current item. */
  skipVoteFraction: number;
  /** The longest a video lookup may take before the add answers DEPENDENCY_UNAVAILABLE. */
  catalogTimeoutMs: number;
}

export interface PlaybackServiceDeps {
  rooms: Pick<RoomDirectory, 'findById' | 'roleOf'>;
  /** Rebuilds a room Redis lost before a live step (RoomService.inLiveRoom). */
  roomService: Pick<RoomService, 'inLiveRoom'>;
  playlists: RoomPlaylists;
  moderationLog: ModerationLog;
  live: RoomLiveState;
  /** Where video facts come from (YouTube); absent: adding a video answers VIDEO_CATALOG_NOT_CONFIGURED. */
  catalog?: VideoCatalog;
  policy: PlaybackPolicy;
  clock?: () => number;
  /** Told when a change committed in PostgreSQL but its live step failed. */
  onLiveStepFailed?: (failure: { roomId: string; what: string; err: unknown }) => void;
}

/** What a playback change answers: the state as committed, and the server's clock to read it by. */
export interface PlaybackAnswer {
  playback: LivePlayback;
  serverTime: number;
}

/** What one change decided inside its transaction. */
interface Decision<T> {
  result: T;
  /** The new playback state (saved, announced as playback.updated). */
  playback?: { state: Playback; reason: string };
  /** The queue changed (announced as playlist.updated with this reason). */
  playlist?: { reason: string; data?: Record<string, unknown> };
  audit?: ModerationEntry;
  /** Nothing changed: no revision, no event. */
  unchanged?: boolean;
}

const toItem = (i: Pick<PlaylistItemView, 'id' | 'videoId' | 'title' | 'durationMs'>): PlaybackItem => ({ id: i.id, videoId: i.videoId, title: i.title, durationMs: i.durationMs });

/**
 * A room's YouTube playlist and its shared playback: who may do what (domain/media/playback.ts),
 * the record (PostgreSQL: every change locks the room's playback row, so one room's changes
 * are serialised, and takes the next revision), then the live copy and its events (Redis: the
 * room script stores a part only if newer, so live steps finishing out of order still leave the
 * newest state, announced once).
 */
export class PlaybackService {
  private readonly clock: () => number;

  constructor(private readonly deps: PlaybackServiceDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  // Reading.

  async playback(roomId: string): Promise<PlaybackAnswer> {
    await this.findRoom(roomId);
    const record = await this.deps.playlists.playback(roomId);
    return { playback: livePlayback(record), serverTime: this.clock() };
  }

  /** The current item and a page of the queue after it. */
  async playlist(roomId: string, page: { cursor?: string; limit: number }): Promise<{ current: PlaylistItemView | null } & Page<PlaylistItemView>> {
    await this.findRoom(roomId);
    const [current, queue] = await Promise.all([page.cursor ? null : this.deps.playlists.currentItem(roomId), this.deps.playlists.listQueue(roomId, page)]);
    return { current, ...queue };
  }

  // The playlist.

  async add(userId: string, roomId: string, videoId: string): Promise<{ item: PlaylistItemView; playback: LivePlayback }> {
    const { room, role } = await this.actor(userId, roomId);
    if (!mayControlPlayback(role, room.playlistPolicy)) throw this.controlRefusal('add to');
    const catalog = this.deps.catalog;
    if (!catalog) throw new AppError(ErrorCode.VideoCatalogNotConfigured, 'videos cannot be added on this server: no video catalog is configured');
    // Refused before YouTube is asked when it can't fit anyway; checked again under the lock.
    await this.deps.playlists.transaction(async (tx) => this.checkRoomFor(tx, room, role, userId, videoId));
    const video = await this.lookup(catalog, videoId);
    const refusal = videoRefusal(video, room, this.deps.policy);
    if (refusal) throw new AppError(refusal, VIDEO_REFUSALS[refusal]);
    return this.change(room.id, userId, async (tx, record) => {
      await this.checkRoomFor(tx, room, role, userId, video.id);
      const item = await this.deps.playlists.insertItem(tx, {
        roomId: room.id,
        videoId: video.id,
        title: video.title,
        channelTitle: video.channelTitle,
        durationMs: video.durationMs,
        thumbnailUrl: video.thumbnails.find((t) => t.url.startsWith('https://'))?.url ?? null,
        addedBy: userId,
      });
      // The first video of an idle room starts at once (what a room that asked for it expects).
      let playback: Decision<unknown>['playback'];
      if (record.state === 'idle') {
        await this.deps.playlists.setStatus(tx, item.id, 'playing');
        playback = { state: startItem(toItem(item), this.clock(), record.version + 1), reason: 'started' };
      }
      return { result: item, playback, playlist: { reason: 'added', data: { itemId: item.id, byUserId: userId } } };
    }).then(({ result, playback }) => ({ item: result, playback }));
  }

  async remove(userId: string, roomId: string, itemId: string): Promise<PlaybackAnswer> {
    const { room, role } = await this.actor(userId, roomId);
    return this.answer(
      this.change(room.id, userId, async (tx, record) => {
        const item = await this.deps.playlists.findItem(tx, room.id, itemId);
        if (!item || (item.status !== 'queued' && item.status !== 'playing')) throw notFound();
        const own = item.addedBy === userId;
        if (!mayRemoveItem(role, room.playlistPolicy, own)) throw this.controlRefusal('remove others’ items from');
        const audit = own ? undefined : this.entry(room.id, userId, item.addedBy, { itemId, videoId: item.videoId });
        if (item.status === 'playing') {
          const next = await this.advance(tx, room.id, record, 'removed');
          return { result: null, audit, playback: { state: next, reason: 'removed' }, playlist: { reason: 'removed', data: { itemId, byUserId: userId } } };
        }
        await this.deps.playlists.setStatus(tx, item.id, 'removed');
        return { result: null, audit, playlist: { reason: 'removed', data: { itemId, byUserId: userId } } };
      }),
    );
  }

  /** Moves a queued item to `index` in the queue (0: next to play). */
  async move(userId: string, roomId: string, itemId: string, index: number): Promise<{ items: PlaylistItemView[] }> {
    const { room, role } = await this.actor(userId, roomId);
    if (!mayControlPlayback(role, room.playlistPolicy)) throw this.controlRefusal('reorder');
    const { result } = await this.change(room.id, userId, async (tx) => {
      const item = await this.deps.playlists.findItem(tx, room.id, itemId);
      if (!item || (item.status !== 'queued' && item.status !== 'playing')) throw notFound();
      if (item.status !== 'queued') throw new AppError(ErrorCode.PlaylistItemNotQueued, 'the current item is not in the queue: only queued items move');
      const queue = await this.deps.playlists.queue(tx, room.id);
      const ids = queue.map((i) => i.id);
      const order = moveInQueue(ids, itemId, index);
      if (order.every((id, i) => id === ids[i])) return { result: queue, unchanged: true };
      await this.deps.playlists.renumber(tx, room.id, order);
      return { result: await this.deps.playlists.queue(tx, room.id), playlist: { reason: 'moved', data: { itemId, index: order.indexOf(itemId), byUserId: userId } } };
    });
    return { items: result };
  }

  /**
   * A listener's vote to skip the current item (named, so a vote never lands on the item that
   * followed). Enough votes (a fraction of the room's listeners) skip it at once.
   */
  async voteSkip(userId: string, roomId: string, itemId: string): Promise<{ votes: number; needed: number; skipped: boolean; playback: LivePlayback }> {
    const room = await this.findOpenRoom(roomId);
    const snapshot = await this.deps.roomService.inLiveRoom(room.id, () => this.deps.live.snapshot(room.id, userId));
    if (!snapshot.member) throw new AppError(ErrorCode.NotInRoom, 'join the room first');
    const needed = skipVotesNeeded(snapshot.memberCount, this.deps.policy.skipVoteFraction);
    const { result, playback } = await this.change(room.id, userId, async (tx, record) => {
      if (!record.item || record.item.id !== itemId) throw new AppError(ErrorCode.PlaylistItemNotCurrent, 'that item is not playing now', { playback: livePlayback(record) });
      const { counted, votes } = await this.deps.playlists.vote(tx, itemId, userId);
      const skipVotes = { itemId, votes, needed };
      if (votes >= needed) {
        const next = await this.advance(tx, room.id, record, 'skipped');
        return { result: { votes, needed, skipped: true }, playback: { state: next, reason: 'vote-skipped' }, playlist: { reason: 'vote-skipped', data: { itemId, skipVotes } } };
      }
      if (!counted) return { result: { votes, needed, skipped: false }, unchanged: true };
      return { result: { votes, needed, skipped: false }, playlist: { reason: 'skip-vote', data: { itemId, skipVotes, byUserId: userId } } };
    });
    return { ...result, playback };
  }

  // Playback controls. `version`: the playback version the controller saw; a different one is
  // refused PLAYBACK_CHANGED (two controllers racing: one wins, the other is told, not overruled).

  async play(userId: string, roomId: string, version?: number): Promise<PlaybackAnswer> {
    return this.control(userId, roomId, version, async (tx, record, roomIdOk) => {
      if (record.state === 'playing') return { result: null, unchanged: true };
      if (record.state === 'paused') return { result: null, playback: { state: resume(record, this.clock()), reason: 'play' } };
      const next = await this.advance(tx, roomIdOk, record, 'played');
      if (next.state === 'idle') throw new AppError(ErrorCode.PlaylistEmpty, 'the playlist is empty: add a video first');
      return { result: null, playback: { state: next, reason: 'started' }, playlist: { reason: 'advanced' } };
    });
  }

  async pause(userId: string, roomId: string, version?: number): Promise<PlaybackAnswer> {
    return this.control(userId, roomId, version, async (_tx, record) => {
      if (record.state === 'idle') throw idle();
      if (record.state === 'paused') return { result: null, unchanged: true };
      return { result: null, playback: { state: pause(record, this.clock()), reason: 'pause' } };
    });
  }

  /** Seeks within the current item (clamped to it); playing or paused stays as it was. */
  async seek(userId: string, roomId: string, positionMs: number, version?: number): Promise<PlaybackAnswer> {
    return this.control(userId, roomId, version, async (_tx, record) => {
      if (record.state === 'idle') throw idle();
      return { result: null, playback: { state: seek(record, positionMs, this.clock()), reason: 'seek' } };
    });
  }

  /** Skips the current item (or starts the first, when idle). */
  async next(userId: string, roomId: string, version?: number): Promise<PlaybackAnswer> {
    return this.control(userId, roomId, version, async (tx, record, roomIdOk) => {
      const next = await this.advance(tx, roomIdOk, record, 'skipped');
      if (record.state === 'idle' && next.state === 'idle') throw new AppError(ErrorCode.PlaylistEmpty, 'the playlist is empty: add a video first');
      return { result: null, playback: { state: next, reason: 'next' }, playlist: { reason: 'advanced' } };
    });
  }

  // Music rooms.

  /** Sets (or clears) the now-playing line: the DJ seat's occupant, or the owner or an admin. */
  async setNowPlaying(userId: string, roomId: string, line: { title: string; artist: string | null } | null): Promise<{ nowPlaying: NowPlaying | null }> {
    const room = await this.findOpenRoom(roomId);
    if (room.type !== 'music') throw new AppError(ErrorCode.NotAMusicRoom, 'only music rooms have a now-playing line');
    const role = await this.deps.rooms.roleOf(room.id, userId);
    // The live check (who is on the DJ seat) runs inside the transaction, so the line is kept
    // only if it was allowed; a commit failing after it is reported (the room shows a line the
    // record lacks until the next change or rebuild).
    let applied = false;
    try {
      return await this.deps.playlists.transaction(async (tx) => {
        const record = await this.deps.playlists.lock(tx, room.id);
        const revision = record.revision + 1;
        const set = await this.deps.roomService.inLiveRoom(room.id, () => this.deps.live.nowPlaying(room.id, userId, role !== 'member', line, revision));
        applied = true;
        await this.deps.playlists.saveNowPlaying(tx, room.id, set.line);
        await this.deps.playlists.saveRevision(tx, room.id, revision);
        return { nowPlaying: set.line };
      });
    } catch (err) {
      if (applied) this.deps.onLiveStepFailed?.({ roomId: room.id, what: 'now-playing (record)', err });
      throw asAppError(err);
    }
  }

  // The sweeper.

  /**
   * Starts the next item of every room whose current one ended by `now` (the last one ending
   * leaves the room idle). Run every PLAYBACK_SWEEP_MS by each realtime edge, beside the room
   * sweep; tests call it with their own clock.
   *
   * Why a sweeper rather than a durable timer (a Temporal workflow or timer per item): an item's
   * end moves with every pause, seek and skip, so a timer would be cancelled and re-armed on
   * each (a workflow signal per hot control request), and a room's playback is already one row
   * whose ends_at says exactly when it must move on. One indexed query (the partial index on
   * ends_at of playing rooms) finds every room due, on any process, and FOR UPDATE SKIP LOCKED
   * lets several edges sweep at once without two advancing the same room, and without waiting
   * on a room a controller is changing right now (its new ends_at is seen on the next pass).
   * Nothing else is needed to survive a crash: the row stays due until a sweep commits it.
   * The cost is up to one sweep interval of lateness, which clients hide: they play on to the
   * video's end and the next item's state arrives with its server start time.
   */
  async advanceEnded(now = this.clock(), max = 100): Promise<{ advanced: string[] }> {
    const advanced: string[] = [];
    for (let i = 0; i < max; i++) {
      const due = await this.deps.playlists.transaction(async (tx) => {
        const [room] = await this.deps.playlists.lockEnded(tx, now, 1);
        if (!room) return null;
        const record = await this.deps.playlists.lock(tx, room.roomId);
        const revision = record.revision + 1;
        if (!room.open) {
          // A closed room plays nothing more: the item is over, the row leaves the sweeper's index.
          if (record.item) await this.deps.playlists.setStatus(tx, record.item.id, 'played');
          await this.deps.playlists.savePlayback(tx, room.roomId, startItem(null, now, record.version + 1), null, revision, null);
          return { roomId: room.roomId, live: null };
        }
        const next = await this.advance(tx, room.roomId, record, 'played', now);
        const until = endsAt(next);
        await this.deps.playlists.savePlayback(tx, room.roomId, next, until, revision, null);
        const live = await this.liveChange(tx, room.roomId, revision, { playback: { state: next, reason: 'ended' }, playlist: { reason: 'advanced' } }, null);
        return { roomId: room.roomId, live };
      });
      if (!due) break;
      advanced.push(due.roomId);
      if (due.live) {
        // Nobody may be listening (the room's live state may even be gone): the record moved on,
        // and a room rebuilt later starts from it.
        await this.publish(due.roomId, due.live.revision, due.live.parts, due.live.events).catch(() => undefined);
      }
    }
    return { advanced };
  }

  // Helpers.

  private async control(
    userId: string,
    roomId: string,
    version: number | undefined,
    decide: (tx: EntityManager, record: PlaybackRecord, roomId: string) => Promise<Decision<null>>,
  ): Promise<PlaybackAnswer> {
    const { room, role } = await this.actor(userId, roomId);
    if (!mayControlPlayback(role, room.playlistPolicy)) throw this.controlRefusal('control playback in');
    return this.answer(
      this.change(room.id, userId, async (tx, record) => {
        if (version !== undefined && version !== record.version) {
          throw new AppError(ErrorCode.PlaybackChanged, 'playback changed since you looked: here is where it is now', { playback: livePlayback(record) });
        }
        return decide(tx, record, room.id);
      }),
    );
  }

  private async answer(change: Promise<{ playback: LivePlayback }>): Promise<PlaybackAnswer> {
    const { playback } = await change;
    return { playback, serverTime: this.clock() };
  }

  /**
   * One change: the room's playback row locked, the decision made and written with the next
   * revision (and its audit row, when it has one) in one transaction; then the live copy and
   * its events. Answers the decision's result and the playback state as committed.
   */
  private async change<T>(roomId: string, userId: string, decide: (tx: EntityManager, record: PlaybackRecord) => Promise<Decision<T>>): Promise<{ result: T; playback: LivePlayback }> {
    const outcome = await this.deps.playlists.transaction(async (tx) => {
      const record = await this.deps.playlists.lock(tx, roomId);
      const decision = await decide(tx, record);
      if (decision.unchanged) return { result: decision.result, playback: livePlayback(record), live: null };
      const revision = record.revision + 1;
      const state = decision.playback?.state ?? record;
      const until = decision.playback ? endsAt(state) : record.endsAt;
      if (decision.playback) await this.deps.playlists.savePlayback(tx, roomId, state, until, revision, userId);
      else await this.deps.playlists.saveRevision(tx, roomId, revision);
      if (decision.audit) await this.deps.moderationLog.record(decision.audit, tx);
      const live = await this.liveChange(tx, roomId, revision, decision, userId);
      return { result: decision.result, playback: livePlayback({ ...state, endsAt: until }), live };
    });
    if (outcome.live) await this.publish(roomId, outcome.live.revision, outcome.live.parts, outcome.live.events);
    return { result: outcome.result, playback: outcome.playback };
  }

  /** The live parts and events of a decision (read inside its transaction, so they match the commit). */
  private async liveChange(
    tx: EntityManager,
    roomId: string,
    revision: number,
    decision: Pick<Decision<unknown>, 'playback' | 'playlist'>,
    by: string | null,
  ): Promise<{ revision: number; parts: Partial<MediaLiveParts>; events: MediaEvent[] }> {
    const parts: Partial<MediaLiveParts> = {};
    const events: MediaEvent[] = [];
    if (decision.playlist) {
      parts.playlist = playlistPart(await this.deps.playlists.queue(tx, roomId));
      events.push({ part: 'playlist', type: 'playlist.updated', data: { ...parts.playlist, reason: decision.playlist.reason, ...decision.playlist.data } });
    }
    if (decision.playback) {
      const state = decision.playback.state;
      parts.playback = livePlayback({ ...state, endsAt: endsAt(state) });
      events.push({ part: 'playback', type: 'playback.updated', data: { ...parts.playback, reason: decision.playback.reason, byUserId: by } });
    }
    return { revision, parts, events };
  }

  /** The live step of a committed change: a failure is reported, then answered (a retry repeats the change). */
  private async publish(roomId: string, revision: number, parts: Partial<MediaLiveParts>, events: MediaEvent[]): Promise<void> {
    try {
      await this.deps.roomService.inLiveRoom(roomId, () => this.deps.live.media(roomId, revision, parts, events));
    } catch (err) {
      this.deps.onLiveStepFailed?.({ roomId, what: events.map((e) => e.type).join(','), err });
      throw asAppError(err);
    }
  }

  /** Ends the current item (with `endStatus`) and starts the first queued one, or goes idle. */
  private async advance(tx: EntityManager, roomId: string, record: PlaybackRecord, endStatus: 'played' | 'skipped' | 'removed', now = this.clock()): Promise<Playback> {
    if (record.item) await this.deps.playlists.setStatus(tx, record.item.id, endStatus);
    const [next] = await this.deps.playlists.queue(tx, roomId);
    if (next) await this.deps.playlists.setStatus(tx, next.id, 'playing');
    return startItem(next ? toItem(next) : null, now, record.version + 1);
  }

  private async checkRoomFor(tx: EntityManager, room: RoomView, role: RoomRole, userId: string, videoId: string): Promise<void> {
    const counts = await this.deps.playlists.counts(tx, room.id, userId, videoId);
    if (counts.duplicate) throw new AppError(ErrorCode.PlaylistDuplicate, 'that video is already on the playlist');
    const refusal = queueRefusal({ role, ...counts }, this.deps.policy);
    if (refusal === 'PLAYLIST_FULL') throw new AppError(ErrorCode.PlaylistFull, `a playlist holds at most ${this.deps.policy.maxItems} videos`, { maxItems: this.deps.policy.maxItems });
    if (refusal === 'PLAYLIST_USER_LIMIT') {
      throw new AppError(ErrorCode.PlaylistUserLimit, `you may have at most ${this.deps.policy.maxItemsPerUser} videos waiting`, { maxItemsPerUser: this.deps.policy.maxItemsPerUser });
    }
  }

  /** The video's facts, within the catalog timeout: a stalled or failing catalog is a retryable 503. */
  private async lookup(catalog: VideoCatalog, videoId: string): Promise<VideoMeta> {
    const signal = AbortSignal.timeout(this.deps.policy.catalogTimeoutMs);
    try {
      return await Promise.race([
        catalog.lookup(videoId, { signal }),
        new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new VideoCatalogUnavailable('the video catalog did not answer in time')), { once: true })),
      ]);
    } catch (err) {
      if (err instanceof VideoNotFound) throw new AppError(ErrorCode.VideoNotFound, 'no such video (or it is private)');
      if (err instanceof VideoCatalogUnavailable) {
        throw new AppError(ErrorCode.DependencyUnavailable, 'the video catalog is unavailable; retry shortly', err.retryAfterMs ? { retryAfterMs: err.retryAfterMs } : undefined);
      }
      throw err;
    }
  }

  /** The room, open, and the user's role in it; a member must be in the room (moderators may act from outside). */
  private async actor(userId: string, roomId: string): Promise<{ room: RoomView; role: RoomRole }> {
    const room = await this.findOpenRoom(roomId);
    const role = await this.deps.rooms.roleOf(room.id, userId);
    if (role === 'member' && !(await this.deps.live.isMember(room.id, userId))) throw new AppError(ErrorCode.NotInRoom, 'join the room first');
    return { room, role };
  }

  private async findRoom(roomId: string): Promise<RoomView> {
    const room = await this.deps.rooms.findById(roomId);
    if (!room) throw new AppError(ErrorCode.RoomNotFound, 'no such room');
    const { passwordHash: _hidden, ...view } = room;
    return view;
  }

  private async findOpenRoom(roomId: string): Promise<RoomView> {
    const room = await this.findRoom(roomId);
    if (room.status !== 'open') throw new AppError(ErrorCode.RoomClosed, 'this room has closed');
    return room;
  }

  private controlRefusal(what: string): AppError {
    return new AppError(ErrorCode.ModeratorRequired, `only the owner and admins ${what} this room's playlist`);
  }

  private entry(roomId: string, actorId: string, targetUserId: string, details: Record<string, unknown>): ModerationEntry {
    return { roomId, actorId, action: 'playlist-remove', targetUserId, targetMessageId: null, details };
  }
}

const VIDEO_REFUSALS: Record<VideoRefusal, string> = {
  VIDEO_NOT_EMBEDDABLE: 'the video’s owner does not let it play inside other apps',
  VIDEO_REGION_BLOCKED: 'the video does not play in this room’s region',
  VIDEO_LIVE: 'live and upcoming broadcasts have no end to move on at: add a recorded video',
  VIDEO_AGE_RESTRICTED: 'age-restricted videos do not play inside other apps',
  VIDEO_TOO_LONG: 'the video is longer than a playlist takes',
};

const notFound = () => new AppError(ErrorCode.PlaylistItemNotFound, 'no such item on this room’s playlist');
const idle = () => new AppError(ErrorCode.PlaybackIdle, 'nothing is playing');
