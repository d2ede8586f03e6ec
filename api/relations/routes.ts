import Router from '@koa/router';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { Relations } from '../../db/repositories/relations';
import { entityId } from '../../domain/input/fields';
import type { ApiState } from '../http/context';
import { pageQuery } from '../http/paging';
import { noBody, parseInput } from '../http/validate';

const userParam = z.object({ id: entityId }).strict();

/**
 * Follow and block other users, and list whom the signed-in user follows or blocked.
 * Every change is idempotent: repeating it (or undoing what isn't there) still answers 204.
 */
export function relationRoutes(deps: {
  dataSource: DataSource;
  /** Told of each new follow after it commits (the followee's `follow` notification). */
  follows?: { followed(followerId: string, followeeId: string): Promise<void> };
}): Router<ApiState> {
  const router = new Router<ApiState>();
  const relations = new Relations(deps.dataSource);

  router.put('/users/:id/follow', async (ctx) => {
    const { id } = parseInput(userParam, ctx.params);
    parseInput(noBody, ctx.request.body ?? {});
    const followerId = ctx.state.auth!.userId;
    if (await relations.follow(followerId, id)) await deps.follows?.followed(followerId, id);
    ctx.status = 204;
  });

  router.delete('/users/:id/follow', async (ctx) => {
    const { id } = parseInput(userParam, ctx.params);
    await relations.unfollow(ctx.state.auth!.userId, id);
    ctx.status = 204;
  });

  router.put('/users/:id/block', async (ctx) => {
    const { id } = parseInput(userParam, ctx.params);
    parseInput(noBody, ctx.request.body ?? {});
    await relations.block(ctx.state.auth!.userId, id);
    ctx.status = 204;
  });

  router.delete('/users/:id/block', async (ctx) => {
    const { id } = parseInput(userParam, ctx.params);
    await relations.unblock(ctx.state.auth!.userId, id);
    ctx.status = 204;
  });

  router.get('/me/following', async (ctx) => {
    const page = parseInput(pageQuery, ctx.query);
    ctx.body = await relations.listFollowing(ctx.state.auth!.userId, page);
  });

  router.get('/me/blocked', async (ctx) => {
    const page = parseInput(pageQuery, ctx.query);
    ctx.body = await relations.listBlocked(ctx.state.auth!.userId, page);
  });

  return router;
}
