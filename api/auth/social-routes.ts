import Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import type { IdentityDirectory } from '../../db/repositories/identities';
import { AppError, ErrorCode } from '../../domain/errors';
import { SocialTokenRejected, type SocialProvider, type SocialTokens } from '../../platform/auth/social-tokens';
import type { Metrics } from '../../platform/metrics';
import type { ApiState } from '../http/context';
import { parseInput } from '../http/validate';
import type { Sessions } from './sessions';

const providerParam = z.object({ provider: z.enum(['google', 'apple', 'facebook']) });
const socialBody = z
  .object({
    token: z.string().min(20).max(8192),
    nonce: z.string().min(8).max(256).optional(),
    device: z.object({ id: z.string().min(8).max(128).optional(), name: z.string().min(1).max(128).optional() }).strict().optional(),
  })
  .strict();

async function verified(tokens: SocialTokens, metrics: Metrics, provider: SocialProvider, token: string, nonce?: string) {
  try {
    return await tokens.verify(provider, token, nonce);
  } catch (err) {
    if (!(err instanceof SocialTokenRejected)) throw err;
    metrics.signInFailures.inc({ reason: `SOCIAL_${err.reason.toUpperCase()}` });
    if (err.reason === 'unavailable') {
      throw new AppError(ErrorCode.SocialProviderUnavailable, `${provider} sign-in is not available right now`);
    }
    throw new AppError(ErrorCode.SocialTokenInvalid, `the ${provider} token was not accepted`, { reason: err.reason });
  }
}

/** `POST /auth/social/:provider`: Google, Apple or Facebook sign-in (public, rate-limited). */
export function socialSignInRoutes(deps: {
  tokens: SocialTokens;
  identities: IdentityDirectory;
  sessions: Sessions;
  metrics: Metrics;
  signInLimit: Middleware<ApiState>;
}): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/auth' });
  router.post('/social/:provider', deps.signInLimit, async (ctx) => {
    const { provider } = parseInput(providerParam, ctx.params);
    const body = parseInput(socialBody, ctx.request.body);
    const identity = await verified(deps.tokens, deps.metrics, provider, body.token, body.nonce);
    const user = await deps.identities.findOrCreate({
      provider,
      subject: identity.subject,
      display: identity.email,
      displayName: 'Aura user',
    });
    const session = await deps.sessions.issue(user.userId, { deviceId: body.device?.id, deviceName: body.device?.name, ip: ctx.ip });
    ctx.body = { ...session, user: { id: user.userId, isNew: user.isNewUser } };
  });
  return router;
}

/** Linking and unlinking sign-in methods on the signed-in account. */
export function identityRoutes(deps: { tokens: SocialTokens; identities: IdentityDirectory; metrics: Metrics }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/me/identities' });

  router.post('/:provider', async (ctx) => {
    const { provider } = parseInput(providerParam, ctx.params);
    const body = parseInput(socialBody, ctx.request.body);
    const identity = await verified(deps.tokens, deps.metrics, provider, body.token, body.nonce);
    await deps.identities.link(ctx.state.auth!.userId, { provider, subject: identity.subject, display: identity.email });
    ctx.body = { items: await deps.identities.listForUser(ctx.state.auth!.userId) };
  });

  router.delete('/:provider', async (ctx) => {
    const { provider } = parseInput(z.object({ provider: z.enum(['phone', 'google', 'apple', 'facebook']) }), ctx.params);
    await deps.identities.unlink(ctx.state.auth!.userId, provider);
    ctx.body = { items: await deps.identities.listForUser(ctx.state.auth!.userId) };
  });

  return router;
}
