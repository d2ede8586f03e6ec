import Router from '@koa/router';
import type { Client } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
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

/**
 * A poller last seen longer ago than this is gone: a live worker's long polls last about a
 * minute and it polls again at once, while the server remembers a poller for five minutes.
 */
const POLLER_FRESH_MS = 2 * 60_000;

/**
 * Whether a worker polls the workflow task queue: without one, every flow this API starts
 * would wait unanswered (the server accepts the start and nothing runs it).
 */
async function workerPolls(temporal: Client, taskQueue: string): Promise<void> {
  const { pollers } = await temporal.workflowService.describeTaskQueue({
    namespace: temporal.options.namespace,
    taskQueue: { name: taskQueue, kind: proto.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: proto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  const now = Date.now();
  const fresh = (pollers ?? []).filter((p) => {
    const seconds = p.lastAccessTime?.seconds;
    return seconds !== undefined && seconds !== null && now - Number(seconds) * 1000 < POLLER_FRESH_MS;
  });
  if (fresh.length === 0) throw new Error(`no worker polls task queue ${taskQueue}`);
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

/** Liveness (the process answers) and readiness (every dependency answers, and a worker polls). */
export function healthRoutes(deps: {
  dataSource: DataSource;
  redis: Redis;
  temporal: Client;
  config: { TEMPORAL_TASK_QUEUE: string };
}): Router<ApiState> {
  const router = new Router<ApiState>();

  // Reached only by methods liveness() leaves alone, for their 405.
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    const [postgres, redis, temporal, worker] = await Promise.all([
      probe(() => deps.dataSource.query('SELECT 1')),
      probe(() => deps.redis.ping()),
      probe(() => deps.temporal.connection.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () => deps.temporal.workflowService.getSystemInfo({}))),
      probe(() => deps.temporal.connection.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () => workerPolls(deps.temporal, deps.config.TEMPORAL_TASK_QUEUE))),
    ]);
    const checks = { postgres, redis, temporal, worker };
    if (Object.values(checks).every((c) => c === 'ok')) {
      ctx.body = { status: 'ready', checks };
    } else {
      ctx.status = 503;
      ctx.body = errorBody(ErrorCode.DependencyUnavailable, 'a dependency is not reachable', checks);
    }
  });

  return router;
}
