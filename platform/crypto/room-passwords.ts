import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Room passwords are stored as `scrypt$N$r$p$salt_b64$hash_b64` (standard base64), with a
 * random 16-byte salt per hash. The parameters travel with the hash so they can be raised
 * later without invalidating existing rooms.
 */
const N = 16_384;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
/** Upper bounds accepted when reading a stored hash, so a corrupt row can't stall the process. */
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;

function derive(plain: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(plain.normalize('NFC'), salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function memoryFor(n: number, r: number, p: number): number {
  return 128 * n * r * p + 32 * 1024 * 1024;
}

export async function hashRoomPassword(plain: string): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(plain, salt, KEY_LENGTH, { N, r: R, p: P, maxmem: memoryFor(N, R, P) });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/**
 * Each check costs ~16 MiB and ~50 ms of a libuv pool thread (4 by default, shared with DNS and
 * file I/O). Callers rate-limit attempts before they get here; this bounds what is left per
 * process: a few checks run at once, a short queue waits, and the rest are refused at once
 * rather than pile up memory and latency.
 */
const MAX_CONCURRENT_CHECKS = 2;
const MAX_QUEUED_CHECKS = 32;
let running = 0;
const waiting: (() => void)[] = [];

/** Thrown when the per-process queue of password checks is full: try again in a moment. */
export class PasswordCheckBusy extends Error {
  constructor() {
    super('too many room password checks in progress');
  }
}

/** How many scrypt derivations this process has run for checks (for metrics and tests). */
export const roomPasswordChecks = { derived: 0 };

async function bounded<T>(task: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT_CHECKS) {
    if (waiting.length >= MAX_QUEUED_CHECKS) throw new PasswordCheckBusy();
    await new Promise<void>((resolve) => waiting.push(resolve));
  } else {
    running += 1;
  }
  try {
    return await task();
  } finally {
    // Hand the slot straight to the next waiter, or free it.
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  }
}

/**
 * False for a wrong password and for a hash this module can't read. Runs scrypt on the libuv
 * pool (never scryptSync), at most MAX_CONCURRENT_CHECKS at once per process.
 */
export async function verifyRoomPassword(hash: string, plain: string): Promise<boolean> {
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const salt = Buffer.from(parts[4]!, 'base64');
  const expected = Buffer.from(parts[5]!, 'base64');
  const valid =
    Number.isInteger(n) && n > 1 && n <= MAX_N && (n & (n - 1)) === 0 &&
    Number.isInteger(r) && r >= 1 && r <= MAX_R &&
    Number.isInteger(p) && p >= 1 && p <= MAX_P &&
    salt.length >= 8 && expected.length >= 16 && expected.length <= 64;
  if (!valid) return false;
  return bounded(async () => {
    roomPasswordChecks.derived += 1;
    const actual = await derive(plain, salt, expected.length, { N: n, r, p, maxmem: memoryFor(n, r, p) });
    return timingSafeEqual(actual, expected);
  });
}
