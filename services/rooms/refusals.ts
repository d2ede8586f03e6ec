import { AppError, ErrorCode } from '../../domain/errors';
import type { Refusal } from '../../domain/rooms/permissions';
import { LiveStateRefusal } from '../../db/live/room-live-state';

const MESSAGES: Record<string, string> = {
  ROOM_CLOSED: 'this room has closed',
  ROOM_KICK_COOLDOWN: 'you were removed from this room recently; try again later',
  NOT_IN_ROOM: 'join the room first',
  SEAT_NOT_FOUND: 'no such seat in this room',
  SEAT_TAKEN: 'someone is already on that seat',
  SEAT_CHANGED: 'someone else is on that seat now: look again',
  ROOM_BANNED: 'you are banned from this room',
  SEAT_LOCKED: 'that seat is locked',
  SEAT_HOST_ONLY: 'the host seat is kept for the room owner',
  SEAT_APPLY_REQUIRED: 'this room uses seat applications: apply for a seat',
  ALREADY_SEATED: 'you already have a seat; move instead',
  NOT_SEATED: 'not on a seat',
  SEAT_MUTED_BY_ADMIN: 'a moderator muted this seat',
  NO_FREE_SEAT: 'no seat is free',
  INVITATION_NOT_FOUND: 'no pending seat invitation (it may have expired)',
  APPLICATION_NOT_FOUND: 'no pending seat application',
  CHAT_MUTED: 'chat is muted for you in this room',
  RATE_LIMITED: 'sending too fast',
  NOT_A_MUSIC_ROOM: 'only music rooms have a now-playing line',
  DJ_SEAT_REQUIRED: 'only whoever is on the DJ seat (or the owner or an admin) sets the now-playing line',
};

/** Turns a live-state refusal into the services' error (same stable code). */
export function asAppError(err: unknown): unknown {
  if (!(err instanceof LiveStateRefusal)) return err;
  if (!(err.code in MESSAGES) && err.code !== 'VALIDATION_FAILED') return new Error(`unexpected live-state refusal ${err.code}`);
  const message = typeof err.details.message === 'string' ? err.details.message : (MESSAGES[err.code] ?? err.code);
  return new AppError(err.code as ErrorCode, message, Object.keys(err.details).length ? err.details : undefined);
}

export async function liveCall<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw asAppError(err);
  }
}

const REFUSALS: Record<Refusal, [ErrorCode, string]> = {
  MODERATOR_REQUIRED: [ErrorCode.ModeratorRequired, 'only the owner and admins may do this'],
  OWNER_REQUIRED: [ErrorCode.OwnerRequired, 'only the room owner may do this'],
  TARGET_PROTECTED: [ErrorCode.TargetProtected, 'admins cannot act on the owner or on other admins'],
  CANNOT_TARGET_SELF: [ErrorCode.CannotTargetSelf, 'moderators cannot act on themselves'],
};

export function refusalError(refusal: Refusal): AppError {
  const [code, message] = REFUSALS[refusal];
  return new AppError(code, message);
}
