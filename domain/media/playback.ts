import type { RoomRole } from '../rooms/model';

/**
 * A room's shared YouTube playback, as pure rules: where playback is at a given server time,
 * how play, pause, seek and next change it, who may control it, and which videos and how many
 * a playlist takes. The server's clock is the reference: a state says "position P at server
 * instant `at`", and every client turns that into its own clock with the socket's `time`
 * exchange (docs/realtime-protocol.md).
 */

export const PLAYLIST_POLICIES = ['moderators', 'everyone'] as const;
/** Who controls a room's playlist and playback: the owner and admins only, or every member. */
export type PlaylistPolicy = (typeof PLAYLIST_POLICIES)[number];

export const PLAYBACK_STATES = ['idle', 'playing', 'paused'] as const;
export type PlaybackStateName = (typeof PLAYBACK_STATES)[number];

/** Items a snapshot and playlist.updated carry; the rest is a GET away. */
export const PLAYLIST_HEAD_ITEMS = 5;

/** The item that is playing (or paused), as playback needs it. */
export interface PlaybackItem {
  id: string;
  videoId: string;
  title: string;
  durationMs: number;
}

/**
 * The authoritative playback state. `positionMs` is where the video was at server instant `at`
 * (ms since the epoch); while playing it advances one ms per ms from there.
 */
export interface Playback {
  state: PlaybackStateName;
  item: PlaybackItem | null;
  positionMs: number;
  at: number;
  /** Bumped by every change of the playback state: a controller's `version` must match it. */
  version: number;
}

export const IDLE: Omit<Playback, 'version' | 'at'> = { state: 'idle', item: null, positionMs: 0 };

/** Where playback is at server instant `now` (never past the item's end). */
export function positionAt(p: Pick<Playback, 'state' | 'item' | 'positionMs' | 'at'>, now: number): number {
  if (p.state !== 'playing' || !p.item) return p.positionMs;
  return Math.min(p.item.durationMs, p.positionMs + Math.max(0, now - p.at));
}

/** When the playing item ends (server ms), or null when nothing is playing. */
export function endsAt(p: Pick<Playback, 'state' | 'item' | 'positionMs' | 'at'>): number | null {
  if (p.state !== 'playing' || !p.item) return null;
  return p.at + Math.max(0, p.item.durationMs - p.positionMs);
}

/** A seek target inside the item: 0 to its duration (the end: it ends now). */
export function clampSeek(positionMs: number, durationMs: number): number {
  if (!Number.isFinite(positionMs)) return 0;
  return Math.max(0, Math.min(durationMs, Math.round(positionMs)));
}

/** What the next state is; `null` item: the queue ran out, playback goes idle. */
export function startItem(item: PlaybackItem | null, now: number, version: number): Playback {
  if (!item) return { ...IDLE, at: now, version };
  return { state: 'playing', item, positionMs: 0, at: now, version };
}

/** Play: resume a paused item from where it stopped (playing stays as it is). */
export function resume(p: Playback, now: number): Playback {
  if (p.state !== 'paused') return p;
  return { ...p, state: 'playing', at: now, version: p.version + 1 };
}

/** Pause at the position reached now. */
export function pause(p: Playback, now: number): Playback {
  if (p.state !== 'playing') return p;
  return { ...p, state: 'paused', positionMs: positionAt(p, now), at: now, version: p.version + 1 };
}

/** Seek keeps playing or paused as it was, from the (clamped) position at `now`. */
export function seek(p: Playback, positionMs: number, now: number): Playback {
  if (!p.item) return p;
  return { ...p, positionMs: clampSeek(positionMs, p.item.durationMs), at: now, version: p.version + 1 };
}

/** The next item to play: the first queued one by position (ties by id, as the database orders). */
export function nextInQueue<T extends { position: number; id: string }>(queue: readonly T[]): T | null {
  let best: T | null = null;
  for (const item of queue) {
    if (!best || item.position < best.position || (item.position === best.position && item.id < best.id)) best = item;
  }
  return best;
}

/**
 * Votes needed to skip the current item: a fraction of the room's listeners (everyone present,
 * seated or not), rounded up, and never fewer than one.
 */
export function skipVotesNeeded(listeners: number, fraction: number): number {
  return Math.max(1, Math.ceil(Math.max(0, listeners) * Math.min(1, Math.max(0, fraction))));
}

/** Whether a user controls the playlist and playback: owner and admins always; members under 'everyone'. */
export function mayControlPlayback(role: RoomRole, policy: PlaylistPolicy): boolean {
  return role !== 'member' || policy === 'everyone';
}

/** Anyone may take back what they added; others' items only those who control the playlist. */
export function mayRemoveItem(role: RoomRole, policy: PlaylistPolicy, ownItem: boolean): boolean {
  return ownItem || mayControlPlayback(role, policy);
}

export interface PlaylistLimits {
  /** Items queued (and playing) in one room. */
  maxItems: number;
  /** Items one member may have queued at once (owner and admins are not counted). */
  maxItemsPerUser: number;
  /** Longest video a playlist takes; 0: no cap. */
  maxDurationMs: number;
}

export type QueueRefusal = 'PLAYLIST_FULL' | 'PLAYLIST_USER_LIMIT';

/** Whether one more item fits: the room's cap for everyone, the per-user cap for members. */
export function queueRefusal(input: { role: RoomRole; roomItems: number; userItems: number }, limits: PlaylistLimits): QueueRefusal | null {
  if (input.roomItems >= limits.maxItems) return 'PLAYLIST_FULL';
  if (input.role === 'member' && input.userItems >= limits.maxItemsPerUser) return 'PLAYLIST_USER_LIMIT';
  return null;
}

/** What the playlist must know of a video (the catalog's VideoMeta has it all). */
export interface VideoFacts {
  durationMs: number;
  embeddable: boolean;
  regionsAllowed: string[] | null;
  regionsBlocked: string[] | null;
  liveBroadcastContent: 'none' | 'live' | 'upcoming';
  ageRestricted: boolean;
}

export type VideoRefusal = 'VIDEO_NOT_EMBEDDABLE' | 'VIDEO_REGION_BLOCKED' | 'VIDEO_LIVE' | 'VIDEO_AGE_RESTRICTED' | 'VIDEO_TOO_LONG';

/**
 * Why a video can't join a room's playlist, or null. The app plays it in YouTube's embedded
 * player, so it must be embeddable and not age-restricted (the embed refuses those); it must play
 * in the room's region (a room without one is not checked); a live or upcoming broadcast has no
 * end for the playlist to move on at.
 */
export function videoRefusal(video: VideoFacts, room: { region: string | null }, limits: Pick<PlaylistLimits, 'maxDurationMs'>): VideoRefusal | null {
  if (!video.embeddable) return 'VIDEO_NOT_EMBEDDABLE';
  if (video.liveBroadcastContent !== 'none' || video.durationMs <= 0) return 'VIDEO_LIVE';
  if (video.ageRestricted) return 'VIDEO_AGE_RESTRICTED';
  if (room.region) {
    if (video.regionsAllowed && !video.regionsAllowed.includes(room.region)) return 'VIDEO_REGION_BLOCKED';
    if (video.regionsBlocked?.includes(room.region)) return 'VIDEO_REGION_BLOCKED';
  }
  if (limits.maxDurationMs > 0 && video.durationMs > limits.maxDurationMs) return 'VIDEO_TOO_LONG';
  return null;
}

/** Where an item moves to in a queue of `length` items: 0 (first) to length - 1 (last). */
export function clampQueueIndex(index: number, length: number): number {
  return Math.max(0, Math.min(length - 1, index));
}

/** The queue in its new order after moving `itemId` to `index` (ids in order). */
export function moveInQueue(ids: readonly string[], itemId: string, index: number): string[] {
  const from = ids.indexOf(itemId);
  if (from < 0) return [...ids];
  const rest = ids.filter((id) => id !== itemId);
  rest.splice(clampQueueIndex(index, ids.length), 0, itemId);
  return rest;
}
