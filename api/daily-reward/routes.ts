import Router from '@koa/router';
import type { UserDirectory } from '../../db/repositories/users';
import { AppError, ErrorCode } from '../../domain/errors';
import type { ApiState } from '../http/context';
import type { DailyRewardFlows } from './flow-client';

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** `GET /rewards/daily` and `POST /rewards/daily/claim`, for the signed-in user. */
export function dailyRewardRoutes(deps: { flows: DailyRewardFlows; users: UserDirectory }): Router<ApiState> {
  const router = new Router<ApiState>();

  async function currentUser(userId: string) {
    const user = await deps.users.findById(userId);
    if (!user) throw new AppError(ErrorCode.UserNotFound, 'the signed-in user does not exist', 404);
    if (user.status !== 'active') throw new AppError(ErrorCode.Forbidden, 'this account is suspended', 403);
    return user;
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

  router.post('/rewards/daily/claim', async (ctx) => {
    const user = await currentUser(ctx.state.auth!.userId);
    const claim = await deps.flows.claim(user);
    ctx.status = 200;
    ctx.body = { claim };
  });

  return router;
}
