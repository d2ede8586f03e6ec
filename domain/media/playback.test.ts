import { djSeatIndex, nowPlayingRefusal } from './music';
import {
  clampSeek,
  endsAt,
  mayControlPlayback,
  mayRemoveItem,
  moveInQueue,
  nextInQueue,
  pause,
  positionAt,
  queueRefusal,
  resume,
  seek,
  skipVotesNeeded,
  startItem,
  videoRefusal,
  type VideoFacts,
} from './playback';

const T0 = Date.UTC(2026, 0, 1, 20, 0, 0);
const item = { id: 'i1', videoId: 'dQw4w9WgXcQ', title: 'A song', durationMs: 200_000 };

describe('position at a server instant', () => {
  it('advances while playing, stops at the end, and holds while paused or idle', () => {
    const playing = startItem(item, T0, 1);
    expect(positionAt(playing, T0)).toBe(0);
    expect(positionAt(playing, T0 + 12_345)).toBe(12_345);
    expect(positionAt(playing, T0 + 500_000)).toBe(200_000);
    expect(positionAt(playing, T0 - 1_000)).toBe(0); // a clock a little behind never reads negative
    const paused = pause(playing, T0 + 30_000);
    expect(paused).toMatchObject({ state: 'paused', positionMs: 30_000, at: T0 + 30_000, version: 2 });
    expect(positionAt(paused, T0 + 90_000)).toBe(30_000);
    expect(positionAt(startItem(null, T0, 1), T0 + 5)).toBe(0);
  });

  it('ends at anchor + what is left, only while playing', () => {
    const playing = seek(startItem(item, T0, 1), 50_000, T0 + 10_000);
    expect(endsAt(playing)).toBe(T0 + 10_000 + 150_000);
    expect(endsAt(pause(playing, T0 + 20_000))).toBeNull();
    expect(endsAt(startItem(null, T0, 1))).toBeNull();
    const resumed = resume(pause(playing, T0 + 20_000), T0 + 60_000);
    expect(resumed).toMatchObject({ state: 'playing', positionMs: 60_000, at: T0 + 60_000 });
    expect(endsAt(resumed)).toBe(T0 + 60_000 + 140_000);
  });

  it('clamps seeks into the item and keeps playing or paused as it was', () => {
    expect(clampSeek(-5, 1000)).toBe(0);
    expect(clampSeek(5000, 1000)).toBe(1000);
    expect(clampSeek(12.6, 1000)).toBe(13);
    expect(clampSeek(Number.NaN, 1000)).toBe(0);
    const paused = pause(startItem(item, T0, 1), T0 + 1_000);
    expect(seek(paused, 999_999, T0 + 2_000)).toMatchObject({ state: 'paused', positionMs: 200_000, version: 3 });
    // Seeking to the end of a playing item: it ends now.
    expect(endsAt(seek(startItem(item, T0, 1), 999_999, T0 + 5))).toBe(T0 + 5);
  });
});

describe('the queue', () => {
  it('plays the lowest position next, ties by id', () => {
    expect(nextInQueue([{ id: 'b', position: 2 }, { id: 'c', position: 1 }, { id: 'a', position: 1 }])).toEqual({ id: 'a', position: 1 });
    expect(nextInQueue([])).toBeNull();
  });

  it('moves an item to an index, clamped to the queue', () => {
    expect(moveInQueue(['a', 'b', 'c', 'd'], 'd', 0)).toEqual(['d', 'a', 'b', 'c']);
    expect(moveInQueue(['a', 'b', 'c', 'd'], 'a', 2)).toEqual(['b', 'c', 'a', 'd']);
    expect(moveInQueue(['a', 'b', 'c'], 'a', 99)).toEqual(['b', 'c', 'a']);
    expect(moveInQueue(['a', 'b'], 'x', 0)).toEqual(['a', 'b']);
  });

  it('skips at a fraction of the listeners, rounded up, never fewer than one vote', () => {
    expect(skipVotesNeeded(0, 0.5)).toBe(1);
    expect(skipVotesNeeded(1, 0.5)).toBe(1);
    expect(skipVotesNeeded(3, 0.5)).toBe(2);
    expect(skipVotesNeeded(10, 0.5)).toBe(5);
    expect(skipVotesNeeded(10, 0)).toBe(1);
    expect(skipVotesNeeded(7, 1)).toBe(7);
  });

  it('caps the room for everyone and each member’s queued items', () => {
    const limits = { maxItems: 3, maxItemsPerUser: 1, maxDurationMs: 0 };
    expect(queueRefusal({ role: 'member', roomItems: 0, userItems: 0 }, limits)).toBeNull();
    expect(queueRefusal({ role: 'member', roomItems: 1, userItems: 1 }, limits)).toBe('PLAYLIST_USER_LIMIT');
    expect(queueRefusal({ role: 'admin', roomItems: 2, userItems: 2 }, limits)).toBeNull();
    expect(queueRefusal({ role: 'owner', roomItems: 3, userItems: 0 }, limits)).toBe('PLAYLIST_FULL');
  });
});

describe('who may', () => {
  it('control: owner and admins always, members only under "everyone"', () => {
    expect(mayControlPlayback('owner', 'moderators')).toBe(true);
    expect(mayControlPlayback('admin', 'moderators')).toBe(true);
    expect(mayControlPlayback('member', 'moderators')).toBe(false);
    expect(mayControlPlayback('member', 'everyone')).toBe(true);
  });

  it('remove: their own item always, others’ only if they control', () => {
    expect(mayRemoveItem('member', 'moderators', true)).toBe(true);
    expect(mayRemoveItem('member', 'moderators', false)).toBe(false);
    expect(mayRemoveItem('member', 'everyone', false)).toBe(true);
    expect(mayRemoveItem('admin', 'moderators', false)).toBe(true);
  });

  it('set the now-playing line: the DJ seat (1, or 0 in a one-seat room) and moderators, in music rooms', () => {
    expect(djSeatIndex({ type: 'music', seatCount: 9 })).toBe(1);
    expect(djSeatIndex({ type: 'music', seatCount: 1 })).toBe(0);
    expect(djSeatIndex({ type: 'voice', seatCount: 9 })).toBeNull();
    const music = { type: 'music' as const, seatCount: 9 };
    expect(nowPlayingRefusal(music, 'member', 1)).toBeNull();
    expect(nowPlayingRefusal(music, 'member', 2)).toBe('DJ_SEAT_REQUIRED');
    expect(nowPlayingRefusal(music, 'admin', null)).toBeNull();
    expect(nowPlayingRefusal({ type: 'video', seatCount: 9 }, 'owner', 1)).toBe('NOT_A_MUSIC_ROOM');
  });
});

describe('which videos a playlist takes', () => {
  const ok: VideoFacts = { durationMs: 200_000, embeddable: true, regionsAllowed: null, regionsBlocked: null, liveBroadcastContent: 'none', ageRestricted: false };
  const room = { region: 'IN' };
  const limits = { maxDurationMs: 3_600_000 };

  it('takes an ordinary embeddable video', () => {
    expect(videoRefusal(ok, room, limits)).toBeNull();
    expect(videoRefusal({ ...ok, regionsAllowed: ['IN', 'US'] }, room, limits)).toBeNull();
  });

  it('refuses what would not play, or not end', () => {
    expect(videoRefusal({ ...ok, embeddable: false }, room, limits)).toBe('VIDEO_NOT_EMBEDDABLE');
    expect(videoRefusal({ ...ok, regionsBlocked: ['IN'] }, room, limits)).toBe('VIDEO_REGION_BLOCKED');
    expect(videoRefusal({ ...ok, regionsAllowed: ['US'] }, room, limits)).toBe('VIDEO_REGION_BLOCKED');
    expect(videoRefusal({ ...ok, regionsAllowed: [] }, room, limits)).toBe('VIDEO_REGION_BLOCKED');
    expect(videoRefusal({ ...ok, liveBroadcastContent: 'live', durationMs: 0 }, room, limits)).toBe('VIDEO_LIVE');
    expect(videoRefusal({ ...ok, liveBroadcastContent: 'upcoming' }, room, limits)).toBe('VIDEO_LIVE');
    expect(videoRefusal({ ...ok, ageRestricted: true }, room, limits)).toBe('VIDEO_AGE_RESTRICTED');
    expect(videoRefusal({ ...ok, durationMs: 3_600_001 }, room, limits)).toBe('VIDEO_TOO_LONG');
    expect(videoRefusal({ ...ok, durationMs: 99_000_000 }, room, { maxDurationMs: 0 })).toBeNull();
  });

  it('does not check regions for a room without one', () => {
    expect(videoRefusal({ ...ok, regionsAllowed: ['US'] }, { region: null }, limits)).toBeNull();
  });
});
