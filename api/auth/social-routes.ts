import Router from '@koa/router';
import type { ProgressEvents } from '../../services/progress';
import type { Middleware } from 'koa';
import { z } from 'zod';
import type { SocialSignIn } from '../../services/auth/social-sign-in';
import type { ApiState } from '../http/context';
import { parseInput } from '../http/validate';
import { deviceFields, deviceIdHeader } from './device-fields';
import { inviteCodeField } from '../referrals/invite-code-field';
import type { ReferralAttribution } from '../../services/referrals/attribution';

const providerParam = z.object({ provider: z.enum(['google', 'apple', 'facebook']) });
const socialBody = z
  .object({
    token: z.string().min(20).max(8192),
    nonce: z.string().min(8).max(256).optional(),
    device: deviceFields,
    // Sign-in only (refused when linking): checked for its form; what it names never fails the sign-in.
    inviteCode: inviteCodeField.optional(),
  })
  .strict();

/** `POST /auth/social/:provider`: Google, Apple or Facebook sign-in (public, rate-limited). */
export function socialSignInRoutes(deps: {
  social: SocialSignIn;
  signInLimit: Middleware<ApiState>;
  progress?: ProgressEvents;
  /** Attributes a new user who signed up with an invite code; without it the code is ignored. */
  referrals?: Pick<ReferralAttribution, 'atSignUp'>;
}): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/auth' });
  router.post('/social/:provider', deps.signInLimit, async (ctx) => {
    const { provider } = parseInput(providerParam, ctx.params);
    const body = parseInput(socialBody, ctx.request.body);
    const signedIn = await deps.social.signIn(provider, body.token, body.nonce, { deviceId: body.device?.id, deviceName: body.device?.name, ip: ctx.ip });
    const referral =
      body.inviteCode !== undefined && deps.referrals
        ? { referral: await deps.referrals.atSignUp(signedIn.user, body.inviteCode, { deviceId: body.device?.id ?? deviceIdHeader(ctx), ip: ctx.ip }) }
        : {};
    deps.progress?.emit({ kind: 'signed-in', userId: signedIn.user.id, at: new Date() });
    ctx.body = { ...signedIn, ...referral };
  });
  return router;
}

/** Linking and unlinking sign-in methods on the signed-in account. */
export function identityRoutes(deps: { social: SocialSignIn }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/me/identities' });

  router.post('/:provider', async (ctx) => {
    const { provider } = parseInput(providerParam, ctx.params);
    const body = parseInput(socialBody.omit({ inviteCode: true }).strict(), ctx.request.body);
    ctx.body = { items: await deps.social.link(ctx.state.auth!.userId, provider, body.token, body.nonce) };
  });

  router.delete('/:provider', async (ctx) => {
    const { provider } = parseInput(z.object({ provider: z.enum(['phone', 'google', 'apple', 'facebook']) }), ctx.params);
    ctx.body = { items: await deps.social.unlink(ctx.state.auth!.userId, provider) };
  });

  return router;
}
