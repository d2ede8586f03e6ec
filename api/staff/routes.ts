import Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { FLAG_STATUSES } from '../../db/repositories/gift-fraud';
import { entityId, typedText } from '../../domain/input/fields';
import type { GiftFraudReviews } from '../../services/gift-fraud/review';
import type { StaffAccess } from '../../services/gift-fraud/staff-access';
import type { ApiState } from '../http/context';
import { pageQuery } from '../http/paging';
import { parseInput } from '../http/validate';

const flagParams = z.object({ id: entityId }).strict();
const flagListQuery = pageQuery.extend({ status: z.enum(FLAG_STATUSES).default('open') });
const reviewBody = z
  .object({
    decision: z.enum(['release', 'reverse']),
    note: typedText({ min: 1, max: 500, multiline: true }),
  })
  .strict();

/** 403 STAFF_REQUIRED before anything else for whoever is not in `staff_members`. */
export function requireStaff(staff: StaffAccess): Middleware<ApiState> {
  return async (ctx, next) => {
    await staff.require(ctx.state.auth!.userId);
    await next();
  };
}

/**
 * Support staff's routes: the anti-fraud review list. Flags are opened by the scanner (the
 * `gift-fraud-scan` Schedule); staff read them and release or reverse the receipts they hold.
 */
export function staffRoutes(deps: { staff: StaffAccess; reviews: GiftFraudReviews }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/staff' });
  router.use(requireStaff(deps.staff));
  const me = (ctx: { state: ApiState }) => ctx.state.auth!.userId;

  router.get('/gift-flags', async (ctx) => {
    const query = parseInput(flagListQuery, ctx.query);
    ctx.body = await deps.reviews.list(query);
  });

  router.get('/gift-flags/:id', async (ctx) => {
    const { id } = parseInput(flagParams, ctx.params);
    ctx.body = await deps.reviews.get(id);
  });

  router.post('/gift-flags/:id/review', async (ctx) => {
    const { id } = parseInput(flagParams, ctx.params);
    const body = parseInput(reviewBody, ctx.request.body ?? {});
    ctx.body = await deps.reviews.review(me(ctx), id, body);
  });

  return router;
}
