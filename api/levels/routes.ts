import { createHash } from 'node:crypto';
import Router from '@koa/router';
import type { DataSource } from 'typeorm';
import { levelTable } from '../../domain/levels/levels';
import { myLevels } from '../../services/levels/my-levels';
import type { ApiState } from '../http/context';
import { noBody, parseInput } from '../http/validate';

const TABLE_JSON = JSON.stringify(levelTable());
const TABLE_ETAG = `"${createHash('sha256').update(TABLE_JSON).digest('base64url').slice(0, 22)}"`;

/** GET /levels: the published threshold table (public reference data, the same for everyone). */
export function levelTableRoutes(): Router<ApiState> {
  const router = new Router<ApiState>();
  router.get('/levels', (ctx) => {
    parseInput(noBody, ctx.query);
    ctx.set('ETag', TABLE_ETAG);
    ctx.set('Cache-Control', 'public, max-age=3600');
    if (ctx.get('If-None-Match').split(',').some((t) => t.trim().replace(/^W\//, '') === TABLE_ETAG)) {
      ctx.status = 304;
      return;
    }
    ctx.type = 'application/json';
    ctx.body = TABLE_JSON;
  });
  return router;
}

/** GET /me/levels: the caller's wealth and charm levels, totals, next thresholds and progress. */
export function myLevelRoutes(deps: { dataSource: DataSource }): Router<ApiState> {
  const router = new Router<ApiState>();
  router.get('/me/levels', async (ctx) => {
    parseInput(noBody, ctx.query);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await myLevels(deps.dataSource, ctx.state.auth!.userId);
  });
  return router;
}
