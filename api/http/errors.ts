import type { Middleware } from 'koa';
import { AppError, ErrorCode } from '../../domain/errors';
import type { Logger } from '../../platform/logging';
import { httpStatusFor } from '../../platform/http/error-status';
import { DEPENDENCY_RETRY_AFTER_SECONDS, isDependencyUnavailable } from '../../platform/dependency-errors';
import type { ApiState } from './context';

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Koa's own HTTP errors (body parser, ctx.throw) by status, mapped to our stable codes. */
function codeForStatus(status: number): ErrorCode {
  if (status === 401) return ErrorCode.Unauthenticated;
  if (status === 403) return ErrorCode.Forbidden;
  if (status === 404) return ErrorCode.NotFound;
  if (status === 405) return ErrorCode.MethodNotAllowed;
  if (status === 501) return ErrorCode.MethodNotImplemented;
  if (status === 415) return ErrorCode.UnsupportedMediaType;
  if (status === 413) return ErrorCode.PayloadTooLarge;
  if (status === 429) return ErrorCode.RateLimited;
  return ErrorCode.ValidationFailed;
}

/** The one place a failure becomes a response: `{"error": {"code", "message", "details"?}}`. */
export function errorResponses(logger: Logger): Middleware<ApiState> {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = errorBody(ErrorCode.NotFound, `no route for ${ctx.method} ${ctx.path}`);
      } else if (ctx.status >= 400 && (ctx.body === undefined || ctx.body === null)) {
        // A router's own refusal (405 with its Allow header, 501) arrives as a bare status.
        const status = ctx.status;
        ctx.body = errorBody(codeForStatus(status), status === 405 ? `${ctx.method} is not allowed on ${ctx.path}` : `${ctx.method} ${ctx.path} refused`);
        ctx.status = status;
      }
    } catch (err) {
      if (err instanceof AppError) {
        const status = httpStatusFor(err.code);
        ctx.status = status;
        ctx.body = errorBody(err.code, err.message, err.details);
        if (status === 503) ctx.set('Retry-After', String(DEPENDENCY_RETRY_AFTER_SECONDS));
        if (status === 429) ctx.set('Retry-After', String(retryAfterSeconds(err.details)));
        if (status >= 500 && status !== 501) logger.warn({ code: err.code, msg: err.message }, 'request failed'); // 501: the client's odd method
        return;
      }
      const status = (err as { status?: number; expose?: boolean }).status;
      if (typeof status === 'number' && ((status >= 400 && status < 500) || status === 501)) {
        ctx.status = status;
        ctx.body = errorBody(codeForStatus(status), (err as Error).message);
        return;
      }
      if (isDependencyUnavailable(err)) {
        // Not our bug and not the client's: say so, and when to come back.
        logger.warn({ err }, 'a dependency is unavailable');
        ctx.status = 503;
        ctx.set('Retry-After', String(DEPENDENCY_RETRY_AFTER_SECONDS));
        ctx.body = errorBody(ErrorCode.DependencyUnavailable, 'a service this request needs is unavailable; retry shortly');
        return;
      }
      logger.error({ err }, 'unhandled error');
      ctx.status = 500;
      ctx.body = errorBody(ErrorCode.Internal, 'something went wrong; the request id identifies it');
    }
  };
}

/** Every 429 says when to come back: the refusal's own wait if it has one, else a second. */
function retryAfterSeconds(details: unknown): number {
  const seconds = (details as { retryAfterSeconds?: unknown } | null | undefined)?.retryAfterSeconds;
  return typeof seconds === 'number' && seconds >= 1 ? Math.ceil(seconds) : 1;
}
