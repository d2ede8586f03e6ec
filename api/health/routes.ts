import Router from '@koa/router';
import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { ErrorCode } from '../../domain/errors';
import type { ApiState } from '../http/context';
import { errorBody } from '../http/errors';

const CHECK_TIMEOUT_MS = 2_000;

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

/** Liveness (the process answers) and readiness (every dependency answers). */
export function healthRoutes(deps: { dataSource: DataSource; redis: Redis; temporal: Client }): Router<ApiState> {
  const router = new Router<ApiState>();

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    const [postgres, redis, temporal] = await Promise.all([
      probe(() => deps.dataSource.query('SELECT 1')),
      probe(() => deps.redis.ping()),
      probe(() => deps.temporal.workflowService.getSystemInfo({})),
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
