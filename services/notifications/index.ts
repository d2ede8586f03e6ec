import type { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import type { Config } from '../../config';
import type { UserEventPublisher } from '../../platform/events/publisher';
import type { Logger } from '../../platform/logging';
import { fcmFromConfig, pushConfigured } from '../../platform/push/from-config';
import type { PushSender } from '../../platform/push/push-sender';
import { InboxNotifier, type Notifier } from './notifier';
import { PushDrain } from './push-drain';
import { PushingNotifier } from './pushing-notifier';

export { FollowNotices } from './follow-notices';
export { InboxNotifier, NOTIFICATION_KINDS, type Notice, type NotificationKind, type Notifier } from './notifier';
export { PushDrain, type PushResult } from './push-drain';
export { PushingNotifier } from './pushing-notifier';

/**
 * The notifier a process uses: with FCM configured (FCM_SERVICE_ACCOUNT_FILE), rows plus queued
 * pushes; without, rows and socket events only, and no push is queued (nothing would send it).
 * API and worker decide alike from the same setting.
 */
export function notifierFromConfig(deps: { config: Pick<Config, 'FCM_SERVICE_ACCOUNT_FILE'>; dataSource: DataSource; events?: UserEventPublisher }): Notifier {
  return pushConfigured(deps.config) ? new PushingNotifier(deps.dataSource, deps.events) : new InboxNotifier(deps.dataSource, deps.events);
}

/** The worker's push drain, or null without FCM. `sender` replaces the configured client (tests). */
export function pushDrainFromConfig(deps: { config: Config; dataSource: DataSource; logger: Logger; registry?: Registry; sender?: PushSender }): PushDrain | null {
  const sender = deps.sender ?? fcmFromConfig(deps.config, deps.logger);
  if (!sender) return null;
  const { config } = deps;
  return new PushDrain({
    dataSource: deps.dataSource,
    sender,
    logger: deps.logger,
    registry: deps.registry,
    settings: {
      batch: config.PUSH_DRAIN_BATCH,
      concurrency: config.PUSH_DRAIN_CONCURRENCY,
      intervalMs: config.PUSH_DRAIN_INTERVAL_MS,
      // Longer than one send can take: every attempt at its timeout plus the retry waits (at most 10 s each).
      leaseMs: config.FCM_ATTEMPTS * (config.FCM_TIMEOUT_MS + 10_000) + 30_000,
      retry: {
        firstDelayMs: 15_000,
        maxDelayMs: 15 * 60_000,
        maxRounds: config.PUSH_MAX_ROUNDS,
        maxAgeMs: config.PUSH_MAX_AGE_SECONDS * 1000,
      },
    },
  });
}
