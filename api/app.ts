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
import { IdentityDirectory } from '../db/repositories/identities';
import { SessionStore } from '../db/repositories/sessions';
import { FacebookTokenVerifier, OidcIdTokenVerifier, SocialTokens } from '../platform/auth/social-tokens';
import { identityRoutes, socialSignInRoutes } from './auth/social-routes';
import { DEFAULT_OTP_POLICY } from '../domain/otp/rules';
import { PhoneSecrets } from '../platform/crypto/phone-secrets';
import { RedisUserEventPublisher } from '../platform/events/publisher';
import { createMetrics, type Metrics } from '../platform/metrics';
import { BanList } from '../platform/auth/ban-list';
import { refuseBannedClients } from './auth/bans';
import { SignInLockouts } from './auth/lockouts';
import { OtpFlows } from './auth/otp-flow-client';
import { authRoutes, sessionRoutes } from './auth/routes';
import { Sessions } from './auth/sessions';
import { DailyRewardFlows } from './daily-reward/flow-client';
import { meRoutes } from './me/routes';
import { roomRoutes } from './rooms/routes';
import { createRoomService } from '../services/rooms';
import { relationRoutes } from './relations/routes';
import { dailyRewardRoutes } from './daily-reward/routes';
import { healthRoutes, liveness } from './health/routes';
import { requireAccessToken } from './http/auth';
import type { ApiState } from './http/context';
import { errorResponses } from './http/errors';
import { rateLimit } from './http/rate-limit';
import { requestId } from './http/request-id';

export interface ApiDeps {
  config: Config;
  dataSource: DataSource;
  redis: Redis;
  temporal: Client;
  tokens: AccessTokens;
  logger: Logger;
  metrics?: Metrics;
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

  const metrics = deps.metrics ?? createMetrics();
  const bans = new BanList(deps.redis);
  const secrets = new PhoneSecrets(config.OTP_SECRET, config.PHONE_ENCRYPTION_KEY);
  const sessions = new Sessions(new SessionStore(deps.dataSource), deps.tokens, deps.redis, new RedisUserEventPublisher(deps.redis), {
    accessTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    refreshTtlDays: config.REFRESH_TOKEN_TTL_DAYS,
    reuseGraceSeconds: config.REFRESH_TOKEN_REUSE_GRACE_SECONDS,
  }, bans);
  const otp = new OtpFlows(
    deps.temporal,
    config.TEMPORAL_TASK_QUEUE,
    { ...DEFAULT_OTP_POLICY, codeTtlMs: config.OTP_CODE_TTL_SECONDS * 1000 },
    secrets,
  );

  const publicRoutes = healthRoutes(deps);
  publicRoutes.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });

  // Sign-in routes get the strictest limits: per IP, and per device for sending codes.
  const signInLimit = rateLimit({
    redis: deps.redis,
    name: 'auth-ip',
    max: config.RATE_LIMIT_AUTH_IP_PER_10_MINUTES,
    durationMs: 10 * MINUTE,
    key: (ctx) => ctx.ip,
    logger,
    whenRedisIsDown: 'closed', // every code sent is a paid SMS
  });
  const signInRoutes = authRoutes({
    otp,
    sessions,
    lockouts: new SignInLockouts(deps.redis),
    secrets,
    metrics,
    allowedCallingCodes: config.OTP_ALLOWED_CALLING_CODES,
    signInLimit,
    otpDeviceLimit: rateLimit({
      redis: deps.redis,
      name: 'otp-device',
      max: config.RATE_LIMIT_OTP_DEVICE_PER_HOUR,
      durationMs: 60 * MINUTE,
      key: (ctx) => (/^[\w.:-]{8,128}$/.test(ctx.get('X-Device-Id')) ? ctx.get('X-Device-Id') : false),
      logger,
      whenRedisIsDown: 'closed',
    }),
  });

  const identities = new IdentityDirectory(deps.dataSource);
  const socialTokens = new SocialTokens(
    new OidcIdTokenVerifier('google', {
      jwksUrl: config.GOOGLE_JWKS_URL,
      issuers: ['https://accounts.google.com', 'accounts.google.com'],
      clientIds: config.GOOGLE_CLIENT_IDS,
    }),
    new OidcIdTokenVerifier('apple', { jwksUrl: config.APPLE_JWKS_URL, issuers: ['https://appleid.apple.com'], clientIds: config.APPLE_CLIENT_IDS }),
    new FacebookTokenVerifier({ graphUrl: config.FACEBOOK_GRAPH_URL, appId: config.FACEBOOK_APP_ID, appSecret: config.FACEBOOK_APP_SECRET }),
  );
  const socialRoutes = socialSignInRoutes({
    tokens: socialTokens,
    identities,
    sessions,
    metrics,
    signInLimit,
  });

  const userRoutes = new Router<ApiState>();
  userRoutes.use(requireAccessToken(deps.tokens, sessions, bans));
  userRoutes.use(
    rateLimit({
      redis: deps.redis,
      name: 'user',
      max: config.RATE_LIMIT_USER_PER_MINUTE,
      durationMs: MINUTE,
      key: (ctx) => ctx.state.auth?.userId ?? false,
      logger,
      whenRedisIsDown: 'local',
    }),
  );
  userRoutes.use(dailyRewardRoutes({ flows, users, dataSource: deps.dataSource }).routes());
  userRoutes.use(sessionRoutes({ sessions }).routes());
  userRoutes.use(meRoutes({ dataSource: deps.dataSource }).routes());
  userRoutes.use(identityRoutes({ tokens: socialTokens, identities, metrics }).routes());
  userRoutes.use(roomRoutes({ rooms: createRoomService(deps).rooms }).routes());
  userRoutes.use(relationRoutes({ dataSource: deps.dataSource }).routes());

  const v1 = new Router<ApiState>({ prefix: '/v1' });
  v1.use(publicRoutes.routes(), publicRoutes.allowedMethods());
  v1.use(signInRoutes.routes(), signInRoutes.allowedMethods({ throw: true }));
  v1.use(socialRoutes.routes(), socialRoutes.allowedMethods({ throw: true }));
  v1.use(userRoutes.routes(), userRoutes.allowedMethods({ throw: true }));

  app.use(liveness()); // first: it must answer while Redis or PostgreSQL does not
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
      whenRedisIsDown: 'local', // per process meanwhile: an outage neither opens the door nor takes routes down
    }),
  );
  app.use(refuseBannedClients(bans, logger));
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', encoding: 'utf-8' }));
  app.use(v1.routes());
  app.use(v1.allowedMethods({ throw: true }));
  return app;
}
