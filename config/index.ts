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
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
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
    RATE_LIMIT_IP_PER_MINUTE: z.coerce.number().int().min(1).default(300),
    RATE_LIMIT_USER_PER_MINUTE: z.coerce.number().int().min(1).default(120),

    REALTIME_HOST: z.string().default('127.0.0.1'),
    REALTIME_PORT: port.default(3001),
    REALTIME_ALLOWED_ORIGINS: csv.default(['http://localhost:8233']),
    REALTIME_MAX_MESSAGE_BYTES: z.coerce.number().int().min(256).max(1024 * 1024).default(16 * 1024),
    /** The uWebSockets.js package silently falls back to a slow pure-JS server; refuse that unless allowed. */
    REALTIME_ALLOW_JS_FALLBACK: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),

    ACCESS_TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters'),
    ACCESS_TOKEN_ISSUER: z.string().default('aura'),
    ACCESS_TOKEN_AUDIENCE: z.string().default('aura-app'),
    ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(3600).default(900),

    /** Coins for days 1..7 of the daily-reward cycle, comma separated. */
    DAILY_REWARD_COINS: csv
      .transform((parts) => parts.map(Number))
      .pipe(z.array(z.number().int().positive()).length(7))
      .default([10, 20, 30, 40, 50, 60, 150]),
    DAILY_REWARD_REMINDER_LEAD_HOURS: z.coerce.number().int().min(1).max(23).default(4),
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === 'production' && env.ACCESS_TOKEN_SECRET.startsWith('dev-')) {
      ctx.addIssue({ code: 'custom', path: ['ACCESS_TOKEN_SECRET'], message: 'a development secret in production' });
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
