import type { Middleware } from 'koa';
import type { ApiState } from './context';

/**
 * Headers on every response, errors and 404s included: browsers must not guess a content type
 * (`nosniff`), and nothing we answer may be kept by a cache. Every route but health answers
 * with personal data or a sign-in secret, and a stale health answer is worse than none.
 */
export function securityHeaders(): Middleware<ApiState> {
  return async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'no-store');
    await next();
  };
}
