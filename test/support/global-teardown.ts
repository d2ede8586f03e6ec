import { rmSync } from 'node:fs';
import type { ManagedProcess } from '../../scripts/stack/child-process';

export default async function globalTeardown(): Promise<void> {
  const services = (globalThis as { __AURA_TEST_SERVICES__?: { started: ManagedProcess[]; root: string } }).__AURA_TEST_SERVICES__;
  if (!services) return;
  await Promise.all(services.started.map((p) => p.stop()));
  if (process.env.AURA_KEEP_TEST_DATA !== '1') rmSync(services.root, { recursive: true, force: true });
}
