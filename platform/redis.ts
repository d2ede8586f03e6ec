import { Command, Redis } from 'ioredis';

/** A command Redis has not answered after this long fails ("Command timed out"). */
export const REDIS_COMMAND_TIMEOUT_MS = 500;
/** A (re)connection attempt that has not completed after this long is dropped and retried. */
const CONNECT_TIMEOUT_MS = 1_000;
/** While Redis is not answering, how often one PING checks whether it is back. */
const PROBE_INTERVAL_MS = 250;

/** Redis did not answer (stalled or unreachable); the command was not sent. */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/**
 * A Redis connection that fails fast when Redis is slow or gone, so a request answers 503 (or
 * a limit counts locally) in well under a second instead of hanging:
 * - down (connection refused or closed): commands fail at once instead of queueing. Commands
 *   issued while it first connects are queued (start-up would race otherwise); once it has been
 *   ready, or its first attempt failed, the offline queue is off. Commands in flight when the
 *   connection drops fail too, rather than being resent later to a caller that has given up.
 * - stalled (the process is paused: the TCP connection stays open and nothing answers): each
 *   command times out after REDIS_COMMAND_TIMEOUT_MS, and the first timeout opens a gate: until
 *   a PING (sent every PROBE_INTERVAL_MS) is answered, commands fail at once with
 *   RedisUnavailableError instead of each waiting out its own timeout.
 * Nothing blocks on this connection (no BLPOP/XREAD BLOCK), so no command legitimately takes
 * 500 ms.
 */
export function createRedis(
  url: string,
  options: { name: string; lazy?: boolean; commandTimeoutMs?: number } = { name: 'aura' },
): Redis {
  const redis = new Redis(url, {
    connectionName: options.name,
    lazyConnect: options.lazy ?? false,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    autoResendUnfulfilledCommands: false,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  const failFast = () => {
    redis.options.enableOfflineQueue = false;
  };
  redis.once('ready', failFast);
  redis.once('error', failFast); // never connected yet, and the first attempt failed: don't queue either

  const timeoutMs = options.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS;
  let stalled = false;
  let probe: NodeJS.Timeout | undefined;
  const send = redis.sendCommand.bind(redis);
  const reopen = () => {
    stalled = false;
    clearTimeout(probe);
    probe = undefined;
  };
  const probeLater = () => {
    probe = setTimeout(() => {
      if (!stalled) return;
      // A connection that is not ready has its own way back (reconnect, then 'ready').
      if (redis.status !== 'ready') return;
      (sendWithTimeout(new Command('ping')) as Promise<unknown>).then(reopen, () => {
        if (stalled) probeLater();
      });
    }, PROBE_INTERVAL_MS);
    probe.unref();
  };
  redis.on('ready', reopen); // a fresh connection answers (or fails fast on its own)
  redis.on('end', reopen);

  /**
   * ioredis's own commandTimeout fires on the timer alone, so an event loop blocked for longer
   * than the timeout (a GC pause, a busy test process) fails commands whose reply already sits
   * in the socket. Deferring the check with setImmediate lets pending I/O be read first.
   */
  function sendWithTimeout(command: Command, stream?: Parameters<Redis['sendCommand']>[1]): Promise<unknown> {
    const result = send(command, stream) as Promise<unknown>;
    // While (re)connecting, commands are bounded by connectTimeout and the retry limit instead.
    if (redis.status !== 'ready') return result;
    let settled = false;
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (settled) return;
          command.reject(new Error('Command timed out'));
          if (!stalled) {
            stalled = true;
            probeLater();
          }
        }),
      timeoutMs,
    );
    timer.unref();
    const done = () => {
      settled = true;
      clearTimeout(timer);
    };
    result.then(done, done);
    return result;
  }

  redis.sendCommand = ((command: Command, stream?: Parameters<Redis['sendCommand']>[1]) => {
    // Only a ready connection is gated: handshake commands (the ready check's INFO) must pass.
    if (stalled && redis.status === 'ready') {
      command.reject(new RedisUnavailableError(`Redis is not answering (${options.name})`));
      return command.promise;
    }
    return sendWithTimeout(command, stream);
  }) as Redis['sendCommand'];
  return redis;
}

/** Whether an error means Redis could not be reached or did not answer (as opposed to a bad command). */
export function isRedisUnavailable(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name ?? '';
  const message = (err as { message?: string } | null)?.message ?? '';
  return (
    /Redis|MaxRetriesPerRequest/i.test(name) ||
    /ECONNREFUSED|ECONNRESET|Connection is closed|max retries|Stream isn't writeable|Command timed out|Redis is not answering/i.test(message)
  );
}
