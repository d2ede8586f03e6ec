import type { IncomingMessage } from 'node:http';
import Router from '@koa/router';
import { z } from 'zod';
import { AppError, ErrorCode } from '../../domain/errors';
import { entityId } from '../../domain/input/fields';
import { MediaWebhookRejected, type MediaServer } from '../../platform/media/livekit';
import type { MediaAccess, MediaPresence } from '../../services/media';
import type { RoomService } from '../../services/rooms/room-service';
import type { ApiState } from '../http/context';
import { noBody, parseInput } from '../http/validate';

const roomParams = z.object({ id: entityId }).strict();

/**
 * `POST /v1/rooms/:id/media/token`: a fresh media join token for a member (the join frame
 * carries one; this re-issues it, e.g. after the app was killed). The grant is the member's
 * seat as of now.
 */
export function mediaTokenRoutes(deps: { access: MediaAccess; rooms: RoomService }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/rooms' });
  router.post('/:id/media/token', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    parseInput(noBody, ctx.request.body ?? {});
    const join = await deps.access.reissue(deps.rooms, ctx.state.auth!.userId, id);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 201;
    ctx.body = join;
  });
  return router;
}

/** LiveKit's webhook bodies are small JSON events; anything bigger is not from it. */
const WEBHOOK_MAX_BYTES = 64 * 1024;

/** The body exactly as sent: the signature covers its bytes, so it must not be parsed first. */
async function rawBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new AppError(ErrorCode.PayloadTooLarge, `webhook bodies are at most ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new AppError(ErrorCode.PayloadTooLarge, `webhook bodies are at most ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * `POST /v1/media/livekit/webhook`: LiveKit's signed events (no user auth). Mounted ahead of the
 * body parser and the JSON-only shell: LiveKit sends `application/webhook+json`, and the
 * signature (a JWT in Authorization carrying the body's SHA-256) is checked over the raw bytes.
 * Unsigned or forged: 401 WEBHOOK_SIGNATURE_INVALID, nothing done.
 */
export function mediaWebhookRoutes(deps: { media: MediaServer; presence: MediaPresence }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/v1/media/livekit' });
  router.post('/webhook', async (ctx) => {
    const body = await rawBody(ctx.req, WEBHOOK_MAX_BYTES);
    let event;
    try {
      event = await deps.media.verifyWebhook(body, ctx.get('Authorization') || undefined);
    } catch (err) {
      if (err instanceof MediaWebhookRejected) throw new AppError(ErrorCode.WebhookSignatureInvalid, 'the webhook is unsigned or its signature does not match');
      throw err;
    }
    await deps.presence.handle(event);
    ctx.status = 204;
  });
  return router;
}
