import { LiveStateRefusal, type RoomLiveState } from '../../db/live/room-live-state';
import type { MediaWebhookEvent } from '../../platform/media/livekit';
import type { Logger } from '../../platform/logging';
import type { MediaAccess } from './media-access';
import { mediaConnectionId } from './media-connections';
import { applyGrant, type SeatBinderMetrics } from './seat-binder';

export type PresenceOutcome = 'connected' | 'refused' | 'dropped' | 'ignored';

/**
 * Presence from the media server's webhooks. A participant who joins the room's media counts as
 * a connection of that member, like a socket: a speaker whose phone keeps the audio up while the
 * socket blinks keeps their seat, and one who left both loses it after the grace period, by the
 * same ghost-seat rules. The media never admits anyone: a participant who is not a member (their
 * token outlived their membership) is refused and removed from the media server.
 *
 * Leases: every connection in the live state has a lease that the presence sweep drops when it
 * is not renewed within ROOM_CONNECTION_LEASE_SECONDS. A socket's lease is renewed by the edge
 * holding it; a media connection has no such holder in our processes, so the seat binder's
 * reconcile loop renews it from the media server's own participant list (listParticipants),
 * every min(MEDIA_RECONCILE_SECONDS, lease / 3). That is the media server vouching that the
 * participant is still there; if the webhook saying they left is lost, or the binder's process
 * dies, the lease runs out and the usual grace applies, just as when an edge dies. A lease the
 * sweep dropped while the participant is still there is counted again by the next pass.
 */
export class MediaPresence {
  constructor(
    private readonly deps: {
      access: MediaAccess;
      live: RoomLiveState;
      logger: Logger;
      metrics: SeatBinderMetrics;
    },
  ) {}

  async handle(event: MediaWebhookEvent): Promise<PresenceOutcome> {
    const { roomId, participant } = event;
    if (!roomId || !participant) return 'ignored';
    const connectionId = mediaConnectionId(participant.sid);
    if (event.event === 'participant_left') {
      await this.deps.live.dropConnection(roomId, participant.userId, connectionId);
      return 'dropped';
    }
    if (event.event !== 'participant_joined') return 'ignored';
    try {
      await this.deps.live.join(roomId, participant.userId, connectionId, { memberOnly: true });
    } catch (err) {
      if (!(err instanceof LiveStateRefusal)) throw err;
      // Not a member (left, kicked, banned, or the room closed): off the media too.
      await this.deps.access.media.removeParticipant(roomId, participant.userId).catch((e: unknown) => {
        this.deps.logger.warn({ err: e, roomId, userId: participant.userId }, 'could not remove a non-member from the media server; the reconcile loop will');
      });
      return 'refused';
    }
    // Their token's grant may predate a seat change made while they were connecting.
    try {
      const snapshot = await this.deps.live.snapshot(roomId);
      await applyGrant(this.deps, roomId, participant.userId, snapshot, 'webhook');
    } catch (err) {
      this.deps.logger.warn({ err, roomId, userId: participant.userId }, 'could not grant a joining participant their permissions; the reconcile loop will');
    }
    return 'connected';
  }
}
