import type { Context } from 'koa';
import { z } from 'zod';
import { typedText } from '../../domain/input/fields';

/** A device id as apps send it (body `device.id`, header `X-Device-Id`): 8–128 of A–Z a–z 0–9 _ . : - */
export const DEVICE_ID = /^[\w.:-]{8,128}$/;

/**
 * The device a session is opened for. Part of the body schema, so the whole body is checked
 * before anything reaches the OTP flow: a bad device name can never cost the user their code.
 * The name is typed text (the one text rule: no control, invisible or override characters).
 */
export const deviceFields = z
  .object({
    id: z.string().regex(DEVICE_ID, '8 to 128 letters, digits or _ . : -').optional(),
    name: typedText({ min: 1, max: 128 }).optional(),
  })
  .strict()
  .optional();

/** The `X-Device-Id` header when it is a well-formed device id, else nothing (limits keyed by it skip it). */
export function deviceIdHeader(ctx: Pick<Context, 'get'>): string | undefined {
  const id = ctx.get('X-Device-Id');
  return DEVICE_ID.test(id) ? id : undefined;
}
