import Router from '@koa/router';
import { z } from 'zod';
import { AppError, ErrorCode } from '../../domain/errors';
import { entityId, mediaKey } from '../../domain/input/fields';
import { MEDIA_KINDS } from '../../domain/media/assets';
import type { GiftAnimations } from '../../services/media/gift-animations';
import type { MediaUploadService } from '../../services/media/uploads';
import type { ApiState } from '../http/context';
import { noBody, parseInput } from '../http/validate';
import { requireStaff } from '../staff/routes';
import type { StaffAccess } from '../../services/gift-fraud/staff-access';

const uploadParams = z.object({ id: entityId }).strict();
const newUpload = z
  .object({
    kind: z.enum(MEDIA_KINDS),
    // Any media type is parsed here; whether the kind takes it is the upload rules' refusal (MEDIA_TYPE_NOT_ALLOWED).
    contentType: z.string().max(100).regex(/^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/, 'a media type such as "image/png"'),
    bytes: z.number().int().min(1).max(2 ** 31 - 1),
  })
  .strict();

/**
 * Media uploads (README "Media assets"): start a presigned upload, complete it (the file is
 * checked), read its state. What the file is used for is set where it is used: PATCH /v1/me
 * (avatarKey), PATCH /v1/rooms/:id (coverKey), PUT /v1/staff/gifts/:giftId/animation.
 */
export function mediaRoutes(deps: { uploads: MediaUploadService }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/media/uploads' });
  const me = (ctx: { state: ApiState }) => ctx.state.auth!.userId;

  router.post('/', async (ctx) => {
    const input = parseInput(newUpload, ctx.request.body ?? {});
    const started = await deps.uploads.start(me(ctx), input);
    ctx.status = 201;
    ctx.set('Location', `/v1/media/uploads/${started.uploadId}`);
    ctx.body = started;
  });

  router.get('/:id', async (ctx) => {
    const { id } = parseInput(uploadParams, ctx.params);
    ctx.body = await deps.uploads.get(me(ctx), id);
  });

  router.post('/:id/complete', async (ctx) => {
    const { id } = parseInput(uploadParams, ctx.params);
    parseInput(noBody, ctx.request.body ?? {});
    ctx.body = await deps.uploads.complete(me(ctx), id);
  });

  return router;
}

const giftParams = z.object({ giftId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a gift id such as "rose"') }).strict();
const animationBody = z
  .object({
    key: mediaKey,
    /** Which player an MP4 is for (mp4-alpha or vap); other files have one format. */
    format: z.enum(['svga', 'mp4-alpha', 'vap', 'lottie']).optional(),
  })
  .strict();

/** Staff: a gift's animation becomes an uploaded gift-animation file. */
export function staffMediaRoutes(deps: { staff: StaffAccess; animations: GiftAnimations }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/staff/gifts' });
  router.use(requireStaff(deps.staff));

  router.put('/:giftId/animation', async (ctx) => {
    const { giftId } = parseInput(giftParams, ctx.params);
    const body = parseInput(animationBody, ctx.request.body ?? {});
    ctx.body = await deps.animations.set(ctx.state.auth!.userId, giftId, body);
  });

  return router;
}

/**
 * A URL where a key belongs (`avatarUrl`, `coverUrl`): refused with its own code, so a client
 * still sending the old field learns what to send instead.
 */
export function refuseMediaUrlField(body: unknown, field: string, instead: string): void {
  if (body !== null && typeof body === 'object' && Object.prototype.hasOwnProperty.call(body, field)) {
    throw new AppError(ErrorCode.MediaUrlNotAccepted, `${field} is not accepted: upload the file (POST /v1/media/uploads) and send ${instead}`, {
      field,
      instead,
    });
  }
}
