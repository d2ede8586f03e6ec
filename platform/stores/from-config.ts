import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Config } from '../../config';
import { GooglePlayClient } from './google-play';

/** The fields of a Google service-account key file this client uses. */
const serviceAccountFile = z.object({ client_email: z.string().min(1), private_key: z.string().includes('PRIVATE KEY') });

/**
 * The Google Play client the configuration names, or undefined when no service account is
 * configured (store recharges are then unavailable). A bad key file fails here, at start.
 */
export function googlePlayFromConfig(config: Config): GooglePlayClient | undefined {
  const file = config.GOOGLE_PLAY_SERVICE_ACCOUNT_FILE;
  if (!file) return undefined;
  const text = readFileSync(file, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined; // JSON.parse quotes the text it failed on: the key must not reach a message
  }
  const parsed = serviceAccountFile.safeParse(json);
  if (!parsed.success) throw new Error(`GOOGLE_PLAY_SERVICE_ACCOUNT_FILE is not a service-account key file (needs client_email and private_key)`);
  return new GooglePlayClient({
    apiBaseUrl: config.GOOGLE_PLAY_API_URL,
    tokenUrl: config.GOOGLE_PLAY_TOKEN_URL,
    packageName: config.GOOGLE_PLAY_PACKAGE_NAME,
    serviceAccount: { clientEmail: parsed.data.client_email, privateKeyPem: parsed.data.private_key },
    timeoutMs: config.GOOGLE_PLAY_TIMEOUT_MS,
  });
}
