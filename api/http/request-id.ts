import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import { logContext, type Logger } from '../../platform/logging';
import type { ApiState } from './context';

const HEADER = 'X-Request-Id';
const ACCEPTABLE = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Takes the caller's request id when it looks sane (so a trace crosses services), else makes
 * one; echoes it, and puts it on every log line written while the request runs.
 */
export function requestId(logger: Logger): Middleware<ApiState> {
  return async (ctx, next) => {
    const id = assignRequestId(ctx);
    const started = process.hrtime.bigint();
    await logContext.run({ requestId: id }, async () => {
      try {
        await next();
      } finally {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        const auth = ctx.state.auth;
        logger.info(
          { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10, userId: auth?.userId },
          'request',
        );
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
