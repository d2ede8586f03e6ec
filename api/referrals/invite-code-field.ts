import { z } from 'zod';

/**
 * An invite code as a client sends it (from a link, the store referrer, or typed): letters,
 * digits and dashes, case-insensitive. Anything else is a malformed request (400); a well-formed
 * code that names nobody is not an error at sign-in: it is refused beside the tokens.
 */
export const inviteCodeField = z.string().regex(/^[A-Za-z0-9-]{1,32}$/, 'an invite code: letters, digits and dashes');
