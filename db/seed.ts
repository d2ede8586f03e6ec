import type { DataSource } from 'typeorm';
import { Ledger } from './repositories/ledger';

/** Demo accounts for the development stack, with fixed ids so a developer can mint a token for one. */
export const DEMO_USERS = [
  { id: '00000000-0000-4000-8000-000000000001', displayName: 'Demo Host', timeZone: 'UTC' },
  { id: '00000000-0000-4000-8000-000000000002', displayName: 'Demo Listener', timeZone: 'Asia/Kolkata' },
] as const;

/** Loads reference data; safe to run on every start. */
export async function seedReferenceData(dataSource: DataSource): Promise<void> {
  const ledger = new Ledger(dataSource);
  await dataSource.transaction(async (tx) => {
    for (const user of DEMO_USERS) {
      await tx.query(
        `INSERT INTO users (id, display_name, time_zone) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
        [user.id, user.displayName, user.timeZone],
      );
      await ledger.openWallet(user.id, tx);
    }
  });
}
