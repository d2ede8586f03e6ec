import type { RoomRole, RoomType } from '../rooms/model';

/**
 * Music rooms: one seat is the DJ's, whose audio is published as music (stereo, higher bitrate;
 * see domain/media/grants.ts) and who sets the room's now-playing line.
 */

/**
 * The DJ seat of a room: seat 1 in a music room (seat 0 is the host's), or the host seat in a
 * one-seat music room; null in voice and video rooms. The media grants and the now-playing
 * line both read it from here, so they never disagree about who the DJ is.
 */
export function djSeatIndex(room: { type: RoomType; seatCount: number }): number | null {
  if (room.type !== 'music') return null;
  return room.seatCount > 1 ? 1 : 0;
}

/** Lengths of the now-playing line, in characters. */
export const NOW_PLAYING_TITLE_MAX = 120;
export const NOW_PLAYING_ARTIST_MAX = 120;

/** The line the room sees under the DJ seat. */
export interface NowPlaying {
  title: string;
  artist: string | null;
  byUserId: string;
  /** Set by the DJ as DJ (it goes when they leave the seat), or by the owner or an admin (it stays). */
  asDj: boolean;
  at: number;
}

export type NowPlayingRefusal = 'NOT_A_MUSIC_ROOM' | 'DJ_SEAT_REQUIRED';

/**
 * Who may set the now-playing line: whoever sits on the DJ seat, and the owner and admins.
 * `seat` is the user's seat index (null: not seated).
 */
export function nowPlayingRefusal(room: { type: RoomType; seatCount: number }, role: RoomRole, seat: number | null): NowPlayingRefusal | null {
  const dj = djSeatIndex(room);
  if (dj === null) return 'NOT_A_MUSIC_ROOM';
  if (seat === dj || role !== 'member') return null;
  return 'DJ_SEAT_REQUIRED';
}
