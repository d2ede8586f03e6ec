import { loadConfig } from '../config';
import { accessTokensFromConfig } from '../platform/auth/access-tokens';
import { BanList } from '../platform/auth/ban-list';
import { stopOnSignals } from '../platform/lifecycle';
import { createLogger } from '../platform/logging';
import { createRedis } from '../platform/redis';
import { createRealtimeEdge } from './edge';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'realtime', level: config.LOG_LEVEL });
  const edge = createRealtimeEdge(
    {
      allowedOrigins: config.REALTIME_ALLOWED_ORIGINS,
      maxMessageBytes: config.REALTIME_MAX_MESSAGE_BYTES,
      allowJsFallback: config.REALTIME_ALLOW_JS_FALLBACK,
    },
    {
      tokens: accessTokensFromConfig(config),
      subscriber: createRedis(config.REDIS_URL, { name: 'aura-realtime-sub' }),
      bans: new BanList(createRedis(config.REDIS_URL, { name: 'aura-realtime' })),
      logger,
    },
  );
  const port = await edge.listen(config.REALTIME_HOST, config.REALTIME_PORT);
  logger.info({ url: `ws://${config.REALTIME_HOST}:${port}/v1/ws` }, 'realtime edge listening');
  stopOnSignals(logger, () => edge.close());
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
