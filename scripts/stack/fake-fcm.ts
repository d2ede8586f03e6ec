import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startFakeFcm } from '../../test/support/fake-fcm';

/**
 * The fake FCM (test/support/fake-fcm.ts) as its own process, for the dev stack and benchmarks:
 * `npx tsx scripts/stack/fake-fcm.ts --port 8086 --service-account ./.data/fcm-sa.json`.
 * Writes the service-account JSON (FCM_SERVICE_ACCOUNT_FILE, with project_id and token_uri),
 * prints the settings to use, and runs until SIGINT or SIGTERM. Any well-formed token is an
 * installed app. Steer it with POST /__fake__/{fail,stall,unregister,register,clear}; GET
 * /__fake__/deliveries lists the pushes it accepted, GET /__fake__/calls the requests.
 * A test tool: the production build leaves it out (tsconfig.build.json).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, 'service-account': { type: 'string' }, project: { type: 'string' } } });
  const file = values['service-account'];
  // An existing key file is kept: a worker that read it keeps working across restarts of the fake.
  const kept = file && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { private_key?: string }).private_key : undefined;
  const fake = await startFakeFcm({
    port: Number(values.port),
    ...(values.project ? { projectId: values.project } : {}),
    ...(kept ? { privateKeyPem: kept } : {}),
  });
  if (file) {
    const { clientEmail, privateKeyPem } = fake.serviceAccount;
    writeFileSync(file, JSON.stringify({ type: 'service_account', project_id: fake.projectId, client_email: clientEmail, private_key: privateKeyPem, token_uri: fake.tokenUrl }), { mode: 0o600 });
  }
  console.log(JSON.stringify({ FCM_API_URL: fake.url, FCM_TOKEN_URL: fake.tokenUrl, FCM_PROJECT_ID: fake.projectId, ...(file ? { FCM_SERVICE_ACCOUNT_FILE: file } : {}) }));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void fake.close().then(() => process.exit(0)));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
