import 'reflect-metadata';
import { createDataSource } from '../db/data-source';
import { seedReferenceData } from '../db/seed';
import { createLogger } from '../platform/logging';

/** Applies pending migrations (each in its own transaction), then loads reference data. */
export async function migrateAndSeed(url: string, options: { seed: boolean }): Promise<string[]> {
  const dataSource = await createDataSource({ url, poolSize: 2, applicationName: 'aura-migrate', statementTimeoutMs: 0 }).initialize();
  try {
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    if (options.seed) await seedReferenceData(dataSource);
    return applied.map((m) => m.name);
  } finally {
    await dataSource.destroy();
  }
}

if (require.main === module) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('DATABASE_URL is required');
    process.exit(2);
  }
  migrateAndSeed(url, { seed: process.env.NODE_ENV !== 'production' }).then(
    (applied) => console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema up to date'),
    (err: unknown) => {
      // Through the logger: a failed query's error carries its bound values.
      createLogger({ name: 'migrate' }).error({ err }, 'migration failed');
      process.exit(1);
    },
  );
}
