import Router from '@koa/router';
import { z } from 'zod';
import { REPORT_REASONS } from '../../db/repositories/room-moderation';
import { MAX_SEATS, MIN_SEATS, ROOM_TYPES, SEAT_MODES } from '../../domain/rooms/model';
import { PLAYLIST_POLICIES } from '../../domain/media/playback';
import type { RoomService } from '../../services/rooms/room-service';
import type { Notifier } from '../../services/notifications/notifier';
import type { Logger } from '../../platform/logging';
import { digitsInt, entityId, mediaKey, messageId, roomPassword, typedText } from '../../domain/input/fields';
import { refuseMediaUrlField } from '../media/routes';
import type { ApiState } from '../http/context';
import { pageQuery } from '../http/paging';
import { noBody, parseInput } from '../http/validate';

// Ids are canonical (lower case) from here on: PostgreSQL and Redis must name the same room and user.
const roomParams = z.object({ id: entityId }).strict();
const userParams = z.object({ id: entityId, userId: entityId }).strict();
const seatParams = z.object({ id: entityId, seat: digitsInt(0, MAX_SEATS - 1) }).strict();
const messageParams = z.object({ id: entityId, messageId }).strict();
const seatIndex = z.number().int().min(0).max(MAX_SEATS - 1);

const roomFields = {
  name: typedText({ min: 1, max: 64 }),
  topic: typedText({ max: 200 }).nullable().optional(),
  region: z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 code such as "IN"').nullable().optional(),
  seatMode: z.enum(SEAT_MODES),
  password: roomPassword.nullable().optional(),
};
/** Who controls the YouTube playlist and playback: the owner and admins, or every member. */
const playlistPolicy = z.enum(PLAYLIST_POLICIES);
const newRoom = z
  .object({
    ...roomFields,
    type: z.enum(ROOM_TYPES),
    seatCount: z.number().int().min(MIN_SEATS).max(MAX_SEATS),
    seatMode: roomFields.seatMode.default('free'),
  })
  .strict();
const roomPatch = z
  .object({
    ...roomFields,
    name: roomFields.name.optional(),
    seatMode: roomFields.seatMode.optional(),
    /** A ready room-cover upload of the acting owner's or admin's; null: no cover. */
    coverKey: mediaKey.nullable().optional(),
    playlistPolicy: playlistPolicy.optional(),
  })
  .strict()
  .refine((p) => Object.keys(p).length > 0, 'nothing to change');
const discoveryQuery = pageQuery.extend({
  sort: z.enum(['popular', 'new', 'following']).default('popular'),
  region: roomFields.region.unwrap().unwrap().optional(),
});

/**
 * Rooms over REST: create, discover, update and close; seats; moderation; chat history and
 * reports. Chat itself is sent over the WebSocket. Every change is applied live (Redis)
 * and announced to the room as a numbered event.
 */
export function roomRoutes(deps: { rooms: RoomService; notifier?: Notifier; logger?: Pick<Logger, 'warn'> }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/rooms' });
  const { rooms } = deps;
  const me = (ctx: { state: ApiState }) => ctx.state.auth!.userId;

  router.post('/', async (ctx) => {
    refuseMediaUrlField(ctx.request.body, 'coverUrl', 'coverKey with PATCH /v1/rooms/:id once the room exists');
    const input = parseInput(newRoom, ctx.request.body ?? {});
    const room = await rooms.create(me(ctx), input);
    ctx.status = 201;
    ctx.set('Location', `/v1/rooms/${room.id}`);
    ctx.body = room;
  });

  router.get('/', async (ctx) => {
    const query = parseInput(discoveryQuery, ctx.query);
    ctx.body = await rooms.discover(me(ctx), query);
  });

  router.get('/:id', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    ctx.body = await rooms.get(id, me(ctx));
  });

  router.patch('/:id', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    refuseMediaUrlField(ctx.request.body, 'coverUrl', 'coverKey');
    ctx.body = await rooms.update(me(ctx), id, parseInput(roomPatch, ctx.request.body ?? {}));
  });

  router.post('/:id/close', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    parseInput(noBody, ctx.request.body ?? {});
    await rooms.close(me(ctx), id);
    ctx.status = 204;
  });

  router.get('/:id/members', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    ctx.body = await rooms.members(me(ctx), id, parseInput(pageQuery, ctx.query));
  });

  // Admins (the owner's to manage).
  router.put('/:id/admins/:userId', async (ctx) => {
    const { id, userId } = parseInput(userParams, ctx.params);
    parseInput(noBody, ctx.request.body ?? {});
    await rooms.grantAdmin(me(ctx), id, userId);
    ctx.status = 204;
  });
  router.delete('/:id/admins/:userId', async (ctx) => {
    const { id, userId } = parseInput(userParams, ctx.params);
    await rooms.revokeAdmin(me(ctx), id, userId);
    ctx.status = 204;
  });

  // Seats, by the user themselves.
  router.post('/:id/seats/take', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const { seat } = parseInput(z.object({ seat: seatIndex.optional() }).strict(), ctx.request.body ?? {});
    await rooms.takeSeat(me(ctx), id, seat ?? null);
    ctx.status = 204;
  });
  router.post('/:id/seats/leave', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    parseInput(noBody, ctx.request.body ?? {});
    await rooms.leaveSeat(me(ctx), id);
    ctx.status = 204;
  });
  router.post('/:id/seats/move', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const { seat } = parseInput(z.object({ seat: seatIndex }).strict(), ctx.request.body ?? {});
    await rooms.moveSeat(me(ctx), id, seat);
    ctx.status = 204;
  });
  router.post('/:id/seats/mute', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const { muted } = parseInput(z.object({ muted: z.boolean() }).strict(), ctx.request.body ?? {});
    await rooms.muteOwnSeat(me(ctx), id, muted);
    ctx.status = 204;
  });
  router.post('/:id/seats/invitation', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const { accept } = parseInput(z.object({ accept: z.boolean() }).strict(), ctx.request.body ?? {});
    await rooms.answerInvite(me(ctx), id, accept);
    ctx.status = 204;
  });
  router.post('/:id/seats/applications', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    parseInput(noBody, ctx.request.body ?? {});
    ctx.status = 202;
    ctx.body = { queued: await rooms.applyForSeat(me(ctx), id) };
  });
  router.delete('/:id/seats/applications', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    await rooms.withdrawApplication(me(ctx), id);
    ctx.status = 204;
  });

  // Seats, by moderators.
  router.get('/:id/seats/applications', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    ctx.body = { items: await rooms.applications(me(ctx), id) };
  });
  router.post('/:id/seats/applications/:userId', async (ctx) => {
    const { id, userId } = parseInput(userParams, ctx.params);
    const { approve, seat } = parseInput(z.object({ approve: z.boolean(), seat: seatIndex.optional() }).strict(), ctx.request.body ?? {});
    await rooms.resolveApplication(me(ctx), id, userId, approve, seat ?? null);
    ctx.status = 204;
  });
  router.post('/:id/seats/invitations', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const { userId, seat } = parseInput(z.object({ userId: entityId, seat: seatIndex.optional() }).strict(), ctx.request.body ?? {});
    const invited = await rooms.inviteToSeat(me(ctx), id, userId, seat ?? null);
    // The invitee may have the app in the background: a notice (and a push) too, best effort.
    await deps.notifier
      ?.notify({
        userId,
        kind: 'room_invitation',
        title: 'You are invited to a mic seat',
        body: 'Join the room to take the seat before the invitation runs out.',
        data: { roomId: id, seat: seat ?? null, byUserId: me(ctx), expiresAt: invited.expiresAt },
        idempotencyKey: `seat-invite:${id}:${userId}:${invited.expiresAt}`,
      })
      .catch((err: unknown) => deps.logger?.warn({ err }, 'a seat invitation notice failed; the invitation stands'));
    ctx.status = 201;
    ctx.body = invited;
  });
  router.post('/:id/seats/:seat/lock', async (ctx) => {
    const { id, seat } = parseInput(seatParams, ctx.params);
    const { locked } = parseInput(z.object({ locked: z.boolean() }).strict(), ctx.request.body ?? {});
    await rooms.lockSeat(me(ctx), id, seat, locked);
    ctx.status = 204;
  });
  router.post('/:id/seats/:seat/mute', async (ctx) => {
    const { id, seat } = parseInput(seatParams, ctx.params);
    const { muted } = parseInput(z.object({ muted: z.boolean() }).strict(), ctx.request.body ?? {});
    await rooms.muteSeat(me(ctx), id, seat, muted);
    ctx.status = 204;
  });
  router.post('/:id/seats/remove', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const { userId } = parseInput(z.object({ userId: entityId }).strict(), ctx.request.body ?? {});
    await rooms.removeFromSeat(me(ctx), id, userId);
    ctx.status = 204;
  });

  // Moderation of people and chat.
  router.post('/:id/kick', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const { userId } = parseInput(z.object({ userId: entityId }).strict(), ctx.request.body ?? {});
    await rooms.kick(me(ctx), id, userId);
    ctx.status = 204;
  });
  router.get('/:id/bans', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    ctx.body = await rooms.listBans(me(ctx), id, parseInput(pageQuery, ctx.query));
  });
  router.put('/:id/bans/:userId', async (ctx) => {
    const { id, userId } = parseInput(userParams, ctx.params);
    const { reason } = parseInput(z.object({ reason: typedText({ min: 1, max: 200 }).optional() }).strict(), ctx.request.body ?? {});
    await rooms.ban(me(ctx), id, userId, reason ?? null);
    ctx.status = 204;
  });
  router.delete('/:id/bans/:userId', async (ctx) => {
    const { id, userId } = parseInput(userParams, ctx.params);
    await rooms.unban(me(ctx), id, userId);
    ctx.status = 204;
  });
  router.put('/:id/chat-mutes/:userId', async (ctx) => {
    const { id, userId } = parseInput(userParams, ctx.params);
    const { minutes } = parseInput(z.object({ minutes: z.number().int().min(1).max(7 * 24 * 60) }).strict(), ctx.request.body ?? {});
    ctx.body = await rooms.muteChat(me(ctx), id, userId, minutes * 60_000);
  });
  router.delete('/:id/chat-mutes/:userId', async (ctx) => {
    const { id, userId } = parseInput(userParams, ctx.params);
    await rooms.unmuteChat(me(ctx), id, userId);
    ctx.status = 204;
  });
  router.put('/:id/mute-all', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const { on } = parseInput(z.object({ on: z.boolean() }).strict(), ctx.request.body ?? {});
    await rooms.muteAll(me(ctx), id, on);
    ctx.status = 204;
  });
  router.get('/:id/moderation-log', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    ctx.body = await rooms.moderationLog(me(ctx), id, parseInput(pageQuery, ctx.query));
  });

  // Chat history, recall, delete, report.
  router.get('/:id/messages', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const { cursor, limit } = parseInput(pageQuery, ctx.query);
    ctx.body = await rooms.history(me(ctx), id, { before: cursor, limit });
  });
  router.post('/:id/messages/:messageId/recall', async (ctx) => {
    const { id, messageId } = parseInput(messageParams, ctx.params);
    await rooms.recallChat(me(ctx), id, messageId);
    ctx.status = 204;
  });
  router.delete('/:id/messages/:messageId', async (ctx) => {
    const { id, messageId } = parseInput(messageParams, ctx.params);
    await rooms.deleteChat(me(ctx), id, messageId);
    ctx.status = 204;
  });
  router.post('/:id/reports', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const input = parseInput(
      z
        .object({
          targetUserId: entityId.optional(),
          messageId: messageId.optional(),
          reason: z.enum(REPORT_REASONS),
          details: typedText({ max: 500, multiline: true }).optional(),
        })
        .strict(),
      ctx.request.body ?? {},
    );
    ctx.status = 201;
    ctx.body = await rooms.report(me(ctx), id, input);
  });

  return router;
}
