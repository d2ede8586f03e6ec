import type { ValueTransformer } from 'typeorm';

/** Money is an integer: Postgres BIGINT comes back as a string, and must fit a JS safe integer. */
export const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => {
    if (value === null) return null;
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new RangeError(`integer ${value} is outside the safe range`);
    return n;
  },
};
