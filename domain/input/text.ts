/**
 * The one rule for free text that people type (names, topics, reasons, details, chat, device
 * names). Applied at the edge of the system, so everything stored, cached or broadcast is already
 * in its canonical form.
 *
 * Policy:
 * - Unicode is normalised to NFC, so the same visible text is the same string everywhere.
 * - Refused: lone surrogates (not text, and they break JSON and PostgreSQL), NUL and every other
 *   C0/C1 control character (in multi-line text, line feed and tab are allowed; CR LF and CR become
 *   LF), and invisible formatting that is used to spoof or hide text: bidirectional embeddings,
 *   overrides and isolates (U+202A-U+202E, U+2066-U+2069), zero-width space, word joiner and
 *   invisible operators (U+200B, U+2060-U+2064), the deprecated format characters
 *   (U+206A-U+206F), the byte-order mark (U+FEFF), interlinear annotations (U+FFF9-U+FFFB) and
 *   noncharacters (U+FDD0-U+FDEF and U+xFFFE/U+xFFFF).
 * - Kept: zero-width joiner and non-joiner (U+200D, U+200C: emoji sequences and Persian or Indic
 *   scripts need them) and left-to-right / right-to-left marks (U+200E, U+200F: mixed Arabic and
 *   Latin text needs them; they cannot reorder text the way overrides can).
 * - Leading and trailing white space is trimmed; text that is empty after that counts as empty.
 * Refusing rather than silently stripping means a client learns its input was bad, and nothing
 * stored differs from what the user saw when they sent it (beyond NFC and trimming).
 */

export type TextProblem = 'LONE_SURROGATE' | 'CONTROL_CHARACTER' | 'INVISIBLE_CHARACTER';

const PROBLEM_MESSAGES: Record<TextProblem, string> = {
  LONE_SURROGATE: 'contains an unpaired surrogate (not valid Unicode text)',
  CONTROL_CHARACTER: 'contains a control character',
  INVISIBLE_CHARACTER: 'contains an invisible or direction-override character',
};

export function textProblemMessage(problem: TextProblem): string {
  return PROBLEM_MESSAGES[problem];
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// C0 (minus tab and line feed, which multi-line text may carry), DEL, C1: matching them is the point.
/* eslint-disable no-control-regex */
const CONTROL_MULTILINE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;
const CONTROL_SINGLE_LINE = /[\u0000-\u001F\u007F-\u009F]/;
/* eslint-enable no-control-regex */
const INVISIBLE = /[\u200B\u202A-\u202E\u2060-\u2064\u2066-\u2069\u206A-\u206F\uFEFF\uFFF9-\uFFFB\uFDD0-\uFDEF]|[\uFFFE\uFFFF]|[\uD83F\uD87F\uD8BF\uD8FF\uD93F\uD97F\uD9BF\uD9FF\uDA3F\uDA7F\uDABF\uDAFF\uDB3F\uDB7F\uDBBF\uDBFF][\uDFFE\uDFFF]/;

export type TextResult = { ok: true; value: string } | { ok: false; problem: TextProblem };

/** Checks and canonicalises one piece of typed text by the policy above. */
export function canonicalText(input: string, options: { multiline?: boolean } = {}): TextResult {
  if (LONE_SURROGATE.test(input)) return { ok: false, problem: 'LONE_SURROGATE' };
  const text = options.multiline ? input.replace(/\r\n?/g, '\n') : input;
  if ((options.multiline ? CONTROL_MULTILINE : CONTROL_SINGLE_LINE).test(text)) return { ok: false, problem: 'CONTROL_CHARACTER' };
  if (INVISIBLE.test(text)) return { ok: false, problem: 'INVISIBLE_CHARACTER' };
  return { ok: true, value: text.normalize('NFC').trim() };
}

/** Length as people count it: code points, so one emoji is one character (not two UTF-16 units). */
export function textLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
