/**
 * Who may be attributed to whom. A new user who signs up with a code is attributed to its owner
 * once, never to themselves, and not when their device or network already belongs to the
 * referrer or to another referred account. Every refusal is recorded with its exact reason;
 * the client is told a coarser one (the fraud rules are not spelled out to the fraudster).
 */
export const REFUSAL_REASONS = [
  'unknown_code',
  'self',
  'not_new_user',
  'already_attributed',
  'same_device',
  'same_network',
  'too_many_attempts',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export type PublicRefusalReason = Exclude<RefusalReason, 'same_device' | 'same_network'> | 'ineligible';

export function publicReason(reason: RefusalReason): PublicRefusalReason {
  return reason === 'same_device' || reason === 'same_network' ? 'ineligible' : reason;
}

/** How the code arrived: in the sign-up itself, or later from the store's install referrer. */
export type AttributionVia = 'sign-up' | 'later';

export type AttributionResult =
  | { status: 'attributed'; referrerId: string }
  | { status: 'refused'; reason: PublicRefusalReason }
  /** Sign-in answered anyway; the app may send the code again (POST /v1/me/referral/attribution). */
  | { status: 'unavailable' };

/** Refused attempts a user may make before further codes are refused without a look. */
export const MAX_REFUSED_ATTEMPTS = 5;
