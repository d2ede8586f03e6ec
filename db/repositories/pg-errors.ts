/** Reading PostgreSQL errors as they come out of TypeORM (a QueryFailedError wrapping the driver's). */
export const PG_UNIQUE_VIOLATION = '23505';
export const PG_FOREIGN_KEY_VIOLATION = '23503';

interface PgErrorFields {
  code?: string;
  constraint?: string;
  driverError?: { code?: string; constraint?: string };
}

/** True for the given SQLSTATE, optionally only when the constraint's name contains `constraintPart`. */
export function isPgError(err: unknown, code: string, constraintPart?: string): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as PgErrorFields;
  if ((e.driverError?.code ?? e.code) !== code) return false;
  if (constraintPart === undefined) return true;
  return (e.driverError?.constraint ?? e.constraint ?? '').includes(constraintPart);
}
