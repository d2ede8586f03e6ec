import type { RoomType } from '../rooms/model';

/**
 * The DJ seat of a music room: seat 1 (seat 0 is the host's), or seat 0 when the room has a
 * single seat. Other room types have none. Its occupant's audio is published as music and sets
 * the now-playing line.
 */
export function djSeatIndex(room: { type: RoomType; seatCount: number }): number | null {
  if (room.type !== 'music') return null;
  return room.seatCount > 1 ? 1 : 0;
}
