import Router from '@koa/router';
import { z } from 'zod';
import type { ReferralRecords } from '../../db/repositories/referrals';
import { decodeCursor, encodeCursor } from '../../db/repositories/pagination';
import type { UserDirectory } from '../../db/repositories/users';
import type { ReferralAttribution, ReferralLeaderboard } from '../../services/referrals';
import { deviceIdHeader } from '../auth/device-fields';
import type { ApiState } from '../http/context';
import { pageQuery } from '../http/paging';
import { parseInput } from '../http/validate';
import { digitsInt } from '../../domain/input/fields';
import { AppError, ErrorCode } from '../../domain/errors';
import { inviteCodeField } from './invite-code-field';

const noQuery = z.object({}).strict();
const attributionBody = z.object({ inviteCode: inviteCodeField }).strict();
const leaderboardQuery = z
  .object({
    period: z.enum(['week', 'all']).default('week'),
    cursor: pageQuery.shape.cursor,
    limit: digitsInt(1, 100).default(20),
  })
  .strict();

/** Offsets past this are refused (a leaderboard is read from the top). */
const MAX_OFFSET = 10_000;

/**
 * Referrals for the signed-in user: their code and link with stats, a late attribution (the
 * store's install referrer), their referees with milestone status, and the leaderboards.
 */
export function referralRoutes(deps: {
  attribution: ReferralAttribution;
  records: ReferralRecords;
  leaderboard: ReferralLeaderboard;
  users: UserDirectory;
}): Router<ApiState> {
  const router = new Router<ApiState>();
  const me = (ctx: { state: ApiState }) => ctx.state.auth!.userId;

  router.get('/me/referral', async (ctx) => {
    parseInput(noQuery, ctx.query);
    const userId = me(ctx);
    const [mine, stats] = await Promise.all([deps.attribution.myReferral(userId), deps.records.stats(userId)]);
    ctx.body = { ...mine, stats };
  });

  router.post('/me/referral/attribution', async (ctx) => {
    const body = parseInput(attributionBody, ctx.request.body);
    ctx.body = await deps.attribution.later(me(ctx), body.inviteCode, { deviceId: deviceIdHeader(ctx), ip: ctx.ip });
    ctx.status = 201;
  });

  router.get('/me/referrals', async (ctx) => {
    const query = parseInput(pageQuery, ctx.query);
    ctx.body = await deps.records.listReferees(me(ctx), query);
  });

  router.get('/referrals/leaderboard', async (ctx) => {
    const query = parseInput(leaderboardQuery, ctx.query);
    const offset = Number(decodeCursor(query.cursor, ['bigint'])?.[0] ?? 0);
    if (offset > MAX_OFFSET) throw new AppError(ErrorCode.ValidationFailed, 'cursor is not valid');
    const page = await deps.leaderboard.page(query.period, { offset, limit: query.limit, userId: me(ctx) });
    const names = await deps.users.displayNames(page.entries.map((e) => e.userId));
    const next = offset + page.entries.length;
    ctx.body = {
      period: { kind: query.period, id: page.periodId },
      items: page.entries.map((e) => ({ rank: e.rank, userId: e.userId, displayName: names.get(e.userId) ?? null, referrals: e.score })),
      me: page.me ? { rank: page.me.rank, referrals: page.me.score } : null,
      total: page.total,
      nextCursor: next < page.total && next <= MAX_OFFSET ? encodeCursor([String(next)]) : null,
    };
  });

  return router;
}
