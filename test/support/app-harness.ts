import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from '@temporalio/worker';
import type { Config } from '../../config';
import { createActivities } from '../../activities';
import { createApiApp, type ApiDeps } from '../../api/app';
import { RedisUserEventPublisher } from '../../platform/events/publisher';
import { DevSmsInbox } from '../../platform/sms/dev-inbox';
import type { SmsSender } from '../../platform/sms/sms-sender';
import type { StorePurchases } from '../../platform/stores/store-purchases';
import { GiftClawbacks } from '../../services/economy/clawback';
import { createLogger, type Logger } from '../../platform/logging';
import { createRedis } from '../../platform/redis';
import { createRealtimeEdge, type EdgeSettings, type RealtimeEdge } from '../../realtime/edge';
import type { RoomLiveState } from '../../db/live/room-live-state';
import { SocketTickets } from '../../platform/auth/socket-tickets';
import { WindowLimiter } from '../../platform/rate-limits/window-limiter';
import { createAccessChecks } from '../../services/bans';
import { createRoomService } from '../../services/rooms';
import { createPlaybackService } from '../../services/playback';
import type { RoomService } from '../../services/rooms/room-service';
import type { MediaAccess } from '../../services/media';
import type { MediaServer } from '../../platform/media/livekit';
import type { RealStack } from './real-stack';
import { workflowBundle } from './time-skipping';
import { NativeConnection } from '@temporalio/worker';

export const testLogger: Logger = createLogger({ name: 'test', level: process.env.LOG_LEVEL ?? 'silent' });

/** The API on an ephemeral port, over the real stack. */
export async function startApi(
  stack: RealStack,
  overrides: Partial<Config> = {},
  logger: Logger = testLogger,
  /**
   * `port`: a fixed port (a LiveKit started to send its webhooks here must know it first);
   * `media`: replaces the configured media server; `videoCatalog`: the provider the playlists ask.
   */
  options: { port?: number; media?: MediaServer | null } & Pick<ApiDeps, 'videoCatalog'> = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const access = createAccessChecks({ config: stack.config, dataSource: stack.dataSource, redis: stack.redis, logger });
  await access.cache.start();
  const app = createApiApp({
    config: { ...stack.config, ...overrides },
    dataSource: stack.dataSource,
    redis: stack.redis,
    temporal: stack.temporal,
    tokens: stack.tokens,
    logger,
    access,
    ...(options.videoCatalog ? { videoCatalog: options.videoCatalog } : {}),
    ...(options.media === undefined ? {} : { media: options.media }),
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(options.port ?? 0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await access.cache.stop();
    },
  };
}

/** A worker with the real activities (Postgres, Redis) on the suite's task queue. */
export async function startWorker(
  stack: RealStack,
  options: { taskQueue?: string; sms?: SmsSender; store?: StorePurchases } = {},
): Promise<{ worker: Worker; stop(): Promise<void> }> {
  const connection = await NativeConnection.connect({ address: stack.config.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: stack.config.TEMPORAL_NAMESPACE,
    taskQueue: options.taskQueue ?? stack.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities({
      dataSource: stack.dataSource,
      redis: stack.redis,
      events: new RedisUserEventPublisher(stack.redis),
      secrets: stack.secrets,
      sms: options.sms ?? new DevSmsInbox(stack.redis),
      codeTtlMinutes: 5,
      store: options.store,
      // As workers/main.ts wires it: a refund reverses the buyer's pending gifts.
      clawbacks: new GiftClawbacks(stack.dataSource, { logger: testLogger }),
    }),
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

/** A realtime edge on an ephemeral port with its own Redis subscriber connection. */
export async function startEdge(
  stack: RealStack,
  settings: Partial<EdgeSettings> = {},
  config: Partial<Config> = {},
  /** Media join tokens in snapshot frames (off unless given, as for an edge with no LIVEKIT_URL). */
  options: { media?: MediaAccess | null } = {},
): Promise<{ url: string; edge: RealtimeEdge; rooms: RoomService; live: RoomLiveState; close(): Promise<void> }> {
  const { rooms, live, connections } = createRoomService({ config: { ...stack.config, ...config }, dataSource: stack.dataSource, redis: stack.redis });
  const playback = createPlaybackService({ config: { ...stack.config, ...config }, dataSource: stack.dataSource, live, rooms });
  const access = createAccessChecks({ config: stack.config, dataSource: stack.dataSource, redis: stack.redis, logger: testLogger });
  await access.cache.start();
  const edge = createRealtimeEdge(
    {
      allowedOrigins: ['https://app.aura.test'],
      maxMessageBytes: 4096,
      allowJsFallback: false,
      ...settings,
    },
    {
      tokens: stack.tokens,
      subscriber: createRedis(stack.config.REDIS_URL, { name: 'test-edge-sub' }),
      bans: access.bans,
      revokedSessions: access.revokedSessions,
      rooms,
      connections,
      playback,
      tickets: new SocketTickets(stack.redis, stack.config.REALTIME_TICKET_TTL_SECONDS),
      limiter: new WindowLimiter(stack.redis),
      media: options.media ?? null,
      logger: testLogger,
    },
  );
  const port = await edge.listen('127.0.0.1', 0);
  const close = async () => {
    await edge.close();
    await access.cache.stop();
  };
  return { url: `ws://127.0.0.1:${port}/v1/ws`, edge, rooms, live, close };
}
