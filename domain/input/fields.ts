import { z } from 'zod';
import { MEDIA_KEY_PATTERN } from '../media/assets';
import { canonicalText, textLength, textProblemMessage } from './text';

/**
 * Field schemas shared by every edge (HTTP routes, socket commands): each id, text and date is
 * parsed once, into one canonical form, so PostgreSQL and Redis always mean the same thing.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An entity id (user, room, session): a UUID in any letter case, canonicalised to lower case.
 * PostgreSQL compares uuids case-blind but Redis keys are plain strings, so an upper-case id
 * left as sent would name the same room in one and another room in the other.
 */
export const entityId = z
  .string()
  .regex(UUID, 'a UUID')
  .transform((id) => id.toLowerCase());

/** Typed text by the one text rule (domain/input/text.ts), with a length in characters. */
export function typedText(options: { min?: number; max: number; multiline?: boolean }) {
  const min = options.min ?? 0;
  return z
    .string()
    .max(options.max * 2) // cheap bound before scanning: a character is at most two UTF-16 units
    .transform((raw, ctx) => {
      const checked = canonicalText(raw, { multiline: options.multiline });
      if (!checked.ok) {
        ctx.addIssue({ code: 'custom', message: textProblemMessage(checked.problem), params: { textProblem: checked.problem } });
        return z.NEVER;
      }
      const length = textLength(checked.value);
      if (length < min) {
        ctx.addIssue({ code: 'custom', message: min === 1 ? 'must not be empty' : `at least ${min} characters` });
        return z.NEVER;
      }
      if (length > options.max) {
        ctx.addIssue({ code: 'custom', message: `at most ${options.max} characters` });
        return z.NEVER;
      }
      return checked.value;
    });
}

/**
 * A calendar date `YYYY-MM-DD` that exists (no 2023-02-30, no month 13), between 1900 and 2100.
 */
export const calendarDate = z.string().refine((s) => {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1900 || y > 2100) return false;
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}, 'a real calendar date YYYY-MM-DD');

/** An instant in ISO 8601 with a zone (`...Z` or `+05:30`) that is a real moment. */
export const isoInstant = z.string().refine((s) => {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return false;
  if (!calendarDate.safeParse(`${m[1]}-${m[2]}-${m[3]}`).success) return false;
  return Number(m[4]) < 24 && Number(m[5]) < 60 && Number(m[6]) < 60 && Number.isFinite(Date.parse(s));
}, 'an ISO 8601 instant with a zone');

/**
 * A room password (a secret people type): 4 to 32 characters by the text rule (so no control,
 * invisible or override characters, and NFC, so the same password typed on two phones is the
 * same string) and no white space anywhere (a space at either end would be trimmed away unseen).
 * It is only ever hashed, never shown, so any other script is fine.
 */
export const roomPassword = z
  .string()
  .max(64)
  .regex(/^\S*$/u, 'no spaces')
  .pipe(typedText({ min: 4, max: 32 }));

/** An https URL of printable ASCII (no spaces or controls for the URL parser to fix up silently). */
export const httpsUrl = z
  .string()
  .max(512)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
  .pipe(z.url({ protocol: /^https$/ }));

/** A chat message id: a positive bigint in its canonical decimal form (no sign, no leading zero). */
export const messageId = z.string().regex(/^[1-9]\d{0,17}$/, 'a message id');

/**
 * A whole number from a query string or path, digits only: no sign, exponent, fraction, hex,
 * spaces or leading zeros (`Number()` would read "", " ", "1e2" and "0x10" as numbers).
 */
export function digitsInt(min: number, max: number) {
  return z
    .string()
    .regex(/^(0|[1-9]\d{0,8})$/, 'a whole number written in digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

/**
 * The key of an uploaded media file, exactly as POST /v1/media/uploads handed it out
 * (`<kind>/<owner id>/<upload id>.<ext>`): never a URL, never a path the client chose.
 */
export const mediaKey = z
  .string()
  .max(200)
  .regex(MEDIA_KEY_PATTERN, 'an uploaded media key such as "avatar/<uuid>/<uuid>.png" (upload the file first; URLs are not accepted)');
