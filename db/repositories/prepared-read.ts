import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';

/**
 * A hot read by a named prepared statement: PostgreSQL plans it once per pooled connection
 * instead of on every call (TypeORM's query() sends unnamed statements, planned each time). For
 * reads whose text is fixed: `name` stands for `text`, one name per text. Errors are the driver's
 * own (code, constraint), as pg-errors.ts and dependency-errors.ts read them.
 */
export async function preparedRead<R>(dataSource: DataSource, name: string, text: string, values: unknown[]): Promise<R[]> {
  // TypeORM's Postgres driver keeps its pg Pool as `master` (the one pool, no replicas here).
  const pool = (dataSource.driver as unknown as { master?: Pool }).master;
  if (!pool) throw new Error('the data source is not initialized');
  const result = await pool.query({ name, text, values });
  return result.rows as R[];
}
