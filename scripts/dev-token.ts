import { loadConfig } from '../config';
import { DEV_SECRETS } from '../config/dev-secrets';
import { DEMO_USERS } from '../db/seed';
import { accessTokensFromConfig } from '../platform/auth/access-tokens';

/**
 * Prints an access token for a demo user, for trying the API by hand on the dev stack.
 * Until sign-in exists this is the only way in; it refuses production configuration.
 */
async function main(): Promise<void> {
  const config = loadConfig({ ...DEV_SECRETS, ...process.env });
  if (config.NODE_ENV === 'production') throw new Error('dev tokens are not for production');
  const userId = process.argv[2] ?? DEMO_USERS[0].id;
  console.log(await accessTokensFromConfig(config).sign({ userId }, 3600));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
