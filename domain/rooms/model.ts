import type { PlaylistPolicy } from '../media/playback';

/**
 * The room vocabulary shared by the API, the realtime edge and the live-state scripts.
 * Seat words follow the voice-room vendors (ZEGOCLOUD, Tencent TRTC) that users know.
 */
export const ROOM_TYPES = ['voice', 'video', 'music'] as const;
export type RoomType = (typeof ROOM_TYPES)[number];

/** free: any member takes an open seat; apply: members queue and an admin approves. */
export const SEAT_MODES = ['free', 'apply'] as const;
export type SeatMode = (typeof SEAT_MODES)[number];

export const ROOM_ROLES = ['owner', 'admin', 'member'] as const;
export type RoomRole = (typeof ROOM_ROLES)[number];

export type RoomStatus = 'open' | 'closed';

export const MIN_SEATS = 1;
export const MAX_SEATS = 20;
/** Seat 0 is the host seat: only the owner sits there. */
export const HOST_SEAT = 0;

export const CHAT_MAX_CHARS = 500;
/** A sender may recall their own message for this long. */
export const CHAT_RECALL_WINDOW_MS = 2 * 60_000;

/** One mic seat as every client sees it. */
export interface SeatView {
  index: number;
  userId: string | null;
  /** No one may take a locked seat; an admin unlocks it. */
  locked: boolean;
  /** Muted by an admin: the speaker cannot unmute themselves. */
  mutedByAdmin: boolean;
  /** Muted by the speaker: they may unmute. */
  selfMuted: boolean;
}

/** The room as the API and snapshots describe it (never the password). */
export interface RoomView {
  id: string;
  ownerId: string;
  type: RoomType;
  name: string;
  coverUrl: string | null;
  topic: string | null;
  region: string | null;
  seatCount: number;
  seatMode: SeatMode;
  passwordProtected: boolean;
  /** Who controls the YouTube playlist and playback (domain/media/playback.ts). */
  playlistPolicy: PlaylistPolicy;
  status: RoomStatus;
  createdAt: string;
}
