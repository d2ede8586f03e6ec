import { LiveStateRefusal, type RoomSnapshot } from '../../db/live/room-live-state';
import { AppError, ErrorCode } from '../../domain/errors';
import { mediaPermissions, seatOf, type MediaGrant, type MediaPermissions, type PublishOptions } from '../../domain/media/grants';
import type { RoomView } from '../../domain/rooms/model';
import { mediaIdentity, mediaRoomName, type MediaServer } from '../../platform/media/livekit';
import type { RoomService } from '../rooms/room-service';

export interface MediaAccessSettings {
  tokenTtlSeconds: number;
  videoPublishersMax: number;
}

/**
 * What an app needs to connect to its room's media (the join frame's and the re-issue route's
 * `media`). The token carries the grant as of now; the seat binder changes it in place on the
 * media server as the seat grid changes, and LiveKit refreshes the token in-session with it.
 */
export interface MediaJoin {
  url: string;
  token: string;
  /** The media server's room name. */
  room: string;
  identity: string;
  expiresAt: string;
  grant: MediaGrant;
  publish: PublishOptions;
}

/**
 * Media access decided from the seat grid: the grant of a member from a live snapshot, and
 * their join token. Minting is local (a signature), so a join never waits on the media server.
 */
export class MediaAccess {
  constructor(
    readonly media: MediaServer,
    private readonly settings: MediaAccessSettings,
  ) {}

  permissionsFor(snapshot: { room: Pick<RoomView, 'type' | 'seatCount'>; seats: RoomSnapshot['seats'] }, userId: string): MediaPermissions {
    return mediaPermissions({ room: snapshot.room, seat: seatOf(snapshot.seats, userId), videoPublishersMax: this.settings.videoPublishersMax });
  }

  async joinFor(snapshot: Pick<RoomSnapshot, 'room' | 'seats'>, userId: string): Promise<MediaJoin> {
    const { grant, publish } = this.permissionsFor(snapshot, userId);
    const { token, expiresAt } = await this.media.mintJoinToken(snapshot.room.id, userId, grant, this.settings.tokenTtlSeconds);
    return {
      url: this.media.url,
      token,
      room: mediaRoomName(snapshot.room.id),
      identity: mediaIdentity(userId),
      expiresAt: new Date(expiresAt).toISOString(),
      grant,
      publish,
    };
  }

  /**
   * A fresh token for a member (POST /v1/rooms/:id/media/token): one live read on the hot
   * path; PostgreSQL only to name the refusal when the room isn't live.
   */
  async reissue(rooms: RoomService, userId: string, roomId: string): Promise<MediaJoin> {
    let snapshot: RoomSnapshot;
    try {
      snapshot = await rooms.snapshot(roomId, userId, { badges: false });
    } catch (err) {
      if (!(err instanceof LiveStateRefusal)) throw err;
      // Not live: the room doesn't exist (404), closed (409), or nobody is in it (not a member).
      const room = await rooms.get(roomId);
      if (room.status !== 'open') throw new AppError(ErrorCode.RoomClosed, 'this room has closed');
      throw new AppError(ErrorCode.NotInRoom, 'join the room first');
    }
    if (snapshot.status !== 'open') throw new AppError(ErrorCode.RoomClosed, 'this room has closed');
    if (!snapshot.member) throw new AppError(ErrorCode.NotInRoom, 'join the room first');
    return this.joinFor(snapshot, userId);
  }
}
