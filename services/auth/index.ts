import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { Config } from '../../config';
import { IdentityDirectory } from '../../db/repositories/identities';
import { SessionStore } from '../../db/repositories/sessions';
import { DEFAULT_OTP_POLICY } from '../../domain/otp/rules';
import type { AccessTokens } from '../../platform/auth/access-tokens';
import type { BanList } from '../../platform/auth/ban-list';
import { FacebookTokenVerifier, OidcIdTokenVerifier, SocialTokens } from '../../platform/auth/social-tokens';
import { PhoneSecrets } from '../../platform/crypto/phone-secrets';
import { RedisUserEventPublisher, type UserEventPublisher } from '../../platform/events/publisher';
import type { Metrics } from '../../platform/metrics';
import { SignInLockouts } from './lockouts';
import { OtpFlows } from './otp-flow-client';
import { Sessions } from './sessions';
import { SignInService } from './sign-in';
import { SignInRecords } from './sign-in-records';
import { SocialSignIn } from './social-sign-in';

export interface AuthServiceDeps {
  config: Config;
  dataSource: DataSource;
  redis: Redis;
  temporal: Client;
  tokens: AccessTokens;
  metrics: Metrics;
  bans: BanList;
  /** Where session revocations are announced (sockets close); Redis pub/sub unless the caller wraps it. */
  events?: UserEventPublisher;
}

/** Sign-in (phone and social) and sessions over the real stores, as the API builds them. */
export function createAuthServices(deps: AuthServiceDeps): { sessions: Sessions; signIn: SignInService; social: SocialSignIn } {
  const { config, dataSource, redis, metrics, bans } = deps;
  const secrets = new PhoneSecrets(config.OTP_SECRET, config.PHONE_ENCRYPTION_KEY);
  const sessions = new Sessions(
    new SessionStore(dataSource),
    deps.tokens,
    redis,
    deps.events ?? new RedisUserEventPublisher(redis),
    {
      accessTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
      refreshTtlDays: config.REFRESH_TOKEN_TTL_DAYS,
      reuseGraceSeconds: config.REFRESH_TOKEN_REUSE_GRACE_SECONDS,
    },
    bans,
  );
  const otp = new OtpFlows(deps.temporal, config.TEMPORAL_TASK_QUEUE, { ...DEFAULT_OTP_POLICY, codeTtlMs: config.OTP_CODE_TTL_SECONDS * 1000 }, secrets);
  const signIn = new SignInService({
    otp,
    sessions,
    lockouts: new SignInLockouts(redis),
    secrets,
    metrics,
    allowedCallingCodes: config.OTP_ALLOWED_CALLING_CODES,
  });
  const socialTokens = new SocialTokens(
    new OidcIdTokenVerifier('google', {
      jwksUrl: config.GOOGLE_JWKS_URL,
      issuers: ['https://accounts.google.com', 'accounts.google.com'],
      clientIds: config.GOOGLE_CLIENT_IDS,
    }),
    new OidcIdTokenVerifier('apple', { jwksUrl: config.APPLE_JWKS_URL, issuers: ['https://appleid.apple.com'], clientIds: config.APPLE_CLIENT_IDS }),
    new FacebookTokenVerifier({ graphUrl: config.FACEBOOK_GRAPH_URL, appId: config.FACEBOOK_APP_ID, appSecret: config.FACEBOOK_APP_SECRET }),
  );
  const social = new SocialSignIn({
    tokens: socialTokens,
    identities: new IdentityDirectory(dataSource),
    records: new SignInRecords(dataSource, bans),
    sessions,
    metrics,
  });
  return { sessions, signIn, social };
}
