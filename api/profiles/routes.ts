import Router from '@koa/router';
import { z } from 'zod';
import { entityId } from '../../domain/input/fields';
import type { ProfileService } from '../../services/profiles/profile-service';
import type { ApiState } from '../http/context';
import { pageQuery } from '../http/paging';
import { parseInput } from '../http/validate';

const userParam = z.object({ id: entityId }).strict();

/**
 * Other users as the signed-in user may see them: the public profile and who follows whom,
 * newest first. 404 USER_NOT_FOUND for a user that doesn't exist or that either blocked.
 */
export function profileRoutes(deps: { profiles: ProfileService }): Router<ApiState> {
  const router = new Router<ApiState>();
  const me = (ctx: { state: ApiState }) => ctx.state.auth!.userId;

  router.get('/users/:id', async (ctx) => {
    const { id } = parseInput(userParam, ctx.params);
    ctx.body = await deps.profiles.view(me(ctx), id, ctx.get('accept-language') || undefined);
  });

  router.get('/users/:id/followers', async (ctx) => {
    const { id } = parseInput(userParam, ctx.params);
    ctx.body = await deps.profiles.followers(me(ctx), id, parseInput(pageQuery, ctx.query));
  });

  router.get('/users/:id/following', async (ctx) => {
    const { id } = parseInput(userParam, ctx.params);
    ctx.body = await deps.profiles.following(me(ctx), id, parseInput(pageQuery, ctx.query));
  });

  return router;
}
