import type { RoomType, SeatView } from '../rooms/model';
import { djSeatIndex } from './music';

/**
 * What a member may send to and take from a room's media server (the LiveKit SFU), decided by
 * the seat grid alone: listeners only listen; a seated speaker publishes a microphone unless a
 * moderator muted the seat (their own mute keeps the permission: the app mutes its track, so
 * unmuting is instant); in video rooms the first seats also publish a camera; the DJ seat of a
 * music room publishes music. Pure, so the token at join, the seat binder and the reconcile
 * loop all decide the same way.
 */

/** Track sources, named as LiveKit names them. */
export type MediaSource = 'microphone' | 'camera';

export interface MediaGrant {
  canSubscribe: boolean;
  /** True exactly when `sources` is not empty (LiveKit reads an empty list as "any source"). */
  canPublish: boolean;
  sources: MediaSource[];
  /**
   * Off for everyone: what members say to each other in a room goes through the room's socket,
   * where it is moderated, rate-limited and kept; a data channel beside it would bypass all that.
   */
  canPublishData: boolean;
}

/** How the app should publish its microphone (or the DJ's music). */
export interface AudioPublishOptions {
  source: 'microphone';
  kind: 'voice' | 'music';
  channels: 1 | 2;
  maxBitrateBps: number;
  /** Discontinuous transmission: saves bandwidth in speech pauses, audibly cuts music. */
  dtx: boolean;
  /** Redundant audio packets: protects speech on lossy mobile links; doubles a music stream's cost. */
  red: boolean;
}

export interface SimulcastLayer {
  quality: 'low' | 'medium' | 'high';
  width: number;
  height: number;
  maxBitrateBps: number;
  maxFramerate: number;
}

/** How the app should publish its camera: simulcast, so the SFU forwards each listener the layer its network can take. */
export interface VideoPublishOptions {
  source: 'camera';
  codec: 'vp8';
  simulcast: true;
  /** Lowest first; the app publishes all of them. */
  layers: SimulcastLayer[];
}

export interface PublishOptions {
  audio?: AudioPublishOptions;
  video?: VideoPublishOptions;
}

export interface MediaPermissions {
  grant: MediaGrant;
  publish: PublishOptions;
}

export const VOICE_AUDIO: AudioPublishOptions = { source: 'microphone', kind: 'voice', channels: 1, maxBitrateBps: 32_000, dtx: true, red: true };
export const MUSIC_AUDIO: AudioPublishOptions = { source: 'microphone', kind: 'music', channels: 2, maxBitrateBps: 128_000, dtx: false, red: false };
export const CAMERA_VIDEO: VideoPublishOptions = {
  source: 'camera',
  codec: 'vp8',
  simulcast: true,
  layers: [
    { quality: 'low', width: 320, height: 180, maxBitrateBps: 150_000, maxFramerate: 15 },
    { quality: 'medium', width: 640, height: 360, maxBitrateBps: 500_000, maxFramerate: 20 },
    { quality: 'high', width: 1280, height: 720, maxBitrateBps: 1_500_000, maxFramerate: 30 },
  ],
};

const LISTENER: MediaPermissions = { grant: { canSubscribe: true, canPublish: false, sources: [], canPublishData: false }, publish: {} };

/**
 * `seat` is the member's own seat (null: a listener). `videoPublishersMax` caps cameras: seats
 * 0..N-1 of a video room may publish one, the rest audio only.
 */
export function mediaPermissions(input: {
  room: { type: RoomType; seatCount: number };
  seat: SeatView | null;
  videoPublishersMax: number;
}): MediaPermissions {
  const { room, seat, videoPublishersMax } = input;
  // A locked seat has no occupant (locking one makes its speaker step down); refuse anyway.
  if (!seat || seat.userId === null || seat.locked) return LISTENER;
  const sources: MediaSource[] = [];
  const publish: PublishOptions = {};
  if (!seat.mutedByAdmin) {
    sources.push('microphone');
    publish.audio = djSeatIndex(room) === seat.index ? MUSIC_AUDIO : VOICE_AUDIO;
  }
  // A moderator's mute is a mic mute: a video seat keeps its camera (removing them from the seat takes both).
  if (room.type === 'video' && seat.index < videoPublishersMax) {
    sources.push('camera');
    publish.video = CAMERA_VIDEO;
  }
  return { grant: { canSubscribe: true, canPublish: sources.length > 0, sources, canPublishData: false }, publish };
}

/** The member's own seat in a seat grid, if any. */
export function seatOf(seats: readonly SeatView[], userId: string): SeatView | null {
  return seats.find((s) => s.userId === userId) ?? null;
}

/** Whether two grants allow the same (sources compared as sets). */
export function sameGrant(a: MediaGrant, b: MediaGrant): boolean {
  return (
    a.canSubscribe === b.canSubscribe &&
    a.canPublish === b.canPublish &&
    a.canPublishData === b.canPublishData &&
    a.sources.length === b.sources.length &&
    a.sources.every((s) => b.sources.includes(s))
  );
}
