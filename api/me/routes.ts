import Router from '@koa/router';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { UserDirectory, type UserProfile } from '../../db/repositories/users';
import { MicroCache } from '../../platform/cache/micro-cache';
import { User } from '../../db/entities';
import { isValidTimeZone } from '../../domain/calendar';
import { AppError, ErrorCode } from '../../domain/errors';
import { calendarDate, mediaKey, typedText } from '../../domain/input/fields';
import type { MediaAttachments } from '../../services/media/attachments';
import { refuseMediaUrlField } from '../media/routes';
import type { ApiState } from '../http/context';
import { parseInput } from '../http/validate';

const profilePatch = z
  .object({
    displayName: typedText({ min: 1, max: 64 }).optional(),
    timeZone: z.string().refine(isValidTimeZone, 'not an IANA time zone').optional(),
    /** A ready avatar upload of the caller's (POST /v1/media/uploads); null: no avatar. */
    avatarKey: mediaKey.nullable().optional(),
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
export function meRoutes(deps: {
  dataSource: DataSource;
  /** Avatars from uploads: without it, avatarKey is refused. */
  avatars?: MediaAttachments;
  /** Builds the avatar's public URL from its key (MEDIA_CDN_BASE_URL). */
  mediaUrl?: (key: string) => string;
  dailyReward?: ProfileListener;
  profileCacheMs?: number;
}): Router<ApiState> {
  const router = new Router<ApiState>();
  const directory = new UserDirectory(deps.dataSource, deps.mediaUrl ? { mediaUrl: deps.mediaUrl } : {});
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
    refuseMediaUrlField(ctx.request.body, 'avatarUrl', 'avatarKey');
    const { avatarKey, ...patch } = parseInput(profilePatch, ctx.request.body ?? {});
    const userId = ctx.state.auth!.userId;
    let replaced: string | null = null;
    if (avatarKey === undefined) {
      await users.update({ id: userId }, patch);
    } else {
      const avatars = deps.avatars;
      if (!avatars) throw new AppError(ErrorCode.DependencyUnavailable, 'avatars cannot be changed on this server');
      // The avatar's use of the upload and the profile commit together; the old file goes after.
      replaced = await deps.dataSource.transaction(async (tx) => {
        if (Object.keys(patch).length > 0) await tx.getRepository(User).update({ id: userId }, patch);
        return (await avatars.setAvatar(tx, userId, avatarKey)).replaced;
      });
    }
    cache?.delete(userId);
    await deps.avatars?.discard(replaced);
    if (patch.timeZone !== undefined) await tellDailyReward(ctx.state.auth!.userId);
    ctx.body = await view(ctx.state.auth!.userId);
  });

  return router;
}
