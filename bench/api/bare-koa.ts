import Koa from 'koa';

/**
 * The ceiling the API is measured against: Koa with one handler answering a small JSON body,
 * no middleware, on the same Node. Started by bench/api/run.ts as its own process; prints
 * `listening <port>` once it listens.
 */
const app = new Koa();
app.use((ctx) => {
  ctx.body = { status: 'ok' };
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening ${typeof address === 'object' && address ? address.port : ''}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
