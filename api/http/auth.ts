import type { Middleware } from 'koa';
import { AppError, ErrorCode } from '../../domain/errors';
import { AccessTokenError, type AccessTokens } from '../../platform/auth/access-tokens';
import type { BanChecks } from '../../platform/auth/ban-list';
import type { SessionChecks } from '../../platform/auth/revoked-sessions';
import { logContext } from '../../platform/logging';
import type { ApiState } from './context';

/**
 * Requires `Authorization: Bearer <access JWT>`; the verified claims land in ctx.state.auth.
 * The session and ban checks are answered from the process's in-memory copies while they are
 * fresh (no round trip), else asked of Redis/PostgreSQL (see platform/auth/access-cache.ts).
 */
export function requireAccessToken(tokens: AccessTokens, sessions: SessionChecks, bans: BanChecks): Middleware<ApiState> {
  return async (ctx, next) => {
    const header = ctx.get('Authorization');
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header);
    if (!match?.[1]) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new AppError(ErrorCode.Unauthenticated, 'an access token is required');
    }
    try {
      ctx.state.auth = await tokens.verify(match[1]);
    } catch (err) {
      if (!(err instanceof AccessTokenError)) throw err;
      ctx.set('WWW-Authenticate', `Bearer error="invalid_token"`);
      throw new AppError(ErrorCode.Unauthenticated, err.message, { reason: err.reason });
    }
    if (await sessions.isRevoked(ctx.state.auth.sessionId)) {
      ctx.set('WWW-Authenticate', `Bearer error="invalid_token"`);
      throw new AppError(ErrorCode.SessionRevoked, 'this session was signed out');
    }
    if (await bans.firstBanned([['user', ctx.state.auth.userId]])) {
      throw new AppError(ErrorCode.AccountBanned, 'this account is suspended');
    }
    const store = logContext.getStore();
    if (store) store.userId = ctx.state.auth.userId;
    await next();
  };
}
