import { AsyncLocalStorage } from 'node:async_hooks';
import pino, { type Logger } from 'pino';

/** Per-request context; its fields are added to every log line written inside the request. */
export const logContext = new AsyncLocalStorage<{ requestId: string; userId?: string }>();

/** Fields that never reach a log in clear. Phone numbers and tokens are masked, secrets removed. */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  '*.authorization',
  '*.password',
  '*.secret',
  '*.otp',
  '*.otpCode',
  '*.accessToken',
  '*.refreshToken',
  '*.token',
];

export function maskPhone(phone: string): string {
  const digits = phone.replace(/[^\d+]/g, '');
  if (digits.length <= 6) return '•'.repeat(digits.length);
  return digits.slice(0, 3) + '•'.repeat(digits.length - 6) + digits.slice(-3);
}

export function maskToken(token: string): string {
  return token.length <= 8 ? '••••' : `${token.slice(0, 4)}…(${token.length})`;
}

export function createLogger(options: { name: string; level?: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      base: { service: options.name, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      mixin: () => logContext.getStore() ?? {},
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination,
  );
}

export type { Logger };
