import type { Middleware } from 'koa';
import { AppError, ErrorCode } from '../../domain/errors';
import type { BanChecks } from '../../platform/auth/ban-list';
import type { ApiState } from '../http/context';

/**
 * Refuses requests from a banned IP or device before any work is done. The check is answered
 * in memory while the process's copy of the ban list is fresh; otherwise it asks Redis, and if
 * that fails the request fails too (503): an outage never lets a banned client through.
 * Liveness and readiness probes are exempt: they serve no one's data and must answer during
 * an outage. Banning and lifting are services/bans.
 */
export function refuseBannedClients(bans: BanChecks, options: { except?: string[] } = {}): Middleware<ApiState> {
  const except = new Set(options.except ?? []);
  return async (ctx, next) => {
    if (except.has(ctx.path)) return next();
    const banned = await bans.firstBanned([
      ['ip', ctx.ip],
      ['device', ctx.get('X-Device-Id') || undefined],
    ]);
    if (banned) throw new AppError(ErrorCode.AccountBanned, 'access from this client is suspended', { ban: banned });
    await next();
  };
}
