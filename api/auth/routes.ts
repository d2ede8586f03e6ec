import Router from '@koa/router';
import type { ProgressEvents } from '../../services/progress';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { AppError, ErrorCode } from '../../domain/errors';
import type { Sessions } from '../../services/auth/sessions';
import type { SignInService } from '../../services/auth/sign-in';
import type { ApiContext, ApiState } from '../http/context';
import { entityId } from '../../domain/input/fields';
import { noBody, parseInput } from '../http/validate';
import { deviceFields, deviceIdHeader } from './device-fields';
import { inviteCodeField } from '../referrals/invite-code-field';
import type { ReferralAttribution } from '../../services/referrals/attribution';

const otpRequestBody = z.object({ phone: z.string().min(4).max(32) }).strict();
const otpVerifyBody = z
  .object({
    phone: z.string().min(4).max(32),
    code: z.string().regex(/^\d{6}$/, 'six digits'),
    device: deviceFields,
    // Checked for its form with the rest of the body (before the code is spent); what it names never fails the sign-in.
    inviteCode: inviteCodeField.optional(),
  })
  .strict();
const refreshBody = z.object({ refreshToken: z.string().min(20).max(200) }).strict();

export interface AuthRouteDeps {
  signIn: SignInService;
  /** OTP routes, per IP: a coarse backstop sized for shared addresses. */
  signInLimit: Middleware<ApiState>;
  /** Code sends, per device. */
  otpDeviceLimit: Middleware<ApiState>;
  /** Token refresh, per IP: its own bucket, sized for many users behind one address. */
  refreshLimit: Middleware<ApiState>;
  /** Told of every sign-in (status features count active days). */
  progress?: ProgressEvents;
  /** Attributes a new user who signed up with an invite code; without it the code is ignored. */
  referrals?: Pick<ReferralAttribution, 'atSignUp'>;
}

/** Phone OTP sign-in and token refresh: public routes. Each parses, calls the sign-in service and answers. */
export function authRoutes(deps: AuthRouteDeps): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/auth' });

  router.post('/otp/request', deps.signInLimit, deps.otpDeviceLimit, async (ctx) => {
    const body = parseInput(otpRequestBody, ctx.request.body);
    const sent = await deps.signIn.requestCode(body.phone);
    ctx.status = 202;
    ctx.body = {
      codeExpiresAt: new Date(sent.codeExpiresAt).toISOString(),
      resendAvailableAt: new Date(sent.resendAvailableAt).toISOString(),
      attemptsLeft: sent.attemptsLeft,
    };
  });

  router.post('/otp/verify', deps.signInLimit, async (ctx: ApiContext) => {
    const body = parseInput(otpVerifyBody, ctx.request.body);
    const device = body.device ?? {};
    const signedIn = await deps.signIn.verifyCode({
      phone: body.phone,
      code: body.code,
      device,
      ip: ctx.ip,
      lockDeviceId: device.id ?? deviceIdHeader(ctx),
    });
    // Never fails the sign-in: the code's fate is answered beside the tokens.
    const referral =
      body.inviteCode !== undefined && deps.referrals
        ? { referral: await deps.referrals.atSignUp(signedIn.user, body.inviteCode, { deviceId: device.id ?? deviceIdHeader(ctx), ip: ctx.ip }) }
        : {};
    deps.progress?.emit({ kind: 'signed-in', userId: signedIn.user.id, at: new Date() });
    ctx.body = { ...signedIn, ...referral };
  });

  router.post('/refresh', deps.refreshLimit, async (ctx) => {
    const body = parseInput(refreshBody, ctx.request.body);
    ctx.body = await deps.signIn.refresh(body.refreshToken);
  });

  return router;
}

/** Session management for the signed-in user. */
export function sessionRoutes(deps: { sessions: Sessions }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/auth' });

  router.post('/logout', async (ctx) => {
    parseInput(noBody, ctx.request.body ?? {}); // junk in a body is refused, not ignored while acting
    const auth = ctx.state.auth!;
    await deps.sessions.revoke(auth.userId, auth.sessionId, 'logout');
    ctx.status = 204;
  });

  router.post('/logout-all', async (ctx) => {
    parseInput(noBody, ctx.request.body ?? {}); // junk in a body is refused, not ignored while acting
    const revoked = await deps.sessions.revokeAll(ctx.state.auth!.userId, 'logout_all');
    ctx.body = { revoked };
  });

  router.get('/sessions', async (ctx) => {
    const auth = ctx.state.auth!;
    const sessions = await deps.sessions.list(auth.userId);
    ctx.body = { items: sessions.map((s) => ({ ...s, current: s.id === auth.sessionId })), nextCursor: null };
  });

  router.delete('/sessions/:id', async (ctx) => {
    const id = parseInput(z.object({ id: entityId }), ctx.params).id; // canonical: the revocation mark in Redis is keyed by it
    if (!(await deps.sessions.revoke(ctx.state.auth!.userId, id, 'revoked_by_user'))) {
      throw new AppError(ErrorCode.NotFound, 'no such active session');
    }
    ctx.status = 204;
  });

  return router;
}
