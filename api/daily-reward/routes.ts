import Router from '@koa/router';
import type { ProgressEvents } from '../../services/progress';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { DailyRewardClaims } from '../../db/repositories/daily-reward-claims';
import type { UserDirectory } from '../../db/repositories/users';
import { AppError, ErrorCode } from '../../domain/errors';
import type { ApiState } from '../http/context';
import { parseInput } from '../http/validate';
import type { DailyRewardFlows } from '../../services/daily-reward/flow-client';
import { calendarDate, digitsInt } from '../../domain/input/fields';

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

const claimHistoryQuery = z
  .object({
    limit: digitsInt(1, 100).default(20),
    // A real date PostgreSQL can hold (zod's own date lets year 0000 through, which it refuses).
    before: calendarDate.optional(),
  })
  .strict();

/** A claim carries no input; anything sent is a client bug worth surfacing. */
const claimBody = z.object({}).strict();

/** The daily reward of the signed-in user: status, claim, and the history of claimed days. */
export function dailyRewardRoutes(deps: {
  flows: DailyRewardFlows;
  users: UserDirectory;
  dataSource: DataSource;
  progress?: ProgressEvents;
  /** The VIP perk: the daily reward multiplier (percent) of the tier in force; absent: 100. */
  vipPerks?: { dailyRewardPercent(userId: string): Promise<number> };
}): Router<ApiState> {
  const router = new Router<ApiState>();
  const claims = new DailyRewardClaims(deps.dataSource);

  /** The profile as PostgreSQL has it now: the zone the flow must follow, and its version. */
  async function currentUser(userId: string) {
    const user = await deps.users.findById(userId);
    if (!user) throw new AppError(ErrorCode.UserNotFound, 'the signed-in user does not exist');
    if (user.status !== 'active') throw new AppError(ErrorCode.Forbidden, 'this account is suspended');
    const rewardPercent = deps.vipPerks ? await deps.vipPerks.dailyRewardPercent(user.id) : 100;
    return { id: user.id, timeZone: user.timeZone, profileVersion: user.updatedAt.getTime(), rewardPercent };
  }

  router.get('/rewards/daily', async (ctx) => {
    const user = await currentUser(ctx.state.auth!.userId);
    const status = await deps.flows.status(user);
    ctx.body = {
      ...status,
      nextClaimAt: isoOrNull(status.nextClaimAt),
      streakBreaksAt: isoOrNull(status.streakBreaksAt),
    };
  });

  router.get('/rewards/daily/claims', async (ctx) => {
    const page = parseInput(claimHistoryQuery, ctx.query);
    const user = await currentUser(ctx.state.auth!.userId);
    ctx.body = await claims.listForUser(user.id, page);
  });

  router.post('/rewards/daily/claim', async (ctx) => {
    parseInput(claimBody, ctx.request.body ?? {});
    const user = await currentUser(ctx.state.auth!.userId);
    const claim = await deps.flows.claim(user);
    deps.progress?.emit({ kind: 'daily-claimed', userId: user.id, at: new Date(), day: claim.day, streak: claim.streak, coins: claim.coins });
    ctx.status = 200;
    ctx.body = { claim };
  });

  return router;
}
