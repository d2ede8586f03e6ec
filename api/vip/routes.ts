import { createHash } from 'node:crypto';
import Router from '@koa/router';
import { z } from 'zod';
import { VIP_MAX_PERIODS } from '../../domain/vip/membership';
import type { VipService } from '../../services/vip/vip-service';
import type { ApiState } from '../http/context';
import { answerKept, idempotencyKey } from '../http/idempotency-key';
import { noBody, parseInput } from '../http/validate';

const purchaseBody = z
  .object({
    tier: z.number().int().min(1).max(10),
    periods: z.number().int().min(1).max(VIP_MAX_PERIODS).default(1),
  })
  .strict();

/** If-None-Match against our (strong) ETag, by the weak comparison RFC 9110 prescribes for it. */
function notModified(ifNoneMatch: string, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/** VIP: the tiers on sale, the caller's membership, and buying (new, renewal, upgrade). */
export function vipRoutes(deps: { vip: VipService }): Router<ApiState> {
  const router = new Router<ApiState>();

  router.get('/vip/tiers', async (ctx) => {
    parseInput(noBody, ctx.query);
    const json = JSON.stringify({ items: await deps.vip.tiers() });
    const etag = `"${createHash('sha256').update(json).digest('base64url').slice(0, 27)}"`;
    ctx.set('ETag', etag);
    ctx.set('Cache-Control', 'private, max-age=60');
    if (notModified(ctx.get('If-None-Match'), etag)) {
      ctx.status = 304;
      return;
    }
    ctx.type = 'application/json';
    ctx.body = json;
  });

  router.get('/me/vip', async (ctx) => {
    parseInput(noBody, ctx.query);
    ctx.body = await deps.vip.membership(ctx.state.auth!.userId);
  });

  router.post('/me/vip/purchases', async (ctx) => {
    const input = parseInput(purchaseBody, ctx.request.body ?? {});
    const key = idempotencyKey(ctx);
    answerKept(ctx, await deps.vip.purchase({ userId: ctx.state.auth!.userId, tier: input.tier, periods: input.periods, idempotencyKey: key }));
  });

  return router;
}
