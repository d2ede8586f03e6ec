import Router from '@koa/router';
import { z } from 'zod';
import { RANKING_TOP_MAX } from '../../domain/economy/rankings';
import { digitsInt, entityId } from '../../domain/input/fields';
import type { RankingPages } from '../../services/rankings/ranking-pages';
import type { ApiState } from '../http/context';
import { parseInput } from '../http/validate';

// `at` is checked for its form here (a short ASCII id) and for what it names by the period rules.
const at = z.string().min(7).max(10).regex(/^[0-9W-]+$/, 'a period id such as 2026-03-05, 2026-W10 or 2026-03').optional();
const limit = digitsInt(1, RANKING_TOP_MAX).default(RANKING_TOP_MAX);
const userBoardQuery = z.object({ period: z.enum(['daily', 'weekly', 'monthly']).default('daily'), at, limit }).strict();
const roomBoardQuery = z.object({ period: z.enum(['daily', 'weekly']).default('daily'), at, limit }).strict();
const roomParams = z.object({ id: entityId }).strict();

/**
 * Gift rankings: wealth (coins spent on gifts) and charm (diamonds received) per UTC day, ISO
 * week or month, and each room's contribution board per day or week. `at` names a past period
 * that is still kept; without it, the current one.
 */
export function rankingRoutes(deps: { pages: RankingPages }): Router<ApiState> {
  const router = new Router<ApiState>();
  const me = (ctx: { state: ApiState }) => ctx.state.auth!.userId;

  router.get('/rankings/wealth', async (ctx) => {
    ctx.body = await deps.pages.page({ kind: 'wealth' }, parseInput(userBoardQuery, ctx.query), me(ctx));
  });

  router.get('/rankings/charm', async (ctx) => {
    ctx.body = await deps.pages.page({ kind: 'charm' }, parseInput(userBoardQuery, ctx.query), me(ctx));
  });

  router.get('/rooms/:id/rankings/contribution', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    ctx.body = await deps.pages.page({ kind: 'room', roomId: id }, parseInput(roomBoardQuery, ctx.query), me(ctx));
  });

  return router;
}
