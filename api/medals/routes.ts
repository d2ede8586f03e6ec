import Router from '@koa/router';
import { z } from 'zod';
import { MAX_DISPLAY_SLOTS, MEDAL_ID_PATTERN } from '../../domain/medals/medals';
import type { MedalService } from '../../services/medals/medal-service';
import type { ApiState } from '../http/context';
import { noBody, parseInput } from '../http/validate';

const displayBody = z
  .object({
    // The slot count is checked against the setting by the service (a clear MEDAL_DISPLAY_TOO_MANY);
    // this bound only keeps absurd bodies out.
    medalIds: z.array(z.string().regex(MEDAL_ID_PATTERN, 'a medal id')).max(MAX_DISPLAY_SLOTS * 2),
  })
  .strict();

/** GET /medals: every medal there is, with its criteria and reward (public reference data). */
export function medalCatalogueRoutes(deps: { medals: MedalService }): Router<ApiState> {
  const router = new Router<ApiState>();
  router.get('/medals', async (ctx) => {
    parseInput(noBody, ctx.query);
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.set('Vary', 'Accept-Language');
    ctx.body = { medals: await deps.medals.catalogue(ctx.get('Accept-Language') || undefined) };
  });
  return router;
}

/** The caller's medals, and the ones their profile shows (slots in order). */
export function myMedalRoutes(deps: { medals: MedalService }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/me/medals' });
  const me = (ctx: { state: ApiState }) => ctx.state.auth!.userId;

  router.get('/', async (ctx) => {
    parseInput(noBody, ctx.query);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await deps.medals.mine(me(ctx), ctx.get('Accept-Language') || undefined);
  });

  router.put('/display', async (ctx) => {
    parseInput(noBody, ctx.query);
    const input = parseInput(displayBody, ctx.request.body ?? {});
    await deps.medals.setDisplay(me(ctx), input.medalIds);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await deps.medals.mine(me(ctx), ctx.get('Accept-Language') || undefined);
  });

  return router;
}
