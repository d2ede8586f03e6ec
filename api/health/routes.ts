import Router from '@koa/router';
import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type { Middleware } from 'koa';
import type { DataSource } from 'typeorm';
import { ErrorCode } from '../../domain/errors';
import type { ApiState } from '../http/context';
import { errorBody } from '../http/errors';
import { assignRequestId } from '../http/request-id';

/** Each readiness check gets this long; they run in parallel, so /readyz answers within it. */
const CHECK_TIMEOUT_MS = 1_000;
export const LIVENESS_PATH = '/v1/healthz';

async function probe(check: () => Promise<unknown>): Promise<'ok' | string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return (err as Error).message || 'failed';
  } finally {
    clearTimeout(timer);
  }
}

const LIVE = JSON.stringify({ status: 'ok' });

/**
 * Liveness, answered ahead of every middleware that may wait on a dependency (rate limits and
 * the ban list read Redis): the process answering is all it says, so a stalled Redis or
 * PostgreSQL never makes an orchestrator restart a healthy API. Not logged per request (probes
 * come every few seconds from every orchestrator).
 */
export function liveness(): Middleware<ApiState> {
  return async (ctx, next) => {
    if (ctx.path !== LIVENESS_PATH || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    assignRequestId(ctx);
    ctx.type = 'application/json';
    ctx.body = LIVE;
  };
}

/** Liveness (the process answers) and readiness (every dependency answers). */
export function healthRoutes(deps: { dataSource: DataSource; redis: Redis; temporal: Client }): Router<ApiState> {
  const router = new Router<ApiState>();

  // Reached only by methods liveness() leaves alone, for their 405.
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    const [postgres, redis, temporal] = await Promise.all([
      probe(() => deps.dataSource.query('SELECT 1')),
      probe(() => deps.redis.ping()),
      probe(() => deps.temporal.connection.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () => deps.temporal.workflowService.getSystemInfo({}))),
    ]);
    const checks = { postgres, redis, temporal };
    if (Object.values(checks).every((c) => c === 'ok')) {
      ctx.body = { status: 'ready', checks };
    } else {
      ctx.status = 503;
      ctx.body = errorBody(ErrorCode.DependencyUnavailable, 'a dependency is not reachable', checks);
    }
  });

  return router;
}
