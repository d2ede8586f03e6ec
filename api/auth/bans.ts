import type { Middleware } from 'koa';
import type { DataSource } from 'typeorm';
import { AppError, ErrorCode } from '../../domain/errors';
import type { BanList } from '../../platform/auth/ban-list';
import type { Logger } from '../../platform/logging';
import { isRedisUnavailable } from '../../platform/redis';
import type { ApiState } from '../http/context';
import type { Sessions } from './sessions';

/**
 * Refuses requests from a banned IP or device before any work is done. Like the rate limits it
 * fails open while Redis is unreachable (logged; /readyz reports it), so an outage of the ban
 * list does not take down every route.
 */
export function refuseBannedClients(bans: BanList, logger: Logger): Middleware<ApiState> {
  return async (ctx, next) => {
    let banned: string | null = null;
    try {
      banned = await bans.firstBanned([
        ['ip', ctx.ip],
        ['device', ctx.get('X-Device-Id') || undefined],
      ]);
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      logger.warn({ err: (err as Error).message }, 'ban list unavailable; letting the request through');
    }
    if (banned) throw new AppError(ErrorCode.AccountBanned, 'access from this client is suspended', { ban: banned });
    await next();
  };
}

/** Bans an account everywhere: the user row, the ban list, and every live session and socket. */
export async function banAccount(deps: { dataSource: DataSource; bans: BanList; sessions: Sessions }, userId: string, reason: string): Promise<void> {
  await deps.dataSource.query(`UPDATE users SET status = 'banned', updated_at = now() WHERE id = $1`, [userId]);
  await deps.bans.ban('user', userId, reason);
  await deps.sessions.revokeAll(userId, 'banned');
}
