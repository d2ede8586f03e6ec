import Router from '@koa/router';
import { z } from 'zod';
import { entityId } from '../../domain/input/fields';
import type { GiftService } from '../../services/gifts/gift-service';
import type { ApiState } from '../http/context';
import { answerKept, idempotencyKey } from '../http/idempotency-key';
import { parseInput } from '../http/validate';

const roomParams = z.object({ id: entityId }).strict();
const giftId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a gift id from the catalog');
const sendBody = z
  .object({
    giftId,
    quantity: z.number().int().min(1).max(9999).default(1),
    // One or more users, everyone on a mic seat, or everyone in the room.
    to: z.union([z.array(entityId).min(1).max(100), z.enum(['seated', 'room'])]),
  })
  .strict();

/** Sending gifts in a room (the catalog is GET /v1/gifts). */
export function giftSendRoutes(deps: { gifts: GiftService }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/rooms' });

  router.post('/:id/gifts', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const input = parseInput(sendBody, ctx.request.body ?? {});
    const key = idempotencyKey(ctx);
    const to = Array.isArray(input.to) ? { users: [...new Set(input.to)].sort() } : { everyone: input.to };
    answerKept(ctx, await deps.gifts.send({ senderId: ctx.state.auth!.userId, roomId: id, giftId: input.giftId, quantity: input.quantity, to, idempotencyKey: key }));
  });

  return router;
}
