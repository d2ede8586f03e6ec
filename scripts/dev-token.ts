import { loadConfig } from '../config';
import { DEMO_USERS } from '../db/seed';
import { accessTokensFromConfig } from '../platform/auth/access-tokens';

/**
 * Prints an access token for a demo user, for trying the API by hand on the dev stack.
 * Until sign-in exists this is the only way in; it refuses production configuration.
 */
async function main(): Promise<void> {
  const config = loadConfig({ ACCESS_TOKEN_SECRET: DEV_SECRET, ...process.env });
  if (config.NODE_ENV === 'production') throw new Error('dev tokens are not for production');
  const userId = process.argv[2] ?? DEMO_USERS[0].id;
  console.log(await accessTokensFromConfig(config).sign({ userId }, 3600));
}

export const DEV_SECRET = 'dev-only-secret-change-me-0123456789abcdef';

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
