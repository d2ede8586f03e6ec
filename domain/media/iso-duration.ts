/**
 * ISO 8601 durations as YouTube's Data API writes a video's length (contentDetails.duration):
 * `PT3M33S`, `PT1H2M3S`, `P1DT2H`, `P0D` (a live or upcoming broadcast), weeks (`P1W`) for very
 * long streams. Years and months are refused: their length depends on a calendar, and YouTube
 * never sends them for a video.
 */
const DURATION = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** Milliseconds in the duration, or null when it is not one this parser reads. */
export function isoDurationMs(text: string): number | null {
  const m = DURATION.exec(text);
  // "P" and "PT" match the pattern with nothing in them; a "T" needs at least one time part.
  if (!m || text === 'P' || text.endsWith('T')) return null;
  const [weeks, days, hours, minutes, seconds] = m.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
  const ms = Math.round(((((weeks! * 7 + days!) * 24 + hours!) * 60 + minutes!) * 60 + seconds!) * 1000);
  return Number.isSafeInteger(ms) ? ms : null;
}
