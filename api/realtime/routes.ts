import Router from '@koa/router';
import type { SocketTickets } from '../../platform/auth/socket-tickets';
import type { ApiState } from '../http/context';
import { noBody, parseInput } from '../http/validate';

const DEVICE_ID = /^[\w.:-]{8,128}$/;

/**
 * `POST /v1/realtime/tickets`: a single-use ticket for `wss://…/v1/ws?ticket=…`, so a browser
 * opens its socket without putting the access token in the URL (see docs/realtime-protocol.md).
 */
export function realtimeRoutes(deps: { tickets: SocketTickets }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/realtime' });

  router.post('/tickets', async (ctx) => {
    parseInput(noBody, ctx.request.body ?? {});
    const auth = ctx.state.auth!;
    const device = ctx.get('X-Device-Id');
    const ticket = await deps.tickets.issue({
      userId: auth.userId,
      sessionId: auth.sessionId,
      expiresAt: auth.expiresAt,
      deviceId: DEVICE_ID.test(device) ? device : undefined,
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 201;
    ctx.body = { ticket, expiresIn: deps.tickets.expiresIn };
  });

  return router;
}
