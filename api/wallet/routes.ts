import Router from '@koa/router';
import { z } from 'zod';
import type { WalletService } from '../../services/wallet/wallet-service';
import type { ApiState } from '../http/context';
import { answerKept, idempotencyKey } from '../http/idempotency-key';
import { pageQuery } from '../http/paging';
import { noBody, parseInput } from '../http/validate';

const transactionsQuery = pageQuery.extend({ currency: z.enum(['coins', 'diamonds', 'coins_owed']).optional() });
const exchangeBody = z.object({ diamonds: z.number().int().positive().max(1_000_000_000) }).strict();

/** The signed-in user's wallet: balances, the ledger's history, and exchanges. */
export function walletRoutes(deps: { wallet: WalletService }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/wallet' });
  const me = (ctx: { state: ApiState }) => ctx.state.auth!.userId;

  router.get('/', async (ctx) => {
    parseInput(noBody, ctx.query);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await deps.wallet.view(me(ctx));
  });

  router.get('/transactions', async (ctx) => {
    const page = parseInput(transactionsQuery, ctx.query);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await deps.wallet.transactions(me(ctx), page);
  });

  router.post('/exchanges', async (ctx) => {
    const input = parseInput(exchangeBody, ctx.request.body ?? {});
    const key = idempotencyKey(ctx);
    answerKept(ctx, await deps.wallet.exchange(me(ctx), input.diamonds, key));
  });

  return router;
}
