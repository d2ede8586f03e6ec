import type { Config } from '../../config';
import { AppError, ErrorCode } from '../../domain/errors';
import type { WindowLimit, WindowLimiter } from '../../platform/rate-limits/window-limiter';

export interface RoomLimitSettings {
  passwordPerUserRoom: number;
  passwordPerRoom: number;
  passwordPerIp: number;
  passwordWindowMs: number;
  createsPerUser: number;
  createWindowMs: number;
  reportsPerUser: number;
  reportWindowMs: number;
}

const MINUTE = 60_000;

export function roomLimitsFromConfig(config: Config): RoomLimitSettings {
  return {
    passwordPerUserRoom: config.ROOM_PASSWORD_ATTEMPTS_PER_USER_ROOM,
    passwordPerRoom: config.ROOM_PASSWORD_ATTEMPTS_PER_ROOM,
    passwordPerIp: config.ROOM_PASSWORD_ATTEMPTS_PER_IP,
    passwordWindowMs: 10 * MINUTE,
    createsPerUser: config.ROOM_CREATES_PER_USER_PER_HOUR,
    createWindowMs: 60 * MINUTE,
    reportsPerUser: config.ROOM_REPORTS_PER_USER_PER_HOUR,
    reportWindowMs: 60 * MINUTE,
  };
}

/** The refusal every room limit answers with: 429 over HTTP (with Retry-After), an `error` on the socket. */
export function rateLimited(limit: string, retryAfterMs: number, message: string): AppError {
  return new AppError(ErrorCode.RateLimited, message, { limit, retryAfterMs, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) });
}

/**
 * Abuse limits on room actions, counted in Redis so they hold across every API and edge process.
 * Password attempts are counted before the (deliberately slow) hash runs, so a refused attempt
 * costs one Redis round trip and no CPU; a right password gives its attempt back.
 */
export class RoomLimits {
  constructor(
    private readonly limiter: WindowLimiter,
    private readonly settings: RoomLimitSettings,
  ) {}

  /** Counts a password attempt or throws RATE_LIMITED; `refund` gives it back when it was right. */
  async passwordAttempt(userId: string, roomId: string, ip: string | undefined): Promise<{ refund(): Promise<void> }> {
    const { passwordWindowMs: windowMs } = this.settings;
    const limits: WindowLimit[] = [
      { key: `room-password:user-room:${userId}:${roomId}`, max: this.settings.passwordPerUserRoom, windowMs },
      { key: `room-password:room:${roomId}`, max: this.settings.passwordPerRoom, windowMs },
      ...(ip ? [{ key: `room-password:ip:${ip}`, max: this.settings.passwordPerIp, windowMs }] : []),
    ];
    const decision = await this.limiter.take(limits);
    if (!decision.allowed) throw rateLimited('room-password', decision.retryAfterMs, 'too many room password attempts; try again later');
    return { refund: () => this.limiter.refund(limits) };
  }

  async roomCreated(userId: string): Promise<void> {
    const decision = await this.limiter.take([{ key: `room-create:${userId}`, max: this.settings.createsPerUser, windowMs: this.settings.createWindowMs }]);
    if (!decision.allowed) throw rateLimited('room-create', decision.retryAfterMs, `at most ${this.settings.createsPerUser} rooms an hour`);
  }

  async reportFiled(userId: string): Promise<void> {
    const decision = await this.limiter.take([{ key: `room-report:${userId}`, max: this.settings.reportsPerUser, windowMs: this.settings.reportWindowMs }]);
    if (!decision.allowed) throw rateLimited('room-report', decision.retryAfterMs, `at most ${this.settings.reportsPerUser} reports an hour`);
  }
}
