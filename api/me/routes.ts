import Router from '@koa/router';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { UserDirectory, type UserProfile } from '../../db/repositories/users';
import { MicroCache } from '../../platform/cache/micro-cache';
import { User } from '../../db/entities';
import { isValidTimeZone } from '../../domain/calendar';
import { AppError, ErrorCode } from '../../domain/errors';
import { calendarDate, httpsUrl, typedText } from '../../domain/input/fields';
import type { ApiState } from '../http/context';
import { parseInput } from '../http/validate';

const profilePatch = z
  .object({
    displayName: typedText({ min: 1, max: 64 }).optional(),
    timeZone: z.string().refine(isValidTimeZone, 'not an IANA time zone').optional(),
    avatarUrl: httpsUrl.nullable().optional(),
    language: z.string().regex(/^[a-z]{2,3}(-[A-Z]{2})?$/, 'a language tag such as "en" or "hi-IN"').nullable().optional(),
    region: z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 code such as "IN"').nullable().optional(),
    birthday: calendarDate
      .refine((d) => Date.parse(d) <= Date.now() - 13 * 365.25 * 86_400_000, 'users must be at least 13')
      .nullable()
      .optional(),
  })
  .strict()
  .refine((p) => Object.keys(p).length > 0, 'nothing to change');

/** Who must hear that a profile changed once it committed (the daily-reward flow follows the zone). */
export interface ProfileListener {
  profileChanged(user: { id: string; timeZone: string; profileVersion: number }): Promise<unknown>;
}

/** The signed-in user's own profile. */
export function meRoutes(deps: { dataSource: DataSource; dailyReward?: ProfileListener; profileCacheMs?: number }): Router<ApiState> {
  const router = new Router<ApiState>();
  const directory = new UserDirectory(deps.dataSource);
  const users = deps.dataSource.getRepository(User);

  // The app reads the profile on every screen; it changes rarely. Another API process may serve
  // it up to profileCacheMs old after a change; this one drops it at once (and the PATCH answers
  // with the new profile).
  const cache = deps.profileCacheMs ? new MicroCache<UserProfile | null>(deps.profileCacheMs) : null;

  async function view(userId: string) {
    const profile = cache ? await cache.get(userId, () => directory.profile(userId)) : await directory.profile(userId);
    if (!profile) throw new AppError(ErrorCode.UserNotFound, 'the signed-in user does not exist');
    return profile;
  }

  /** After the commit, best effort: the flow also gets the zone with the next claim or status read. */
  async function tellDailyReward(userId: string): Promise<void> {
    const saved = await users.findOne({ select: { id: true, timeZone: true, updatedAt: true }, where: { id: userId } });
    if (saved && deps.dailyReward) {
      await deps.dailyReward.profileChanged({ id: saved.id, timeZone: saved.timeZone, profileVersion: saved.updatedAt.getTime() });
    }
  }

  router.get('/me', async (ctx) => {
    ctx.body = await view(ctx.state.auth!.userId);
  });

  router.patch('/me', async (ctx) => {
    const patch = parseInput(profilePatch, ctx.request.body ?? {});
    await users.update({ id: ctx.state.auth!.userId }, patch);
    cache?.delete(ctx.state.auth!.userId);
    if (patch.timeZone !== undefined) await tellDailyReward(ctx.state.auth!.userId);
    ctx.body = await view(ctx.state.auth!.userId);
  });

  return router;
}
