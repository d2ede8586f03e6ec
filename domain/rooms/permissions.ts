import type { RoomRole } from './model';

/**
 * Everything an owner or admin may do to a room or to someone in it. Each is authorised on
 * the server by `authorizeRoomAction` and written to the room's moderation audit log.
 */
export const MODERATION_ACTIONS = [
  'kick',
  'ban',
  'unban',
  'chat-mute',
  'chat-unmute',
  'mute-all',
  'unmute-all',
  'delete-message',
  'seat-lock',
  'seat-unlock',
  'seat-mute',
  'seat-unmute',
  'seat-remove',
  'seat-invite',
  'seat-approve',
  'seat-reject',
  'grant-admin',
  'revoke-admin',
  'update-room',
  'close-room',
  // Audited only: taking someone else's item off a room's playlist (who may is domain/media/playback.ts's rule).
  'playlist-remove',
] as const;
export type ModerationAction = (typeof MODERATION_ACTIONS)[number];

/** Actions only the owner may take: they change who runs the room, or end it. */
const OWNER_ONLY: ReadonlySet<ModerationAction> = new Set(['grant-admin', 'revoke-admin', 'close-room']);

/** Actions aimed at a person (as opposed to the room or a seat). */
const TARGETS_A_USER: ReadonlySet<ModerationAction> = new Set([
  'kick',
  'ban',
  'unban',
  'chat-mute',
  'chat-unmute',
  'delete-message',
  'seat-mute',
  'seat-unmute',
  'seat-remove',
  'seat-invite',
  'seat-approve',
  'seat-reject',
  'grant-admin',
  'revoke-admin',
]);

export type Refusal = 'MODERATOR_REQUIRED' | 'OWNER_REQUIRED' | 'TARGET_PROTECTED' | 'CANNOT_TARGET_SELF';

/**
 * Who may moderate whom. Owner and admins moderate; members don't. Admins never act on the
 * owner or on other admins (only the owner manages admins), and nobody moderates themselves.
 * Inviting, approving and rejecting are friendly, so they may target an admin.
 * Returns null when allowed, otherwise why not.
 */
export function authorizeRoomAction(
  action: ModerationAction,
  actor: RoomRole,
  target?: { role: RoomRole; self: boolean },
): Refusal | null {
  if (actor === 'member') return 'MODERATOR_REQUIRED';
  if (OWNER_ONLY.has(action) && actor !== 'owner') return 'OWNER_REQUIRED';
  if (!target || !TARGETS_A_USER.has(action)) return null;
  if (target.self) return 'CANNOT_TARGET_SELF';
  if (target.role === 'owner') return 'TARGET_PROTECTED';
  const friendly = action === 'seat-invite' || action === 'seat-approve' || action === 'seat-reject';
  if (target.role === 'admin' && actor === 'admin' && !friendly) return 'TARGET_PROTECTED';
  return null;
}
