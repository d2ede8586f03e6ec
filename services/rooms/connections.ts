import { roomChannel, type RoomLiveState } from '../../db/live/room-live-state';

/**
 * What the realtime edge needs of a room's live state for the sockets it holds: the room's
 * channel, its event stream for catch-up, and the connection leases that keep a member in the
 * room while their phone is connected. The edge goes through this (and RoomService) rather
 * than the live-state layer itself.
 */
export class RoomConnections {
  constructor(private readonly live: RoomLiveState) {}

  /** The Redis channel a room's events are published on. */
  channel(roomId: string): string {
    return roomChannel(roomId);
  }

  /** How long a connection lease lasts without renewal. */
  get leaseMs(): number {
    return this.live.settings.leaseMs;
  }

  readEvents(roomId: string, afterSeq: number, epoch: string): Promise<{ recovered: boolean; seq: number; events: string[] }> {
    return this.live.readEvents(roomId, afterSeq, epoch);
  }

  isMember(roomId: string, userId: string): Promise<boolean> {
    return this.live.isMember(roomId, userId);
  }

  /** This connection is gone; the member keeps their place (and seat) for the grace period. */
  drop(roomId: string, userId: string, connectionId: string): Promise<void> {
    return this.live.dropConnection(roomId, userId, connectionId);
  }

  /** Renews `room|user|connection` leases; returns those found gone (swept, or member removed). */
  renew(leases: string[]): Promise<string[]> {
    return this.live.renewLeases(leases);
  }
}
