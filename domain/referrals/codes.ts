/**
 * Invite codes: what a user shares (in a link, read aloud, typed from a screenshot). Eight
 * characters from an alphabet without look-alikes (no 0/O/D... see below), upper case, so a
 * code typed by hand finds its owner. Pure: the random source is given.
 */

/**
 * 21 characters: digits and letters without 0 O Q D (round), 1 I L (strokes), 2 Z, 5 S, 8 B
 * (each taken for the other), U V (in some fonts). 21^8 ≈ 3.8·10^10 codes: with a million users
 * a guess hits a code about once in 38,000 tries, and each try is recorded and capped per user.
 */
export const INVITE_CODE_ALPHABET = 'ACEFGHJKMNPRTWXY34679';
export const INVITE_CODE_LENGTH = 8;

/** The form users.invite_code holds (its CHECK), whatever length codes had when issued. */
export const STORED_INVITE_CODE = /^[A-Z0-9]{6,12}$/;

/** A new code from `randomIndex(n)` (a CSPRNG's integer in [0, n)). */
export function newInviteCode(randomIndex: (n: number) => number): string {
  let code = '';
  for (let i = 0; i < INVITE_CODE_LENGTH; i++) code += INVITE_CODE_ALPHABET[randomIndex(INVITE_CODE_ALPHABET.length)];
  return code;
}

/**
 * A code as typed or carried by a link (letters, digits, dashes; case-insensitive), in its
 * stored form, or null when no code can have that form. The edge has already refused what is
 * not letters, digits and dashes.
 */
export function normalizeInviteCode(typed: string): string | null {
  const code = typed.replace(/-/g, '').toUpperCase();
  return STORED_INVITE_CODE.test(code) ? code : null;
}

/** The link a user shares: `https://<base>/i/<code>` (the app and the store referrer carry the code). */
export function inviteLink(base: string, code: string): string {
  return `https://${base.replace(/\/+$/, '')}/i/${code}`;
}
