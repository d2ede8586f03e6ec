import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startFakeGooglePlay } from '../../test/support/fake-google-play';

/**
 * The fake Google Play (test/support/fake-google-play.ts) as its own process, for the dev stack
 * and benchmarks: `npx tsx scripts/stack/fake-google-play.ts --port 8085 --service-account ./sa.json`.
 * Writes the service-account JSON (GOOGLE_PLAY_SERVICE_ACCOUNT_FILE), prints the URLs to set,
 * and runs until SIGINT or SIGTERM. Steer it with POST /__fake__/{purchases,voids,fail}; GET /__fake__/calls lists the requests.
 * A test tool: the production build leaves it out (tsconfig.build.json).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, 'service-account': { type: 'string' }, package: { type: 'string' } } });
  const file = values['service-account'];
  // An existing key file is kept: a worker that read it keeps working across restarts of the fake.
  const kept = file && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { private_key?: string }).private_key : undefined;
  const fake = await startFakeGooglePlay({
    port: Number(values.port),
    ...(values.package ? { packageName: values.package } : {}),
    ...(kept ? { privateKeyPem: kept } : {}),
  });
  if (file) {
    const { clientEmail, privateKeyPem } = fake.serviceAccount;
    writeFileSync(file, JSON.stringify({ type: 'service_account', client_email: clientEmail, private_key: privateKeyPem, token_uri: fake.tokenUrl }), { mode: 0o600 });
  }
  console.log(JSON.stringify({ GOOGLE_PLAY_API_URL: fake.url, GOOGLE_PLAY_TOKEN_URL: fake.tokenUrl, GOOGLE_PLAY_PACKAGE_NAME: fake.packageName }));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void fake.close().then(() => process.exit(0)));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
