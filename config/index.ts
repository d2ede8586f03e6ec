import { z } from 'zod';

/**
 * One typed configuration, read once from the environment. Every bad variable is
 * reported at once so a misconfigured deployment fails at start, not at first use.
 */
const port = z.coerce.number().int().min(0).max(65535);
const csv = z
  .string()
  .transform((s) => s.split(',').map((part) => part.trim()).filter(Boolean));

const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),

    DATABASE_URL: z.string().url().default('postgres://aura:aura@127.0.0.1:54320/aura'),
    /** Per process. The gift send holds a connection for its whole transaction: 10 left requests queuing (bench:gifts). */
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(20),
    REDIS_URL: z.string().url().default('redis://127.0.0.1:63790/0'),

    TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
    TEMPORAL_NAMESPACE: z.string().default('default'),
    TEMPORAL_TASK_QUEUE: z.string().default('aura-main'),
    /** Prebuilt workflow bundle for production workers; development bundles from source. */
    WORKFLOW_BUNDLE_PATH: z.string().optional(),

    API_HOST: z.string().default('127.0.0.1'),
    API_PORT: port.default(3000),
    /** Number of proxies in front of the API whose X-Forwarded-For may be trusted. */
    API_TRUSTED_PROXIES: z.coerce.number().int().min(0).default(0),
    /** A backstop per address, sized for a carrier NAT (about 150 active users at 20 requests a minute); per user is the real limit. */
    RATE_LIMIT_IP_PER_MINUTE: z.coerce.number().int().min(1).default(3000),
    RATE_LIMIT_USER_PER_MINUTE: z.coerce.number().int().min(1).default(120),

    /** The worker's Prometheus endpoint (GET /metrics on API_HOST); unset: none (tests start several workers). */
    WORKER_METRICS_PORT: port.optional(),
    REALTIME_HOST: z.string().default('127.0.0.1'),
    REALTIME_PORT: port.default(3001),
    REALTIME_ALLOWED_ORIGINS: csv.default(['http://localhost:8233']),
    REALTIME_MAX_MESSAGE_BYTES: z.coerce.number().int().min(256).max(1024 * 1024).default(16 * 1024),
    /** The uWebSockets.js package silently falls back to a slow pure-JS server; refuse that unless allowed. */
    REALTIME_ALLOW_JS_FALLBACK: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    /** Bytes queued for one slow socket before it is told to resume (close 4008). */
    REALTIME_MAX_BACKPRESSURE_BYTES: z.coerce.number().int().min(16 * 1024).default(256 * 1024),
    REALTIME_MESSAGES_PER_SECOND: z.coerce.number().int().min(1).default(10),
    REALTIME_MESSAGE_BURST: z.coerce.number().int().min(1).default(20),
    /** Re-checks are answered from the in-memory access copy, so a short period is cheap. */
    REALTIME_SESSION_CHECK_SECONDS: z.coerce.number().int().min(1).default(5),
    /** Proxies in front of the edge whose X-Forwarded-For may be trusted; unset: API_TRUSTED_PROXIES. */
    REALTIME_TRUSTED_PROXIES: z.coerce.number().int().min(0).optional(),
    /** Lifetime of a single-use socket ticket (POST /v1/realtime/tickets). */
    REALTIME_TICKET_TTL_SECONDS: z.coerce.number().int().min(5).max(300).default(30),
    /** Open sockets per user and per client address on one edge process. */
    REALTIME_MAX_SOCKETS_PER_USER: z.coerce.number().int().min(1).default(5),
    REALTIME_MAX_SOCKETS_PER_IP: z.coerce.number().int().min(1).default(50),
    /** Socket upgrades per client address per minute, across every edge. */
    REALTIME_UPGRADES_PER_IP_PER_MINUTE: z.coerce.number().int().min(1).default(120),
    /** Refusals a socket may collect (refilled one per second) before it is closed with 1008. */
    REALTIME_FLOOD_REFUSALS: z.coerce.number().int().min(1).default(20),
    /** Room password attempts per 10 minutes: per user and room, per room, per client address. */
    ROOM_PASSWORD_ATTEMPTS_PER_USER_ROOM: z.coerce.number().int().min(1).default(5),
    ROOM_PASSWORD_ATTEMPTS_PER_ROOM: z.coerce.number().int().min(1).default(20),
    ROOM_PASSWORD_ATTEMPTS_PER_IP: z.coerce.number().int().min(1).default(30),
    /** Rooms a user may create, and reports a user may file, per hour. */
    ROOM_CREATES_PER_USER_PER_HOUR: z.coerce.number().int().min(1).default(5),
    ROOM_REPORTS_PER_USER_PER_HOUR: z.coerce.number().int().min(1).default(20),

    /** Rooms: see db/live/room-live-state.ts for what each governs. */
    ROOM_EVENT_RETENTION: z.coerce.number().int().min(100).default(5000),
    ROOM_RECENT_CHAT: z.coerce.number().int().min(0).max(500).default(50),
    ROOM_SEAT_GRACE_SECONDS: z.coerce.number().min(1).default(30),
    ROOM_CONNECTION_LEASE_SECONDS: z.coerce.number().min(3).default(30),
    ROOM_EMPTY_TIMEOUT_SECONDS: z.coerce.number().min(1).default(600),
    ROOM_CHAT_PER_5_SECONDS: z.coerce.number().int().min(1).default(5),
    ROOM_MEMBER_EVENTS_MAX: z.coerce.number().int().min(0).default(200),
    ROOM_MAX_ADMINS: z.coerce.number().int().min(0).max(50).default(5),
    /** A page of the popular list is served from each API process's memory this long (0: never). */
    ROOM_POPULAR_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
    /**
     * A profile (GET /v1/me) served from each API process's memory this long; a PATCH in the same
     * process drops it. Off by default: with several API processes, /v1/me could then show an old
     * time zone for this long while /v1/rewards/daily (which reads PostgreSQL) shows the new one.
     */
    PROFILE_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(0),
    /**
     * Badges (VIP tier, levels, CP partner) in room snapshots and member lists are kept in each
     * API and edge process's memory this long per user (0: read every time). A purchase, level-up
     * or CP change shows in rooms within this; a VIP expiry shows at once (the expiry is kept).
     */
    USER_BADGE_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
    ROOM_KICK_COOLDOWN_SECONDS: z.coerce.number().int().min(0).default(300),
    ROOM_SEAT_INVITE_TTL_SECONDS: z.coerce.number().int().min(5).default(60),

    ACCESS_TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters'),
    ACCESS_TOKEN_ISSUER: z.string().default('aura'),
    ACCESS_TOKEN_AUDIENCE: z.string().default('aura-app'),
    ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(3600).default(900),

    REFRESH_TOKEN_TTL_DAYS: z.coerce.number().int().min(1).max(365).default(30),
    /** A rotated refresh token presented again within this window is a client retry, not theft. */
    REFRESH_TOKEN_REUSE_GRACE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),

    /** HMAC key for phone-number keys and OTP code hashes. */
    OTP_SECRET: z.string().min(32, 'must be at least 32 characters'),
    /** AES-256-GCM key (64 hex characters) for the phone numbers activities must read. */
    PHONE_ENCRYPTION_KEY: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters'),
    OTP_CODE_TTL_SECONDS: z.coerce.number().int().min(60).max(600).default(300),
    /** Country calling codes allowed to sign in by phone, e.g. "44,91,1"; empty allows all. */
    OTP_ALLOWED_CALLING_CODES: csv.default([]),
    /**
     * Sign-in routes (OTP request and verify, social) per IP per 10 minutes: a coarse backstop
     * sized for a carrier NAT, and OTP sends per device per hour. Token refresh has its own
     * per-IP bucket per minute, sized for thousands of users behind one address.
     */
    RATE_LIMIT_AUTH_IP_PER_10_MINUTES: z.coerce.number().int().min(1).default(300),
    RATE_LIMIT_OTP_DEVICE_PER_HOUR: z.coerce.number().int().min(1).default(10),
    RATE_LIMIT_REFRESH_IP_PER_MINUTE: z.coerce.number().int().min(1).default(600),
    SMS_PROVIDER: z.enum(['dev-inbox', 'twilio']).default('dev-inbox'),
    TWILIO_BASE_URL: z.string().url().default('https://api.twilio.com'),
    TWILIO_ACCOUNT_SID: z.string().optional(),
    TWILIO_AUTH_TOKEN: z.string().optional(),
    TWILIO_FROM: z.string().optional(),

    GOOGLE_CLIENT_IDS: csv.default([]),
    GOOGLE_JWKS_URL: z.string().url().default('https://www.googleapis.com/oauth2/v3/certs'),
    APPLE_CLIENT_IDS: csv.default([]),
    APPLE_JWKS_URL: z.string().url().default('https://appleid.apple.com/auth/keys'),
    FACEBOOK_APP_ID: z.string().default(''),
    FACEBOOK_APP_SECRET: z.string().default(''),
    FACEBOOK_GRAPH_URL: z.string().url().default('https://graph.facebook.com/v19.0'),

    /** Google Play Developer API (store recharges, voided purchases); local fakes in tests and the dev stack. */
    GOOGLE_PLAY_API_URL: z.string().url().default('https://androidpublisher.googleapis.com'),
    GOOGLE_PLAY_TOKEN_URL: z.string().url().default('https://oauth2.googleapis.com/token'),
    GOOGLE_PLAY_PACKAGE_NAME: z.string().min(1).default('com.aura.voicechat'),
    /** A service-account key file ({ client_email, private_key }); unset: no Google Play client. */
    GOOGLE_PLAY_SERVICE_ACCOUNT_FILE: z.string().min(1).optional(),
    /** One call to Google (token included), below the activity's attempt timeout. */
    GOOGLE_PLAY_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(4000),
    /** How often the voided-purchases Schedule reads Google's refunds and chargebacks. */
    GOOGLE_PLAY_VOIDED_INTERVAL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(300),
    /** How long POST /v1/wallet/recharges/google-play waits for the flow before answering 202. */
    RECHARGE_WAIT_MS: z.coerce.number().int().min(0).max(20_000).default(5000),

    /**
     * Push notifications through Firebase Cloud Messaging HTTP v1 (docs/status/notify.md). Unset
     * service-account file: no push (notifications still reach the list and the socket).
     */
    FCM_API_URL: z.string().url().default('https://fcm.googleapis.com'),
    FCM_TOKEN_URL: z.string().url().default('https://oauth2.googleapis.com/token'),
    /** The Firebase project; unset: the key file's project_id. */
    FCM_PROJECT_ID: z.string().regex(/^[a-z0-9-]{1,64}$/, 'a Firebase project id').optional(),
    /** A service-account key file ({ client_email, private_key, project_id }) with the FCM sender role. */
    FCM_SERVICE_ACCOUNT_FILE: z.string().min(1).optional(),
    /** One call to FCM (token included). */
    FCM_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
    /** Attempts per push within one drain round (5xx, 429, timeouts), waiting out Retry-After up to 10 s. */
    FCM_ATTEMPTS: z.coerce.number().int().min(1).max(5).default(3),
    /** How often each worker looks for pushes to send (at once again while batches come full). */
    PUSH_DRAIN_INTERVAL_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
    /** Pushes one worker claims per pass, and sends at once at most. */
    PUSH_DRAIN_BATCH: z.coerce.number().int().min(1).max(1000).default(100),
    PUSH_DRAIN_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(10),
    /** A push not sent within this long of its notification is given up (it would arrive stale). */
    PUSH_MAX_AGE_SECONDS: z.coerce.number().int().min(60).max(7 * 86_400).default(6 * 3600),
    /** Rounds of attempts before a push is given up. */
    PUSH_MAX_ROUNDS: z.coerce.number().int().min(1).max(100).default(10),

    /** Economy: see README "Money rules". Diamonds from a gift stay pending this long. */
    GIFT_SETTLEMENT_HOLD_HOURS: z.coerce.number().min(0).max(24 * 90).default(72),
    /** How often the scheduled dispatcher starts the settlement flows of new receiver-days. */
    GIFT_SETTLEMENT_DISPATCH_SECONDS: z.coerce.number().int().min(5).max(3600).default(60),
    /** Receiver-days one dispatch call starts (a run makes up to 5 calls while each fills it). */
    GIFT_SETTLEMENT_DISPATCH_BATCH: z.coerce.number().int().min(1).max(5000).default(200),
    /** Receivers one send may reach ("everyone in the room" included). */
    GIFT_MAX_RECEIVERS: z.coerce.number().int().min(1).max(500).default(100),
    /** Anti-fraud caps in coins per UTC day: per sender, and per sender-receiver pair. */
    GIFT_SENDER_DAILY_CAP_COINS: z.coerce.number().int().min(1).default(5_000_000),
    GIFT_PAIR_DAILY_CAP_COINS: z.coerce.number().int().min(1).default(1_000_000),
    /** Same gift, sender and receivers again within this window: one combo that counts up. */
    GIFT_COMBO_WINDOW_MS: z.coerce.number().int().min(0).max(60_000).default(3000),
    /** Each process re-reads the gift catalog from PostgreSQL this often (it serves its copy meanwhile, and while PostgreSQL is down). */
    GIFT_CATALOG_REFRESH_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
    /** Diamonds to coins: whole lots of EXCHANGE_DIAMONDS_PER_LOT, each worth EXCHANGE_COINS_PER_LOT. */
    EXCHANGE_DIAMONDS_PER_LOT: z.coerce.number().int().min(1).default(100),
    EXCHANGE_COINS_PER_LOT: z.coerce.number().int().min(1).default(70),
    EXCHANGE_MIN_DIAMONDS: z.coerce.number().int().min(1).default(100),

    /** Levels and medals (docs/status/levels.md). Medals a profile shows at most. */
    MEDAL_DISPLAY_SLOTS: z.coerce.number().int().min(3).max(5).default(3),
    /** How often the status re-check runs (level-ups and medals a lost event left behind). */
    STATUS_RECHECK_INTERVAL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(600),
    /** How far back each re-check looks for active users (overlaps runs, so a missed run is covered). */
    STATUS_RECHECK_LOOKBACK_MINUTES: z.coerce.number().int().min(5).max(7 * 24 * 60).default(120),
    /** Users one re-check evaluates at most (the rest wait for the next run's window). */
    STATUS_RECHECK_MAX_USERS: z.coerce.number().int().min(1).max(1_000_000).default(20_000),

    /**
     * Media (README "Voice, video and music"). The LiveKit SFU that carries rooms' audio and video:
     * the URL phones connect to, and the API key and secret that sign join tokens and server calls
     * (development keys by default, refused in production). Unset LIVEKIT_URL: no media server (rooms still work, silent).
     */
    LIVEKIT_URL: z.string().url().optional(),
    /** Where the API reaches LiveKit's server API (Twirp over HTTP); unset: LIVEKIT_URL with http(s). */
    LIVEKIT_API_URL: z.string().url().optional(),
    LIVEKIT_API_KEY: z.string().min(1).default('aura-dev'),
    /** LiveKit refuses secrets shorter than 32 characters. */
    LIVEKIT_API_SECRET: z.string().min(32, 'must be at least 32 characters').default('aura-dev-livekit-secret-0123456789abcdef'),
    /** One call to LiveKit's server API; a stalled SFU answers DEPENDENCY_UNAVAILABLE after this. */
    LIVEKIT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(3000),
    /** A media join token's lifetime (LiveKit refreshes it in-session with the current permissions). */
    LIVEKIT_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(6 * 3600),
    /** In video rooms, seats 0..N-1 may publish a camera; the rest publish audio only. */
    MEDIA_VIDEO_PUBLISHERS_MAX: z.coerce.number().int().min(1).max(20).default(4),
    /** How often the seat binder compares every live media room with its seat grid (drift after a failed call). */
    MEDIA_RECONCILE_SECONDS: z.coerce.number().int().min(1).max(3600).default(15),
    /** YouTube Data API v3 (videos.list); a local fake in tests and the dev stack. Unset key: adding videos is refused. */
    YOUTUBE_API_URL: z.string().url().default('https://www.googleapis.com/youtube/v3'),
    YOUTUBE_API_KEY: z.string().min(1).optional(),
    /** The spec's timeout for media calls (YouTube), per attempt. */
    MEDIA_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(60_000),
    /** How long a video's metadata is kept in Redis before it is fetched again. */
    YOUTUBE_CACHE_SECONDS: z.coerce.number().int().min(1).default(24 * 3600),
    /** Playlist limits: items per room, items one user may have queued, votes to skip (fraction of listeners). */
    PLAYLIST_MAX_ITEMS: z.coerce.number().int().min(1).max(1000).default(100),
    PLAYLIST_MAX_ITEMS_PER_USER: z.coerce.number().int().min(1).max(1000).default(5),
    PLAYLIST_SKIP_VOTE_FRACTION: z.coerce.number().min(0).max(1).default(0.5),
    /** Longest video a playlist takes, in seconds (0: no cap). */
    PLAYLIST_MAX_VIDEO_SECONDS: z.coerce.number().int().min(0).max(7 * 24 * 3600).default(6 * 3600),
    /** How often each realtime edge starts the next item of rooms whose current one ended (any edge may; it's safe). */
    PLAYBACK_SWEEP_MS: z.coerce.number().int().min(50).max(60_000).default(500),
    /** S3-compatible object store for avatars, room covers and gift animations (SeaweedFS on the dev stack). */
    S3_ENDPOINT: z.string().url().default('http://127.0.0.1:8333'),
    S3_REGION: z.string().min(1).default('us-east-1'),
    S3_BUCKET: z.string().min(3).default('aura-media'),
    S3_ACCESS_KEY_ID: z.string().min(1).default('aura-dev-access'),
    S3_SECRET_ACCESS_KEY: z.string().min(1).default('aura-dev-secret-0123456789'),
    /** Path-style addressing (SeaweedFS, most self-hosted stores); false for AWS virtual-host style. */
    S3_FORCE_PATH_STYLE: z
      .enum(['true', 'false'])
      .default('true')
      .transform((v) => v === 'true'),
    /** Public URLs are this base + the object key (a CDN in front of the bucket). */
    MEDIA_CDN_BASE_URL: z.string().url().default('http://127.0.0.1:8333/aura-media'),
    /** How long a presigned upload URL is valid. */
    MEDIA_UPLOAD_URL_TTL_SECONDS: z.coerce.number().int().min(30).max(3600).default(300),
    /** One call to the object store (head, ranged read, delete); a stalled store answers DEPENDENCY_UNAVAILABLE after the attempts. */
    MEDIA_STORE_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(3000),
    /** Attempts per object-store call (transient failures only). */
    MEDIA_STORE_ATTEMPTS: z.coerce.number().int().min(1).max(5).default(2),
    /** Uploads (POST /v1/media/uploads) one user may start per hour. */
    MEDIA_UPLOADS_PER_USER_PER_HOUR: z.coerce.number().int().min(1).default(30),
    /** A started upload not completed this long after its URL expired is deleted (object and row) by the sweep. */
    MEDIA_PENDING_GRACE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(600),
    /** How often the API's media sweep runs (expired pendings, replaced files); 0: never (tests call it). */
    MEDIA_SWEEP_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),

    /** Coins for days 1..7 of the daily-reward cycle, comma separated. */
    DAILY_REWARD_COINS: csv
      .transform((parts) => parts.map(Number))
      .pipe(z.array(z.number().int().positive()).length(7))
      .default([10, 20, 30, 40, 50, 60, 150]),
    DAILY_REWARD_REMINDER_LEAD_HOURS: z.coerce.number().int().min(1).max(23).default(4),

    /** Invite links are https://<REFERRAL_LINK_BASE>/i/<code> (a host, optionally with a path). */
    REFERRAL_LINK_BASE: z
      .string()
      .regex(/^[a-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._-]+)*$/, 'a host name, optionally with a port and a path')
      .default('aura.app'),
    /** Days after attribution in which a referee's milestones pay. */
    REFERRAL_WINDOW_DAYS: z.coerce.number().int().min(1).max(365).default(30),
    /** How often each referral flow re-reads the records on its own (nudges look at once). */
    REFERRAL_CHECK_HOURS: z.coerce.number().min(0.05).max(168).default(12),
    /** Coins for the referrer and for the referee at each milestone: active-days, first-recharge, streak-7. */
    REFERRAL_REFERRER_COINS: csv
      .transform((parts) => parts.map(Number))
      .pipe(z.array(z.number().int().min(0).max(1_000_000)).length(3))
      .default([100, 300, 200]),
    REFERRAL_REFEREE_COINS: csv
      .transform((parts) => parts.map(Number))
      .pipe(z.array(z.number().int().min(0).max(1_000_000)).length(3))
      .default([50, 100, 100]),
    /** Hours after sign-up a code may still be attributed (POST /v1/me/referral/attribution). */
    REFERRAL_LATE_ATTRIBUTION_HOURS: z.coerce.number().int().min(0).max(168).default(24),
    /** Days a session's address counts for the same-network rule. */
    REFERRAL_NETWORK_WINDOW_DAYS: z.coerce.number().int().min(0).max(365).default(30),
    /** Hours before a VIP ends that a reminder goes out (each once per expiry), comma separated. */
    VIP_REMINDER_LEAD_HOURS: csv
      .transform((parts) => parts.map(Number))
      .pipe(z.array(z.number().int().min(1).max(696)).min(0).max(5))
      .default([72, 24]),
    /** How often the VIP repair looks for memberships past their expiry that their flow missed. */
    VIP_EXPIRY_SWEEP_SECONDS: z.coerce.number().int().min(10).max(86_400).default(300),
    /** CP proposals (docs/status/cp.md): how long one waits for an answer before its escrow is refunded. */
    CP_PROPOSAL_TTL_HOURS: z.coerce.number().int().min(1).max(24 * 30).default(24),
    /** What ending a pair costs the one who ends it, in coins (0: free). */
    CP_BREAKUP_FEE_COINS: z.coerce.number().int().min(0).default(99),
    /** Days after a pair ends before either partner may pair again (0: none). */
    CP_BREAKUP_COOLDOWN_DAYS: z.coerce.number().int().min(0).max(365).default(7),
    /** How often the worker's CP sweep runs (unstarted flows, stale proposals, intimacy repair); 0: never (tests call it). */
    CP_SWEEP_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === 'production') {
      for (const key of ['ACCESS_TOKEN_SECRET', 'OTP_SECRET'] as const) {
        if (env[key].startsWith('dev-')) ctx.addIssue({ code: 'custom', path: [key], message: 'a development secret in production' });
      }
      if (/^d{64}$/.test(env.PHONE_ENCRYPTION_KEY)) {
        ctx.addIssue({ code: 'custom', path: ['PHONE_ENCRYPTION_KEY'], message: 'a development key in production' });
      }
      if (env.LIVEKIT_API_SECRET.startsWith('aura-dev-') || env.S3_SECRET_ACCESS_KEY.startsWith('aura-dev-')) {
        ctx.addIssue({ code: 'custom', path: ['LIVEKIT_API_SECRET'], message: 'a development media secret in production' });
      }
      if (env.SMS_PROVIDER === 'dev-inbox') {
        ctx.addIssue({ code: 'custom', path: ['SMS_PROVIDER'], message: 'the dev inbox is refused in production' });
      }
    }
    if (env.SMS_PROVIDER === 'twilio') {
      for (const key of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'] as const) {
        if (!env[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'required when SMS_PROVIDER=twilio' });
      }
    }
  });

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  return parsed.data;
}
