import bodyParser from '@koa/bodyparser';
import Router from '@koa/router';
import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import Koa from 'koa';
import type { DataSource } from 'typeorm';
import type { Config } from '../config';
import { UserDirectory } from '../db/repositories/users';
import { DEFAULT_DAILY_REWARD_POLICY, validatePolicy, type DailyRewardPolicy } from '../domain/daily-reward/cycle';
import type { AccessTokens } from '../platform/auth/access-tokens';
import type { Logger } from '../platform/logging';
import { DailyRewardFlows } from './daily-reward/flow-client';
import { dailyRewardRoutes } from './daily-reward/routes';
import { healthRoutes } from './health/routes';
import { requireAccessToken } from './http/auth';
import type { ApiState } from './http/context';
import { errorResponses } from './http/errors';
import { rateLimit } from './http/rate-limit';
import { requestId } from './http/request-id';

export interface ApiDeps {
  config: Pick<
    Config,
    | 'API_TRUSTED_PROXIES'
    | 'RATE_LIMIT_IP_PER_MINUTE'
    | 'RATE_LIMIT_USER_PER_MINUTE'
    | 'TEMPORAL_TASK_QUEUE'
    | 'DAILY_REWARD_COINS'
    | 'DAILY_REWARD_REMINDER_LEAD_HOURS'
  >;
  dataSource: DataSource;
  redis: Redis;
  temporal: Client;
  tokens: AccessTokens;
  logger: Logger;
}

const MINUTE = 60_000;

/** The HTTP API: thin routes over Postgres, Redis and Temporal, all under /v1. */
export function createApiApp(deps: ApiDeps): Koa<ApiState> {
  const { config, logger } = deps;
  const app = new Koa<ApiState>({ proxy: config.API_TRUSTED_PROXIES > 0, maxIpsCount: config.API_TRUSTED_PROXIES });
  app.silent = true; // errors are logged once, by errorResponses

  const users = new UserDirectory(deps.dataSource);
  const rewardPolicy: DailyRewardPolicy = {
    ...DEFAULT_DAILY_REWARD_POLICY,
    coinsByDay: config.DAILY_REWARD_COINS,
    reminderLeadHours: config.DAILY_REWARD_REMINDER_LEAD_HOURS,
  };
  const policyProblems = validatePolicy(rewardPolicy);
  if (policyProblems.length) throw new Error(`invalid daily-reward configuration: ${policyProblems.join('; ')}`);
  const flows = new DailyRewardFlows(deps.temporal, config.TEMPORAL_TASK_QUEUE, rewardPolicy);

  const publicRoutes = healthRoutes(deps);
  const userRoutes = new Router<ApiState>();
  userRoutes.use(requireAccessToken(deps.tokens));
  userRoutes.use(
    rateLimit({
      redis: deps.redis,
      name: 'user',
      max: config.RATE_LIMIT_USER_PER_MINUTE,
      durationMs: MINUTE,
      key: (ctx) => ctx.state.auth?.userId ?? false,
      logger,
    }),
  );
  userRoutes.use(dailyRewardRoutes({ flows, users, dataSource: deps.dataSource }).routes());

  const v1 = new Router<ApiState>({ prefix: '/v1' });
  v1.use(publicRoutes.routes(), publicRoutes.allowedMethods());
  v1.use(userRoutes.routes(), userRoutes.allowedMethods({ throw: true }));

  app.use(requestId(logger));
  app.use(errorResponses(logger));
  app.use(
    rateLimit({
      redis: deps.redis,
      name: 'ip',
      max: config.RATE_LIMIT_IP_PER_MINUTE,
      durationMs: MINUTE,
      key: (ctx) => (ctx.path === '/v1/healthz' ? false : ctx.ip),
      logger,
    }),
  );
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', encoding: 'utf-8' }));
  app.use(v1.routes());
  app.use(v1.allowedMethods({ throw: true }));
  return app;
}
