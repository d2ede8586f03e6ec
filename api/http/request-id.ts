import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import { accessLoggerFor, logContext, maskFreeText, type Logger } from '../../platform/logging';
import type { ApiState } from './context';

const HEADER = 'X-Request-Id';
const ACCEPTABLE = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Takes the caller's request id when it looks sane (so a trace crosses services), else makes
 * one; echoes it, and puts it on every log line written while the request runs.
 */
export function requestId(logger: Logger): Middleware<ApiState> {
  const access = accessLoggerFor(logger);
  return async (ctx, next) => {
    const id = assignRequestId(ctx);
    const started = process.hrtime.bigint();
    await logContext.run({ requestId: id }, async () => {
      try {
        await next();
      } finally {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        const auth = ctx.state.auth;
        // The route's template when one matched (no client text in it, so the line skips the
        // redaction pass); otherwise the client's path, masked like any free text.
        const route = (ctx as { _matchedRoute?: unknown })._matchedRoute;
        const path = typeof route === 'string' ? route : maskFreeText(ctx.path);
        access.info({ method: ctx.method, path, status: ctx.status, ms: Math.round(ms * 10) / 10, userId: auth?.userId }, 'request');
      }
    });
  };
}

/** The request's id (the caller's if sane, else a new one), on ctx.state and the response. */
export function assignRequestId(ctx: Parameters<Middleware<ApiState>>[0]): string {
  const incoming = ctx.get(HEADER);
  const id = ACCEPTABLE.test(incoming) ? incoming : randomUUID();
  ctx.state.requestId = id;
  ctx.set(HEADER, id);
  return id;
}
