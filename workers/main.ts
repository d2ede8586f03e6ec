import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { createWorkerMetrics } from '../platform/metrics';
import { Runtime } from '@temporalio/worker';
import { loadConfig } from '../config';
import { createDataSource } from '../db/data-source';
import { PhoneSecrets } from '../platform/crypto/phone-secrets';
import { RedisUserEventPublisher } from '../platform/events/publisher';
import { smsSenderFromConfig } from '../platform/sms/from-config';
import { googlePlayFromConfig } from '../platform/stores/from-config';
import { createLogger, temporalLogger } from '../platform/logging';
import { createRedis } from '../platform/redis';
import { connectTemporalClient } from '../platform/temporal';
import { createAuraWorker } from './create-worker';
import { ensureSchedules } from './schedules';
import { GiftClawbacks } from '../services/economy/clawback';
import { createGiftRankings, rankingsReversalListener } from '../services/rankings';
import { RoomLiveState } from '../db/live/room-live-state';
import { liveStateSettingsFromConfig } from '../services/rooms';
import { createSeatBinder, mediaAccessFromConfig } from '../services/media';
import { createProgressEvents } from '../services/progress';
import { MedalService } from '../services/medals/medal-service';
import { createReferralServices } from '../services/referrals';
import { notifierFromConfig, pushDrainFromConfig } from '../services/notifications';
import { createCpParts } from '../services/cp';

/** GET /metrics for Prometheus; anything else 404. */
function serveMetrics(registry: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  const metrics = createWorkerMetrics();
  const logger = createLogger({ name: 'worker', level: config.LOG_LEVEL });
  // The SDK's own logs (worker, activities, workflows) get the same redaction as ours.
  Runtime.install({ logger: temporalLogger(logger) });
  const dataSource = await createDataSource({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE, applicationName: 'aura-worker' }).initialize();
  const redis = createRedis(config.REDIS_URL, { name: 'aura-worker' });
  // A client for what activities start (settlement flows) and for the schedules.
  const temporal = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  const events = new RedisUserEventPublisher(redis);
  // Reminders, level-ups, medals and payouts reach the list, the socket and, with FCM, phones.
  const notifier = notifierFromConfig({ config, dataSource, events });
  const medals = new MedalService({ dataSource, notifier, settings: { displaySlots: config.MEDAL_DISPLAY_SLOTS }, logger });
  // Referral payouts count on the leaderboards; credited recharges nudge referees' flows.
  const referrals = createReferralServices({ config, dataSource, redis, temporal, logger });
  // Credited recharges are told to status features: medals award, referral flows are nudged.
  const progress = createProgressEvents({ logger, listeners: [medals, referrals.nudges] });
  const ringRankings = createGiftRankings({ redis, dataSource, logger });
  const { worker, connection } = await createAuraWorker(
    {
      address: config.TEMPORAL_ADDRESS,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      workflowBundlePath: config.WORKFLOW_BUNDLE_PATH,
    },
    {
      dataSource,
      redis,
      events,
      notifier,
      statusLogger: logger,
      secrets: new PhoneSecrets(config.OTP_SECRET, config.PHONE_ENCRYPTION_KEY),
      sms: smsSenderFromConfig(config, redis),
      codeTtlMinutes: Math.round(config.OTP_CODE_TTL_SECONDS / 60),
      temporal,
      // Unset: recharges wait (and are retried) until a service account is configured.
      store: googlePlayFromConfig(config),
      // A refund reverses the buyer's gifts still in their hold; the rankings subtract them.
      clawbacks: new GiftClawbacks(dataSource, {
        logger,
        listener: rankingsReversalListener(createGiftRankings({ redis, dataSource, logger })),
      }),
      giftMetrics: metrics,
      progress,
      referralLeaderboard: referrals.leaderboard,
      // Only the crash test sets this; it makes the worker die right after a credit commits.
      crashAfterCreditCommit: process.env.AURA_FAULT_CRASH_AFTER_CREDIT === '1' && config.NODE_ENV !== 'production',
      // CP: the ring's receipt follows the gift hold; accepts check the break-up cooldown.
      cp: { holdMs: config.GIFT_SETTLEMENT_HOLD_HOURS * 3_600_000, cooldownDays: config.CP_BREAKUP_COOLDOWN_DAYS, taskQueue: config.TEMPORAL_TASK_QUEUE },
      // A ring given when a pair forms counts on the gift rankings like any gift (it has no room).
      ringGiven: (ring) =>
        ringRankings.record([{ senderId: ring.senderId, receiverId: ring.receiverId, roomId: null, coins: ring.coins, diamonds: ring.diamonds, at: ring.at }]),
      // Only the CP crash test sets this: the worker dies right after an accept or refund commits.
      crashAfterCpCommit: process.env.AURA_FAULT_CRASH_AFTER_CP_COMMIT === '1' && config.NODE_ENV !== 'production',
    },
    logger,
  );
  const metricsServer = config.WORKER_METRICS_PORT === undefined ? null : await serveMetrics(metrics.registry, config.API_HOST, config.WORKER_METRICS_PORT);
  if (metricsServer) logger.info({ url: `http://${config.API_HOST}:${config.WORKER_METRICS_PORT}/metrics` }, 'worker metrics listening');
  const schedules = await ensureSchedules(temporal, config);
  logger.info({ schedules }, 'schedules ensured');
  // The seat binder lives here: the worker runs in every deployment but not once per edge or API
  // process (each would apply every room's events again, multiplying the SFU calls by the
  // number of processes), it already owns the background jobs, and none of its work is on a
  // request's path. Several workers each apply the same events: harmless, since every decision
  // is re-read from the live seat grid and a permission update to the same value is a no-op.
  const mediaAccess = mediaAccessFromConfig(config);
  const seatBinder = mediaAccess
    ? createSeatBinder({
        config,
        access: mediaAccess,
        live: new RoomLiveState(redis, liveStateSettingsFromConfig(config)),
        subscriber: createRedis(config.REDIS_URL, { name: 'aura-worker-media-sub' }),
        logger: logger.child({ component: 'seat-binder' }),
        registry: metrics.registry,
      })
    : null;
  await seatBinder?.start();
  if (seatBinder) logger.info({ url: config.LIVEKIT_URL }, 'seat binder following the seat grid on the media server');
  // The push outbox is drained here, never on a request's path: notifying only queues the push.
  // Every worker drains (claims skip each other's rows); without FCM configured, none.
  const pushDrain = pushDrainFromConfig({ config, dataSource, logger: logger.child({ component: 'push-drain' }), registry: metrics.registry });
  pushDrain?.start();
  if (pushDrain) logger.info({ url: config.FCM_API_URL }, 'push drain sending queued notifications through FCM');
  // Worker.run() handles SIGINT/SIGTERM itself: it stops polling and drains in-flight tasks.
  await worker.run();
  await pushDrain?.stop();
  // The CP repair pass: flows a crash left unstarted, lost cancel signals, uncounted partner gifts.
  const cpSweeper = createCpParts({ dataSource, redis, temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, logger }).sweeper;
  cpSweeper.start(config.CP_SWEEP_SECONDS * 1000);
  // Worker.run() handles SIGINT/SIGTERM itself: it stops polling and drains in-flight tasks.
  await worker.run();
  await cpSweeper.stop();
  await seatBinder?.stop();
  await connection.close();
  metricsServer?.close();
  await temporal.connection.close();
  redis.disconnect();
  await dataSource.destroy();
  logger.info('worker stopped');
}

main().catch((err: unknown) => {
  createLogger({ name: 'worker' }).fatal({ err }, 'worker failed');
  process.exit(1);
});
