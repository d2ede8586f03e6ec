import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Config } from '../../config';
import type { Logger } from '../logging';
import { FcmClient } from './fcm';

/** The fields of a Google service-account key file this client uses. */
const serviceAccountFile = z.object({
  client_email: z.string().min(1),
  private_key: z.string().includes('PRIVATE KEY'),
  project_id: z.string().min(1).optional(),
});

/** Push is on when a service-account file is configured (API and worker decide alike from this). */
export function pushConfigured(config: Pick<Config, 'FCM_SERVICE_ACCOUNT_FILE'>): boolean {
  return Boolean(config.FCM_SERVICE_ACCOUNT_FILE);
}

/**
 * The FCM client the configuration names, or undefined when no service account is configured
 * (no push). A bad key file, or no project id in it or in FCM_PROJECT_ID, fails here, at start.
 */
export function fcmFromConfig(config: Config, logger?: Pick<Logger, 'warn' | 'error'>): FcmClient | undefined {
  const file = config.FCM_SERVICE_ACCOUNT_FILE;
  if (!file) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    json = undefined; // JSON.parse quotes the text it failed on: the key must not reach a message
  }
  const parsed = serviceAccountFile.safeParse(json);
  if (!parsed.success) throw new Error('FCM_SERVICE_ACCOUNT_FILE is not a service-account key file (needs client_email and private_key)');
  const projectId = config.FCM_PROJECT_ID ?? parsed.data.project_id;
  if (!projectId) throw new Error('FCM_PROJECT_ID is unset and the service-account file names no project_id');
  return new FcmClient({
    apiBaseUrl: config.FCM_API_URL,
    tokenUrl: config.FCM_TOKEN_URL,
    projectId,
    serviceAccount: { clientEmail: parsed.data.client_email, privateKeyPem: parsed.data.private_key },
    timeoutMs: config.FCM_TIMEOUT_MS,
    attempts: config.FCM_ATTEMPTS,
    logger,
  });
}
