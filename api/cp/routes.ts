import Router from '@koa/router';
import { z } from 'zod';
import { entityId } from '../../domain/input/fields';
import type { CpService } from '../../services/cp';
import type { ApiState } from '../http/context';
import { answerKept, idempotencyKey } from '../http/idempotency-key';
import { pageQuery } from '../http/paging';
import { noBody, parseInput } from '../http/validate';

const giftId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a gift id from the catalog');
const proposeBody = z.object({ toUserId: entityId, ringGiftId: giftId.optional() }).strict();
const proposalParams = z.object({ id: entityId }).strict();
const proposalsQuery = pageQuery.extend({ direction: z.enum(['in', 'out']) }).strict();
const weeklyQuery = pageQuery
  .extend({ at: z.string().min(7).max(8).regex(/^[0-9W-]+$/, 'an ISO week such as 2026-W10').optional() })
  .strict();

/** CP partners: proposals with a ring in escrow, answers, break-ups, the caller's CP, the weekly ranking. */
export function cpRoutes(deps: { cp: CpService }): Router<ApiState> {
  const router = new Router<ApiState>();

  router.post('/cp/proposals', async (ctx) => {
    const input = parseInput(proposeBody, ctx.request.body ?? {});
    const key = idempotencyKey(ctx);
    answerKept(ctx, await deps.cp.propose({ proposerId: ctx.state.auth!.userId, addresseeId: input.toUserId, ringGiftId: input.ringGiftId, idempotencyKey: key }));
  });

  router.get('/cp/proposals', async (ctx) => {
    const query = parseInput(proposalsQuery, ctx.query);
    ctx.body = await deps.cp.proposals(ctx.state.auth!.userId, query.direction, query);
  });

  for (const answer of ['accept', 'decline', 'withdraw'] as const) {
    router.post(`/cp/proposals/:id/${answer}`, async (ctx) => {
      const { id } = parseInput(proposalParams, ctx.params);
      parseInput(noBody, ctx.request.body ?? {});
      ctx.body = await deps.cp.answer(ctx.state.auth!.userId, id, answer);
    });
  }

  router.post('/cp/breakup', async (ctx) => {
    parseInput(noBody, ctx.request.body ?? {});
    const key = idempotencyKey(ctx);
    answerKept(ctx, await deps.cp.breakup(ctx.state.auth!.userId, key));
  });

  router.get('/me/cp', async (ctx) => {
    parseInput(z.object({}).strict(), ctx.query);
    ctx.body = await deps.cp.me(ctx.state.auth!.userId);
  });

  router.get('/cp/rankings/weekly', async (ctx) => {
    const query = parseInput(weeklyQuery, ctx.query);
    ctx.body = await deps.cp.weeklyRanking(query);
  });

  return router;
}
