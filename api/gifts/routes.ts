import Router from '@koa/router';
import { z } from 'zod';
import type { GiftCatalog, ViewerRegions } from '../../services/gifts';
import type { ApiState } from '../http/context';
import { parseInput } from '../http/validate';

const listQuery = z
  .object({ region: z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 code such as "IN"').optional() })
  .strict();

/** If-None-Match against our (strong) ETag, by the weak comparison RFC 9110 prescribes for it. */
function notModified(ifNoneMatch: string, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * The gift panel: `GET /gifts?region=XX` (default: the caller's profile region). Answered from
 * the catalog's in-process copy, so it keeps answering while PostgreSQL is down; the ETag is the
 * content's, so an app that already has this region's panel gets a 304.
 */
export function giftRoutes(deps: { catalog: GiftCatalog; regions: ViewerRegions }): Router<ApiState> {
  const router = new Router<ApiState>();

  router.get('/gifts', async (ctx) => {
    const query = parseInput(listQuery, ctx.query);
    const region = query.region ?? (await deps.regions.of(ctx.state.auth!.userId));
    const { etag, json } = await deps.catalog.listFor(region, ctx.get('Accept-Language') || undefined);
    ctx.set('ETag', etag);
    // The panel changes rarely; the names follow Accept-Language, the default region the caller.
    ctx.set('Cache-Control', 'private, max-age=60');
    ctx.set('Vary', 'Accept-Language, Authorization');
    if (notModified(ctx.get('If-None-Match'), etag)) {
      ctx.status = 304;
      return;
    }
    ctx.type = 'application/json';
    ctx.body = json;
  });

  return router;
}
