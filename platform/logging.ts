import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger as TemporalLogger, LogLevel as TemporalLogLevel, LogMetadata } from '@temporalio/common';
import pino, { type Logger } from 'pino';

/**
 * The one logging setup for every process (API, worker, realtime edge, scripts): secrets,
 * codes and tokens never reach a log, phone numbers only masked, and SQL parameters never
 * printed with an error.
 */

/** Per-request context; its fields are added to every log line written inside the request. */
export const logContext = new AsyncLocalStorage<{ requestId: string; userId?: string }>();

/** Keys whose values are removed wherever they appear (top level, or up to two objects deep). */
const SECRET_KEYS = [
  'authorization',
  'cookie',
  'password',
  'newPassword',
  'currentPassword',
  'roomPassword',
  'secret',
  'clientSecret',
  'appSecret',
  'apiKey',
  'authToken',
  'otp',
  'otpCode',
  'verificationCode',
  'accessToken',
  'refreshToken',
  'idToken',
  'token',
  'ticket',
  // App-store purchases and the service account that reads them.
  'purchaseToken',
  'assertion',
  'privateKey',
  'privateKeyPem',
  'private_key',
  'access_token',
] as const;
/** Keys holding a phone number: kept masked, so support can still tell two numbers apart. */
const PHONE_KEYS = ['phone', 'phoneNumber', 'e164', 'msisdn'] as const;
/** `code` is also an error's code (`RATE_LIMITED`, `ECONNREFUSED`, SQLSTATE `23505`): only OTP-looking values go. */
const CODE_KEYS = ['code'] as const;

const paths = (keys: readonly string[]) => keys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
/** Every redacted path, in pino's syntax: the central list. */
export const REDACTED_PATHS = [...paths(SECRET_KEYS), ...paths(PHONE_KEYS), ...paths(CODE_KEYS)];
const phoneKeys = new Set<string>(PHONE_KEYS);
const codeKeys = new Set<string>(CODE_KEYS);

/** Our OTP codes are six digits; longer digit strings are treated the same. SQLSTATEs have five characters. */
const OTP_LIKE = /^\d{6,10}$/;

function censor(value: unknown, path: string[]): unknown {
  const key = path[path.length - 1] ?? '';
  if (phoneKeys.has(key)) return typeof value === 'string' ? maskPhone(value) : '[redacted]';
  if (codeKeys.has(key)) return OTP_LIKE.test(String(value)) ? '[redacted]' : value;
  return '[redacted]';
}

export function maskPhone(phone: string): string {
  const digits = phone.replace(/[^\d+]/g, '');
  if (digits.length <= 6) return '•'.repeat(digits.length);
  return digits.slice(0, 3) + '•'.repeat(digits.length - 6) + digits.slice(-3);
}

export function maskToken(token: string): string {
  return token.length <= 8 ? '••••' : `${token.slice(0, 4)}…(${token.length})`;
}

/** A JWT: three base64url parts, the first a JSON header (`{"` encodes as `eyJ`). */
const JWT = /\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*/g;
/** A number in E.164 shape (`+` or `%2B`, then 7 to 15 digits, spaces or dashes allowed between). */
const E164 = /(?:\+|%2B)[1-9](?:[ -]?\d){6,14}(?!\d)/gi;
/**
 * An opaque token (a refresh token is 32 random bytes in base64url: 43 characters): a long
 * run with upper- and lower-case letters and digits. Ids, UUIDs and workflow ids are single-case.
 */
const OPAQUE = /(?<![\w-])(?=[\w-]{32,}(?![\w-]))(?=[\w-]*[a-z])(?=[\w-]*[A-Z])(?=[\w-]*\d)[\w-]+/g;

/** A code named as one ("code 493817", "OTP: 493817"); our codes have six digits, SQLSTATEs five. */
const NAMED_CODE = /(\b(?:code|otp|pin|passcode)\b[^\d\n]{0,24})\d{6,10}\b/gi;

/** Masks phone numbers and removes tokens and codes from free text (messages, error messages, stacks). */
export function maskFreeText(text: string): string {
  return text
    .replace(JWT, '[jwt]')
    .replace(OPAQUE, '[token]')
    .replace(E164, (m) => maskPhone(m.replace(/%2B/i, '+')))
    .replace(NAMED_CODE, '$1[redacted]');
}

/** Drops the values PostgreSQL quotes in `detail` ("Key (phone)=(+44…) already exists."), keeping the columns. */
function maskPgDetail(detail: string): string {
  const key = /^Key \(([^)]*)\)=/.exec(detail);
  return key ? `Key (${key[1]})=([redacted])${/already exists\.$/.test(detail) ? ' already exists.' : ''}` : '[redacted]';
}

/** PostgreSQL data exceptions (class 22) quote the offending value: `invalid input syntax for type integer: "…"`. */
const PG_DATA_EXCEPTION = /^22[0-9A-Z]{3}$/;

/** Drops bound values and the values PostgreSQL quotes back, at every level of a serialized error. */
function scrubError(value: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    // TypeORM's QueryFailedError (and its driverError) carry the query's bound values.
    if (key === 'parameters' || key === 'params' || key === 'bindings') continue;
    if (key === 'detail' && typeof v === 'string') out[key] = maskPgDetail(v);
    else if (v && typeof v === 'object' && depth < 4) out[key] = scrubError(v as Record<string, unknown>, depth + 1);
    else out[key] = v;
  }
  const message = out.message;
  if (typeof out.code === 'string' && PG_DATA_EXCEPTION.test(out.code) && typeof message === 'string') {
    const masked = message.replace(/: ".*"$/s, ': "[redacted]"');
    out.message = masked;
    if (typeof out.stack === 'string') out.stack = out.stack.split(message).join(masked);
  }
  return out;
}

/** pino's error serializer (type, message, stack, cause, own fields), then scrubbed. */
export function serializeError(err: unknown): unknown {
  if (!err || typeof err !== 'object') return err;
  return scrubError(pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>, 0);
}

/** An error as one line of text for a console, scrubbed and masked like a log line. */
export function describeError(err: unknown): string {
  const serialized = serializeError(err);
  const message = (serialized as { message?: unknown } | null)?.message;
  return maskFreeText(typeof message === 'string' ? message : String(serialized));
}

function isErrorLike(value: unknown): value is Error {
  return value instanceof Error || (typeof (value as { message?: unknown } | null)?.message === 'string' && typeof (value as { stack?: unknown }).stack === 'string');
}

export function createLogger(options: { name: string; level?: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      base: { service: options.name, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        // `logger.error(err)` and `logger.error({ err })` take the line's message from the error
        // as is: give them the scrubbed one instead.
        logMethod(args, method) {
          const first: unknown = args[0];
          if (args.length === 1 && first && typeof first === 'object') {
            const err = isErrorLike(first) ? first : (first as { err?: unknown; msg?: unknown }).msg === undefined ? (first as { err?: unknown }).err : undefined;
            if (isErrorLike(err)) return method.apply(this, [first, (serializeError(err) as { message: string }).message] as never);
          }
          return method.apply(this, args);
        },
        // Free text anywhere in the line (messages, error messages and stacks, any string field):
        // phone numbers masked, tokens and named codes removed. One pass over the finished line.
        streamWrite: (line) => maskFreeText(line),
      },
      redact: { paths: REDACTED_PATHS, censor },
      mixin: () => logContext.getStore() ?? {},
      serializers: { err: serializeError, error: serializeError },
    },
    options.destination,
  );
}

/**
 * The per-request access line's logger: the same stream, base fields, level and request context
 * as `logger`, without the redaction pass (wildcard redaction and the free-text scan cost more
 * CPU than the rest of a cached read). Only for lines whose every field is the server's own
 * (method, route template, status, duration, ids): never put client text through it.
 */
export function accessLoggerFor(logger: Logger): Logger {
  const stream = (logger as unknown as Record<symbol, pino.DestinationStream>)[pino.symbols.streamSym];
  return pino(
    {
      level: logger.level,
      base: logger.bindings(),
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: () => logContext.getStore() ?? {},
    },
    stream,
  );
}

const TEMPORAL_LEVELS: Record<TemporalLogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The Temporal SDK's logger (worker, activity and workflow logs) writing through `logger`, so
 * those lines get the same redaction. Install it with `Runtime.install({ logger })`.
 */
export function temporalLogger(logger: Logger): TemporalLogger {
  const log = (level: TemporalLogLevel, message: string, meta?: LogMetadata) => logger[TEMPORAL_LEVELS[level]]({ ...meta }, message);
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

export type { Logger };
