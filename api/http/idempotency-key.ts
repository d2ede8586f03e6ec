import { AppError, ErrorCode } from '../../domain/errors';
import type { ApiContext } from './context';

/** Printable ASCII without spaces, as Stripe accepts (a UUID is typical). */
const KEY = /^[\x21-\x7e]{8,255}$/;

/**
 * The Idempotency-Key header of a request that moves money: required, one value, 8 to 255
 * printable characters. Keys belong to the signed-in user (two users may use the same key).
 */
export function idempotencyKey(ctx: ApiContext): string {
  const raw = ctx.headers['idempotency-key'];
  if (raw === undefined) {
    throw new AppError(ErrorCode.IdempotencyKeyRequired, 'send an Idempotency-Key header (a UUID) so a retry cannot apply twice');
  }
  if (Array.isArray(raw) || raw.includes(',') || !KEY.test(raw)) {
    throw new AppError(ErrorCode.ValidationFailed, 'Idempotency-Key must be one value of 8 to 255 printable characters');
  }
  return raw;
}

/** Answers a kept response, saying whether it is a replay (Stripe's `Idempotent-Replayed`). */
export function answerKept(ctx: ApiContext, response: { status: number; body: unknown; replayed: boolean }): void {
  ctx.status = response.status;
  ctx.body = response.body;
  if (response.replayed) ctx.set('Idempotent-Replayed', 'true');
}
