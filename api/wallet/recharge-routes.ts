import Router from '@koa/router';
import { z } from 'zod';
import { PRODUCT_ID_PATTERN, PURCHASE_TOKEN_PATTERN } from '../../domain/economy/recharge';
import { entityId } from '../../domain/input/fields';
import type { RechargeService, RechargeView } from '../../services/recharge/recharge-service';
import type { ApiContext, ApiState } from '../http/context';
import { noBody, parseInput } from '../http/validate';

const googlePlayBody = z
  .object({
    productId: z.string().regex(PRODUCT_ID_PATTERN, 'a product id'),
    purchaseToken: z.string().regex(PURCHASE_TOKEN_PATTERN, 'a Google Play purchase token'),
  })
  .strict();
const packagesQuery = z.object({ region: z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 code such as "IN"').optional() }).strict();
const rechargeParams = z.object({ id: entityId }).strict();

/** Coin packages and store recharges of the signed-in user. */
export function rechargeRoutes(deps: { recharges: RechargeService }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/wallet' });
  const me = (ctx: { state: ApiState }) => ctx.state.auth!.userId;

  router.get('/packages', async (ctx) => {
    const query = parseInput(packagesQuery, ctx.query);
    ctx.body = { items: await deps.recharges.packages(query.region ?? null) };
  });

  router.post('/recharges/google-play', async (ctx) => {
    parseInput(noBody, ctx.query);
    const input = parseInput(googlePlayBody, ctx.request.body ?? {});
    answer(ctx, await deps.recharges.rechargeGooglePlay(me(ctx), input.productId, input.purchaseToken));
  });

  router.get('/recharges/:id', async (ctx) => {
    parseInput(noBody, ctx.query);
    const { id } = parseInput(rechargeParams, ctx.params);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await deps.recharges.get(me(ctx), id);
  });

  return router;
}

/** 200 once decided; 202 with where to look while the store has not answered. */
function answer(ctx: ApiContext, view: RechargeView): void {
  ctx.set('Cache-Control', 'no-store');
  if (view.status === 'pending') {
    ctx.status = 202;
    ctx.set('Location', `/v1/wallet/recharges/${view.rechargeId}`);
  }
  ctx.body = view;
}
