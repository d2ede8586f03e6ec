import Router from '@koa/router';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { NotificationList, NotificationPreferences, UNREAD_COUNT_CAP } from '../../db/repositories/notifications';
import { PushTokens } from '../../db/repositories/push-tokens';
import { AppError, ErrorCode } from '../../domain/errors';
import { entityId, isoInstant } from '../../domain/input/fields';
import { NOTIFICATION_KINDS } from '../../services/notifications/notifier';
import { DEVICE_ID } from '../auth/device-fields';
import type { ApiState } from '../http/context';
import { pageQuery } from '../http/paging';
import { noBody, parseInput } from '../http/validate';

/** An FCM registration token as the app hands it over (FCM's alphabet; never logged in full). */
const pushToken = z.string().regex(/^[A-Za-z0-9_:.-]{16,1024}$/, "an FCM registration token (16 to 1024 of A–Z a–z 0–9 _ : . -)");
const deviceId = z.string().regex(DEVICE_ID, '8 to 128 letters, digits or _ . : -');
const noQuery = z.object({}).strict();

const notificationParam = z.object({ id: entityId }).strict();
const readAllBody = z
  .object({
    /** Mark only rows created up to this instant (the `createdAt` of the newest row the app showed). */
    upTo: isoInstant.optional(),
  })
  .strict();
const preferencesBody = z
  .object({
    push: z
      .object(Object.fromEntries(NOTIFICATION_KINDS.map((kind) => [kind, z.boolean().optional()])) as Record<(typeof NOTIFICATION_KINDS)[number], z.ZodOptional<z.ZodBoolean>>)
      .strict()
      .refine((p) => Object.values(p).some((v) => v !== undefined), 'name at least one kind'),
  })
  .strict();
const tokenBody = z.object({ token: pushToken, platform: z.literal('android'), deviceId }).strict();
const tokenParam = z.object({ token: pushToken }).strict();
const deviceQuery = z.object({ deviceId }).strict();

/**
 * The signed-in user's notifications (list, unread count, mark read), their per-kind push
 * settings, and their devices' push tokens. Another user's row is "not found", never shown.
 */
export function notificationRoutes(deps: { dataSource: DataSource }): Router<ApiState> {
  const router = new Router<ApiState>();
  const list = new NotificationList(deps.dataSource);
  const preferences = new NotificationPreferences(deps.dataSource);
  const tokens = new PushTokens(deps.dataSource);

  router.get('/notifications', async (ctx) => {
    const page = parseInput(pageQuery, ctx.query);
    ctx.body = await list.list(ctx.state.auth!.userId, page);
  });

  router.get('/notifications/unread-count', async (ctx) => {
    parseInput(noQuery, ctx.query);
    const unread = await list.unreadCount(ctx.state.auth!.userId);
    ctx.body = { unread, capped: unread >= UNREAD_COUNT_CAP };
  });

  router.post('/notifications/:id/read', async (ctx) => {
    const { id } = parseInput(notificationParam, ctx.params);
    parseInput(noQuery, ctx.query);
    parseInput(noBody, ctx.request.body ?? {});
    const row = await list.markRead(ctx.state.auth!.userId, id);
    if (!row) throw new AppError(ErrorCode.NotificationNotFound, 'no such notification');
    ctx.body = row;
  });

  router.post('/notifications/read-all', async (ctx) => {
    parseInput(noQuery, ctx.query);
    const { upTo } = parseInput(readAllBody, ctx.request.body ?? {});
    const userId = ctx.state.auth!.userId;
    const marked = await list.markAllRead(userId, upTo);
    ctx.body = { marked, unread: await list.unreadCount(userId) };
  });

  router.get('/me/notification-preferences', async (ctx) => {
    parseInput(noQuery, ctx.query);
    ctx.body = { push: await preferences.push(ctx.state.auth!.userId, NOTIFICATION_KINDS) };
  });

  router.put('/me/notification-preferences', async (ctx) => {
    parseInput(noQuery, ctx.query);
    const { push } = parseInput(preferencesBody, ctx.request.body ?? {});
    const userId = ctx.state.auth!.userId;
    const changes = Object.fromEntries(Object.entries(push).filter((e): e is [string, boolean] => e[1] !== undefined));
    await preferences.setPush(userId, changes);
    ctx.body = { push: await preferences.push(userId, NOTIFICATION_KINDS) };
  });

  router.post('/me/push-tokens', async (ctx) => {
    parseInput(noQuery, ctx.query);
    const body = parseInput(tokenBody, ctx.request.body ?? {});
    await tokens.register({ userId: ctx.state.auth!.userId, ...body });
    ctx.status = 204;
  });

  // Idempotent: a token the user does not hold (gone already, or another user's) is left alone, 204 all the same.
  router.delete('/me/push-tokens/:token', async (ctx) => {
    const { token } = parseInput(tokenParam, ctx.params);
    parseInput(noQuery, ctx.query);
    await tokens.remove(ctx.state.auth!.userId, token);
    ctx.status = 204;
  });

  // On sign-out the app may not have its token at hand: every token of the device goes.
  router.delete('/me/push-tokens', async (ctx) => {
    const { deviceId: device } = parseInput(deviceQuery, ctx.query);
    await tokens.removeDevice(ctx.state.auth!.userId, device);
    ctx.status = 204;
  });

  return router;
}
