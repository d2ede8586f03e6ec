import { isRedisUnavailable } from './redis';

/**
 * Retry-After on 503 DEPENDENCY_UNAVAILABLE (and retryAfterMs on the socket): a stalled Redis is noticed in 0.5 s and probed
 * every 0.25 s, a dead one reconnects within 2 s, so a client may come back soon; 2 s keeps an
 * outage's retries from arriving all at once.
 */
export const DEPENDENCY_RETRY_AFTER_SECONDS = 2;

/** PostgreSQL unreachable, shutting down or not answering in time (as opposed to a bad query). */
export function isDatabaseUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  const message = (err as { message?: unknown } | null)?.message;
  // 57P01-03: admin shutdown, crash shutdown, cannot connect now; 08xxx: connection exceptions;
  // 57014: statement_timeout (the database did not answer in time, not a bad query).
  if (typeof code === 'string' && (/^08/.test(code) || /^57P0[123]$/.test(code) || code === '57014' || code === 'ECONNREFUSED')) return true;
  return (
    typeof message === 'string' &&
    /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Query read timeout/i.test(message)
  );
}

/** A failure of Redis or PostgreSQL rather than of the request: the client should retry. */
export function isDependencyUnavailable(err: unknown): boolean {
  return isRedisUnavailable(err) || isDatabaseUnavailable(err);
}
