import bodyParser from '@koa/bodyparser';
import Router from '@koa/router';
import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import Koa from 'koa';
import type { DataSource } from 'typeorm';
import type { Config } from '../config';
import { UserDirectory } from '../db/repositories/users';
import { DEFAULT_DAILY_REWARD_POLICY, validatePolicy, type DailyRewardPolicy } from '../domain/daily-reward/cycle';
import type { AccessTokens } from '../platform/auth/access-tokens';
import type { Logger } from '../platform/logging';
import { identityRoutes, socialSignInRoutes } from './auth/social-routes';
import { RedisUserEventPublisher } from '../platform/events/publisher';
import { createMetrics, type Metrics } from '../platform/metrics';
import { announcingRevocations } from '../platform/auth/revoked-sessions';
import { createAccessChecks, type AccessChecks } from '../services/bans';
import { refuseBannedClients } from './auth/bans';
import { deviceIdHeader } from './auth/device-fields';
import { authRoutes, sessionRoutes } from './auth/routes';
import { createAuthServices } from '../services/auth';
import { DailyRewardFlows } from '../services/daily-reward/flow-client';
import { meRoutes } from './me/routes';
import { rechargeRoutes } from './wallet/recharge-routes';
import { RechargeService } from '../services/recharge/recharge-service';
import { PhoneSecrets } from '../platform/crypto/phone-secrets';
import { roomRoutes } from './rooms/routes';
import { playlistRoutes } from './rooms/playlist-routes';
import { createPlaybackService } from '../services/playback';
import type { VideoCatalog } from '../platform/media/video-catalog';
import { createRoomService } from '../services/rooms';
import { relationRoutes } from './relations/routes';
import { profileRoutes } from './profiles/routes';
import { PublicProfiles } from '../db/repositories/profiles';
import { ProfileService } from '../services/profiles/profile-service';
import { giftRoutes } from './gifts/routes';
import { createGiftCatalog, ViewerRegions, type GiftCatalog } from '../services/gifts';
import { realtimeRoutes } from './realtime/routes';
import { StaffMembers } from '../db/repositories/gift-fraud';
import { GiftFraudReviews, type ReceiptReversal } from '../services/gift-fraud/review';
import { GiftReceipts } from '../db/repositories/gift-receipts';
import type { ReversedReceipt } from '../services/economy/clawback';
import { StaffAccess } from '../services/gift-fraud/staff-access';
import { staffRoutes } from './staff/routes';
import { SocketTickets } from '../platform/auth/socket-tickets';
import { dailyRewardRoutes } from './daily-reward/routes';
import { RoomDirectory } from '../db/repositories/rooms';
import { createGiftRankings, reversalReceipts } from '../services/rankings';
import { RankingPages } from '../services/rankings/ranking-pages';
import { rankingRoutes } from './rankings/routes';
import { createGiftAnnouncer, type GiftAnnouncer } from '../services/gifts/announcer';
import type { CommittedGift } from '../services/gifts/gift-service';
import { createEconomyServices } from '../services/wallet';
import { createProgressEvents, giftProgress, type ProgressEvents } from '../services/progress';
import { walletRoutes } from './wallet/routes';
import { cpRoutes } from './cp/routes';
import { CpService, cpSettingsFromConfig, createCpParts } from '../services/cp';
import { ReplayableRequests } from '../services/idempotency/replayable-requests';
import { giftSendRoutes } from './gifts/send-routes';
import { healthRoutes, liveness } from './health/routes';
import { requireAccessToken } from './http/auth';
import type { ApiState } from './http/context';
import { errorResponses } from './http/errors';
import { rateLimit } from './http/rate-limit';
import { requestId } from './http/request-id';
import { securityHeaders } from './http/security-headers';
import { answerUnparseableRequests, refuseWhatWeDoNotSpeak, requireObjectBodies } from './http/request-shell';
import { objectStoreFromConfig, type ObjectStore } from '../platform/storage/object-store';
import { WindowLimiter } from '../platform/rate-limits/window-limiter';
import { MediaUploads } from '../db/repositories/media-uploads';
import { publicMediaUrl } from '../domain/media/assets';
import { MediaAttachments } from '../services/media/attachments';
import { MediaUploadService } from '../services/media/uploads';
import { GiftAnimations } from '../services/media/gift-animations';
import { mediaRoutes, staffMediaRoutes } from './media/routes';
import { mediaServerFromConfig, type MediaServer } from '../platform/media/livekit';
import { createMediaPresence, mediaAccessFromConfig } from '../services/media';
import { mediaTokenRoutes, mediaWebhookRoutes } from './media/livekit-routes';
import { LevelAnnouncer } from '../services/levels/level-announcer';
import { MedalService } from '../services/medals/medal-service';
import { levelTableRoutes, myLevelRoutes } from './levels/routes';
import { medalCatalogueRoutes, myMedalRoutes } from './medals/routes';
import { createReferralServices } from '../services/referrals';
import { referralRoutes } from './referrals/routes';
import { notificationRoutes } from './notifications/routes';
import { FollowNotices, notifierFromConfig, type Notifier } from '../services/notifications';
import { ProgressNotices } from '../services/notifications/progress-notices';
import { vipRoutes } from './vip/routes';
import { VipService } from '../services/vip/vip-service';
import { VipFlows } from '../services/vip/flow-client';
import { DEFAULT_VIP_POLICY, validateVipPolicy, type VipPolicy } from '../domain/vip/flow';

export interface ApiDeps {
  config: Config;
  dataSource: DataSource;
  redis: Redis;
  temporal: Client;
  tokens: AccessTokens;
  logger: Logger;
  metrics?: Metrics;
  /** Ban and session checks with this process's started in-memory copy; without it every check asks Redis/PostgreSQL. */
  access?: AccessChecks;
  /** The gift catalog, started (background refresh); without it the app builds one that refreshes when read. */
  gifts?: GiftCatalog;
  /** Replaces how staff review reverses held receipts (tests inject a failing one). */
  receiptReversal?: ReceiptReversal;
  /** Announces committed gifts to rooms and receivers; api/main.ts flushes its pending combo updates at shutdown. */
  giftAnnouncer?: GiftAnnouncer;
  /** Where rooms' playlists learn what a video is (YouTube); absent: adding a video answers VIDEO_CATALOG_NOT_CONFIGURED. */
  videoCatalog?: VideoCatalog;
  /** The media store (avatars, covers, gift animations); default: the one the S3_* settings name. */
  objectStore?: ObjectStore;
  /** The media server (LiveKit); undefined: from config; null: none (rooms work silent). */
  media?: MediaServer | null;
  /** Where claims, gifts and sign-ins are told to status features; default: this process's own, with the medal listener. */
  progress?: ProgressEvents;
  /** How features notify users; default: from config (with push when FCM is configured). */
  notifier?: Notifier;
}

/** What a committed send adds to the rankings: one receipt per receiver, at the send's time. */
function receiptsOf(gift: CommittedGift) {
  return gift.receivers.map((r) => ({ senderId: gift.senderId, receiverId: r.userId, roomId: gift.roomId, coins: r.coins, diamonds: r.diamonds, at: gift.at }));
}


const MINUTE = 60_000;

/** The HTTP API: thin routes over Postgres, Redis and Temporal, all under /v1. */
export function createApiApp(deps: ApiDeps): Koa<ApiState> {
  const { config, logger } = deps;
  const app = new Koa<ApiState>({ proxy: config.API_TRUSTED_PROXIES > 0, maxIpsCount: config.API_TRUSTED_PROXIES });
  app.silent = true; // errors are logged once, by errorResponses

  const users = new UserDirectory(deps.dataSource);
  const rewardPolicy: DailyRewardPolicy = {
    ...DEFAULT_DAILY_REWARD_POLICY,
    coinsByDay: config.DAILY_REWARD_COINS,
    reminderLeadHours: config.DAILY_REWARD_REMINDER_LEAD_HOURS,
  };
  const policyProblems = validatePolicy(rewardPolicy);
  if (policyProblems.length) throw new Error(`invalid daily-reward configuration: ${policyProblems.join('; ')}`);
  const flows = new DailyRewardFlows(deps.temporal, config.TEMPORAL_TASK_QUEUE, rewardPolicy);
  // Referrals: attribution at sign-up, and nudges of referees' flows from sign-ins and claims.
  const referrals = createReferralServices({ config, dataSource: deps.dataSource, redis: deps.redis, temporal: deps.temporal, logger });

  const metrics = deps.metrics ?? createMetrics();
  const access = deps.access ?? createAccessChecks({ config, dataSource: deps.dataSource, redis: deps.redis, logger });
  const bans = access.bans;
  // Revocations announced here also reach this process's in-memory copy at once.
  const userEvents = announcingRevocations(new RedisUserEventPublisher(deps.redis), access.revokedSessions);
  // Levels and medals: medals award from progress events (and the worker's periodic re-check);
  // level-ups a gift send raised are announced after it commits.
  const notifier = deps.notifier ?? notifierFromConfig({ config, dataSource: deps.dataSource, events: userEvents });
  const medals = new MedalService({ dataSource: deps.dataSource, notifier, settings: { displaySlots: config.MEDAL_DISPLAY_SLOTS }, logger });
  // Gifts received and rewards claimed are also told to the user (a row, the socket, a push).
  const progress = deps.progress ?? createProgressEvents({ logger, listeners: [medals, referrals.nudges, new ProgressNotices(notifier)] });
  const levelAnnouncer = new LevelAnnouncer({ dataSource: deps.dataSource, notifier, events: userEvents, progress, logger });
  const { sessions, signIn, social } = createAuthServices({ ...deps, metrics, bans, events: userEvents });

  const gifts = deps.gifts ?? createGiftCatalog({ ...deps, registry: metrics.registry });

  // Media assets: files go straight to the object store by presigned URL; PostgreSQL keeps the record.
  const objectStore = deps.objectStore ?? objectStoreFromConfig(config);
  const mediaUrl = (key: string) => publicMediaUrl(config.MEDIA_CDN_BASE_URL, key);
  const mediaUploads = new MediaUploads(deps.dataSource);
  const mediaAttachments = new MediaAttachments({ uploads: mediaUploads, store: objectStore, logger });
  const staffAccess = new StaffAccess(new StaffMembers(deps.dataSource));

  const publicRoutes = healthRoutes(deps);
  publicRoutes.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });

  // Sign-in limits must not lock out a carrier's NAT: the number (in the OTP flow and the
  // lockouts) and the device carry the weight; per IP is a coarse backstop, and token refresh,
  // which every active user does every 15 minutes, has a bucket of its own.
  const signInLimit = rateLimit({
    redis: deps.redis,
    name: 'auth-ip',
    max: config.RATE_LIMIT_AUTH_IP_PER_10_MINUTES,
    durationMs: 10 * MINUTE,
    key: (ctx) => ctx.ip,
    logger,
    whenRedisIsDown: 'closed', // every code sent is a paid SMS
  });
  const signInRoutes = authRoutes({
    signIn,
    signInLimit,
    otpDeviceLimit: rateLimit({
      redis: deps.redis,
      name: 'otp-device',
      max: config.RATE_LIMIT_OTP_DEVICE_PER_HOUR,
      durationMs: 60 * MINUTE,
      key: (ctx) => deviceIdHeader(ctx) ?? false,
      logger,
    }),
    refreshLimit: rateLimit({
      redis: deps.redis,
      name: 'refresh-ip',
      max: config.RATE_LIMIT_REFRESH_IP_PER_MINUTE,
      durationMs: MINUTE,
      key: (ctx) => ctx.ip,
      logger,
      whenRedisIsDown: 'closed',
    }),
    progress,
    referrals: referrals.attribution,
  });
  const socialRoutes = socialSignInRoutes({ social, signInLimit, progress, referrals: referrals.attribution });

  const userRoutes = new Router<ApiState>();
  userRoutes.use(requireAccessToken(deps.tokens, access.revokedSessions, bans));
  userRoutes.use(
    rateLimit({
      redis: deps.redis,
      name: 'user',
      max: config.RATE_LIMIT_USER_PER_MINUTE,
      durationMs: MINUTE,
      key: (ctx) => ctx.state.auth?.userId ?? false,
      logger,
      whenRedisIsDown: 'local',
    }),
  );
  const vipPolicy: VipPolicy = { ...DEFAULT_VIP_POLICY, reminderLeadHours: config.VIP_REMINDER_LEAD_HOURS };
  const vipProblems = validateVipPolicy(vipPolicy);
  if (vipProblems.length) throw new Error(`invalid VIP configuration: ${vipProblems.join('; ')}`);
  const vip = new VipService({
    dataSource: deps.dataSource,
    requests: new ReplayableRequests(deps.dataSource),
    timer: new VipFlows(deps.temporal, config.TEMPORAL_TASK_QUEUE, vipPolicy),
    policy: vipPolicy,
    progress,
    events: userEvents,
    logger,
  });
  userRoutes.use(dailyRewardRoutes({ flows, users, dataSource: deps.dataSource, progress, vipPerks: vip }).routes());
  userRoutes.use(vipRoutes({ vip }).routes());
  userRoutes.use(sessionRoutes({ sessions }).routes());
  userRoutes.use(
    meRoutes({ dataSource: deps.dataSource, avatars: mediaAttachments, mediaUrl, dailyReward: flows, profileCacheMs: config.PROFILE_CACHE_MS }).routes(),
  );
  userRoutes.use(
    mediaRoutes({
      uploads: new MediaUploadService({
        uploads: mediaUploads,
        store: objectStore,
        limiter: new WindowLimiter(deps.redis),
        settings: {
          urlTtlSeconds: config.MEDIA_UPLOAD_URL_TTL_SECONDS,
          pendingGraceMs: config.MEDIA_PENDING_GRACE_SECONDS * 1000,
          perUserPerHour: config.MEDIA_UPLOADS_PER_USER_PER_HOUR,
        },
        isStaff: (userId) =>
          staffAccess.require(userId).then(
            () => true,
            (err: unknown) => {
              if ((err as { code?: unknown }).code === 'STAFF_REQUIRED') return false;
              throw err;
            },
          ),
        logger,
      }),
    }).routes(),
  );
  userRoutes.use(identityRoutes({ social }).routes());
  const roomServices = createRoomService({ ...deps, metricsRegistry: metrics.registry, store: objectStore });
  userRoutes.use(roomRoutes({ rooms: roomServices.rooms, notifier, logger }).routes());
  const playback = createPlaybackService({ config, dataSource: deps.dataSource, live: roomServices.live, rooms: roomServices.rooms, catalog: deps.videoCatalog, logger });
  userRoutes.use(playlistRoutes({ playback }).routes());
  const media = deps.media === undefined ? mediaServerFromConfig(config) : deps.media;
  const mediaAccess = mediaAccessFromConfig(config, media);
  if (mediaAccess) userRoutes.use(mediaTokenRoutes({ access: mediaAccess, rooms: roomServices.rooms }).routes());
  userRoutes.use(profileRoutes({ profiles: new ProfileService(new PublicProfiles(deps.dataSource, { mediaUrl })), badges: roomServices.badges }).routes());
  userRoutes.use(relationRoutes({ dataSource: deps.dataSource, follows: new FollowNotices({ dataSource: deps.dataSource, notifier, logger }) }).routes());
  userRoutes.use(notificationRoutes({ dataSource: deps.dataSource }).routes());
  // One per process: it keeps the boards a failed write left to rebuild (the gift send records into it too).
  const rankings = createGiftRankings({ redis: deps.redis, dataSource: deps.dataSource, logger, metricsRegistry: metrics.registry });
  userRoutes.use(rankingRoutes({ pages: new RankingPages({ rankings, users, rooms: new RoomDirectory(deps.dataSource, { mediaUrl }) }) }).routes());
  userRoutes.use(referralRoutes({ attribution: referrals.attribution, records: referrals.records, leaderboard: referrals.leaderboard, users }).routes());
  userRoutes.use(giftRoutes({ catalog: gifts, regions: new ViewerRegions(deps.dataSource, gifts, logger) }).routes());
  const giftReceipts = new GiftReceipts(deps.dataSource);
  const cp = createCpParts({ dataSource: deps.dataSource, redis: deps.redis, temporal: deps.temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, logger });
  const giftAnnouncer = deps.giftAnnouncer ?? createGiftAnnouncer({ config, redis: deps.redis, live: roomServices.live, logger, metricsRegistry: metrics.registry });
  const economy = createEconomyServices({
    config,
    dataSource: deps.dataSource,
    live: roomServices.live,
    catalog: gifts,
    // CP intimacy: gifts between partners raise their pair's intimacy and weekly CP score.
    listeners: [giftAnnouncer, { giftCommitted: (gift) => rankings.record(receiptsOf(gift)) }, giftProgress(progress), levelAnnouncer.giftListener(), cp.intimacy],
    onRefused: (code) => metrics.giftRefusals.inc({ code }),
    onListenerError: (err) => logger.warn({ err }, 'after a gift committed, telling the room or the rankings failed'),
  });
  userRoutes.use(walletRoutes({ wallet: economy.wallet }).routes());
  userRoutes.use(myLevelRoutes({ dataSource: deps.dataSource }).routes());
  userRoutes.use(myMedalRoutes({ medals }).routes());
  userRoutes.use(giftSendRoutes({ gifts: economy.gifts }).routes());
  userRoutes.use(
    cpRoutes({
      cp: new CpService({
        dataSource: deps.dataSource,
        catalog: gifts,
        requests: new ReplayableRequests(deps.dataSource),
        flows: cp.flows,
        rankings: cp.rankings,
        users,
        settings: cpSettingsFromConfig(config),
        logger,
      }),
    }).routes(),
  );
  userRoutes.use(
    rechargeRoutes({
      recharges: new RechargeService({
        dataSource: deps.dataSource,
        temporal: deps.temporal,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        secrets: new PhoneSecrets(config.OTP_SECRET, config.PHONE_ENCRYPTION_KEY),
        waitMs: config.RECHARGE_WAIT_MS,
      }),
    }).routes(),
  );
  userRoutes.use(realtimeRoutes({ tickets: new SocketTickets(deps.redis, config.REALTIME_TICKET_TTL_SECONDS) }).routes());
  userRoutes.use(
    staffRoutes({
      staff: staffAccess,
      reviews: new GiftFraudReviews({
        dataSource: deps.dataSource,
        // A rejected flag reverses its held receipts (senders refunded) and the rankings subtract them;
        // a released one settles at once what has passed its hold.
        reversal: deps.receiptReversal ?? {
          reverse: (tx, ids, reason) => giftReceipts.reverseReceipts(tx, ids, reason),
          committed: (reversed) => rankings.subtract(reversalReceipts(reversed as ReversedReceipt[])),
        },
        settlement: { settleNow: (tx, ids) => giftReceipts.settleReceiptsNow(tx, ids) },
        metrics,
      }),
    }).routes(),
  );

  userRoutes.use(
    staffMediaRoutes({
      staff: staffAccess,
      animations: new GiftAnimations({ dataSource: deps.dataSource, uploads: mediaUploads, attachments: mediaAttachments, store: objectStore, catalog: gifts }),
    }).routes(),
  );

  // Reference data anyone may read (the app shows them before sign-in too).
  const referenceRoutes = new Router<ApiState>();
  referenceRoutes.use(levelTableRoutes().routes());
  referenceRoutes.use(medalCatalogueRoutes({ medals }).routes());

  const v1 = new Router<ApiState>({ prefix: '/v1' });
  v1.use(publicRoutes.routes(), publicRoutes.allowedMethods());
  v1.use(referenceRoutes.routes(), referenceRoutes.allowedMethods());
  // Not thrown: the routers then set the Allow header on a 405, and errorResponses adds the body.
  v1.use(signInRoutes.routes(), signInRoutes.allowedMethods());
  v1.use(socialRoutes.routes(), socialRoutes.allowedMethods());
  v1.use(userRoutes.routes(), userRoutes.allowedMethods());

  app.use(securityHeaders());
  app.use(liveness()); // first: it must answer while Redis or PostgreSQL does not
  app.use(requestId(logger));
  app.use(errorResponses(logger));
  if (mediaAccess) {
    // Ahead of the JSON-only shell, the per-IP limit (every webhook comes from the SFU's address)
    // and the body parser: the signature covers the raw body. Unsigned requests cost one HMAC check.
    const presence = createMediaPresence({ access: mediaAccess, live: roomServices.live, logger, registry: metrics.registry });
    app.use(mediaWebhookRoutes({ media: mediaAccess.media, presence }).routes());
  }
  app.use(refuseWhatWeDoNotSpeak());
  app.use(
    rateLimit({
      redis: deps.redis,
      name: 'ip',
      max: config.RATE_LIMIT_IP_PER_MINUTE,
      durationMs: MINUTE,
      key: (ctx) => (ctx.path === '/v1/healthz' ? false : ctx.ip),
      logger,
      whenRedisIsDown: 'local', // per process meanwhile: an outage neither opens the door nor takes routes down
    }),
  );
  app.use(refuseBannedClients(bans, { except: ['/v1/healthz', '/v1/readyz'] }));
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', encoding: 'utf-8' }));
  app.use(requireObjectBodies());
  app.use(v1.routes());
  app.use(v1.allowedMethods());
  // Whoever starts the server (api/main.ts, the tests) gets the shell's answer to requests
  // Node's parser refuses before Koa sees them.
  const listen = app.listen.bind(app);
  app.listen = ((...args: Parameters<typeof listen>) => answerUnparseableRequests(listen(...args))) as typeof app.listen;
  return app;
}
