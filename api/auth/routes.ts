import Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { AppError, ErrorCode } from '../../domain/errors';
import type { PhoneSecrets } from '../../platform/crypto/phone-secrets';
import type { Metrics } from '../../platform/metrics';
import type { ApiContext, ApiState } from '../http/context';
import { noBody, parseInput } from '../http/validate';
import { SIGN_IN_LOCKS, type SignInLockouts } from './lockouts';
import type { OtpFlows } from './otp-flow-client';
import { normalizePhone } from './phone';
import type { Sessions } from './sessions';
import { entityId } from '../../domain/input/fields';

const device = z
  .object({ id: z.string().min(8).max(128).optional(), name: z.string().min(1).max(128).optional() })
  .strict()
  .optional();
const otpRequestBody = z.object({ phone: z.string().min(4).max(32) }).strict();
const otpVerifyBody = z.object({ phone: z.string().min(4).max(32), code: z.string().regex(/^\d{6}$/, 'six digits'), device }).strict();
const refreshBody = z.object({ refreshToken: z.string().min(20).max(200) }).strict();

const FAILED_VERIFY = new Set<string>([ErrorCode.OtpInvalidCode, ErrorCode.OtpAttemptsExhausted]);

export interface AuthRouteDeps {
  otp: OtpFlows;
  sessions: Sessions;
  lockouts: SignInLockouts;
  secrets: PhoneSecrets;
  metrics: Metrics;
  allowedCallingCodes: string[];
  /** Applied to every sign-in route (per IP). */
  signInLimit: Middleware<ApiState>;
  /** Applied to code sends (per device). */
  otpDeviceLimit: Middleware<ApiState>;
}

/** Phone OTP sign-in and token refresh: public routes, under the strictest rate limits. */
export function authRoutes(deps: AuthRouteDeps): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/auth' });

  router.post('/otp/request', deps.signInLimit, deps.otpDeviceLimit, async (ctx) => {
    const body = parseInput(otpRequestBody, ctx.request.body);
    const phone = normalizePhone(body.phone, deps.allowedCallingCodes);
    const sent = await deps.otp.request(phone);
    ctx.status = 202;
    ctx.body = {
      codeExpiresAt: new Date(sent.codeExpiresAt).toISOString(),
      resendAvailableAt: new Date(sent.resendAvailableAt).toISOString(),
      attemptsLeft: sent.attemptsLeft,
    };
  });

  router.post('/otp/verify', deps.signInLimit, async (ctx: ApiContext) => {
    const body = parseInput(otpVerifyBody, ctx.request.body);
    const phone = normalizePhone(body.phone, deps.allowedCallingCodes);
    const locks: [typeof SIGN_IN_LOCKS.account, string][] = [
      [SIGN_IN_LOCKS.account, deps.secrets.phoneKey(phone)],
      [SIGN_IN_LOCKS.ip, ctx.ip],
    ];
    await deps.lockouts.assertOpen(locks);
    let verified;
    try {
      verified = await deps.otp.verify(phone, body.code);
    } catch (err) {
      if (err instanceof AppError) {
        deps.metrics.signInFailures.inc({ reason: err.code });
        if (FAILED_VERIFY.has(err.code)) await deps.lockouts.recordFailure(locks);
      }
      throw err;
    }
    const tokens = await deps.sessions.issue(verified.userId, { deviceId: body.device?.id, deviceName: body.device?.name, ip: ctx.ip });
    ctx.body = { ...tokens, user: { id: verified.userId, isNew: verified.isNewUser } };
  });

  router.post('/refresh', deps.signInLimit, async (ctx) => {
    const body = parseInput(refreshBody, ctx.request.body);
    try {
      ctx.body = await deps.sessions.refresh(body.refreshToken);
    } catch (err) {
      if (err instanceof AppError) deps.metrics.signInFailures.inc({ reason: err.code });
      throw err;
    }
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
