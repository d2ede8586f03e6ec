import Router from '@koa/router';
import { z } from 'zod';
import { entityId } from '../../domain/input/fields';
import type { BadgeReader } from '../../services/profiles/cached-badges';
import type { ProfileService } from '../../services/profiles/profile-service';
import type { ApiState } from '../http/context';
import { pageQuery } from '../http/paging';
import { parseInput } from '../http/validate';

const userParam = z.object({ id: entityId }).strict();

/** Most users one badges request may name: a screenful of seats, chat lines or members. */
export const BADGE_IDS_MAX = 50;

/** `?ids=a,b,c`: distinct user ids, read once into their canonical (lower-case) form. */
const badgeQuery = z
  .object({
    ids: z
      .string()
      .transform((text) => text.split(','))
      .pipe(z.array(entityId).min(1).max(BADGE_IDS_MAX, `at most ${BADGE_IDS_MAX} ids`))
      .transform((ids) => [...new Set(ids)]),
  })
  .strict();

/**
 * Other users as the signed-in user may see them: the public profile and who follows whom,
 * newest first. 404 USER_NOT_FOUND for a user that doesn't exist or that either blocked.
 */
export function profileRoutes(deps: { profiles: ProfileService; badges: BadgeReader }): Router<ApiState> {
  const router = new Router<ApiState>();
  const me = (ctx: { state: ApiState }) => ctx.state.auth!.userId;

  // Badges of users a room shows after its snapshot (a seat.taken, a member.joined, a new chat
  // sender): the same values, through the same cache, as the snapshot's `users` map. Before
  // /users/:id, which would read "badges" as an id.
  router.get('/users/badges', async (ctx) => {
    const { ids } = parseInput(badgeQuery, ctx.query);
    ctx.body = { users: await deps.badges.badgesOf(ids) };
  });

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
