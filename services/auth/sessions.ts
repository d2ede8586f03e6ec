import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type SessionStore, type DeviceInfo } from '../../db/repositories/sessions';
import { AppError, ErrorCode } from '../../domain/errors';
import type { AccessTokens } from '../../platform/auth/access-tokens';
import type { BanList } from '../../platform/auth/ban-list';
import type { UserEventPublisher } from '../../platform/events/publisher';
import { revokedSessionKey } from '../../platform/auth/revoked-sessions';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  sessionId: string;
}

export interface SessionSettings {
  accessTtlSeconds: number;
  refreshTtlDays: number;
  reuseGraceSeconds: number;
}

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

/** A session about to be opened elsewhere (by the sign-in's own transaction): its token and what is stored of it. */
export interface PreparedSession {
  refreshToken: string;
  refreshTokenHash: string;
  expiresAt: Date;
}

/**
 * Sessions: a short-lived access JWT carrying the session id, and an opaque refresh token
 * (stored hashed) that rotates on every use. Presenting a rotated token after the grace window
 * means it was copied: the whole family is revoked (RFC 9700 §4.14.2).
 */
export class Sessions {
  private readonly store: SessionStore;

  constructor(
    store: SessionStore,
    private readonly tokens: AccessTokens,
    private readonly redis: Redis,
    private readonly events: UserEventPublisher,
    private readonly settings: SessionSettings,
    private readonly bans?: BanList,
  ) {
    this.store = store;
  }

  /**
   * A refresh token for a session the sign-in opens together with the user (SignInRecords).
   * Only its hash leaves this process; the token goes to the client alone.
   */
  prepare(): PreparedSession {
    const refreshToken = randomBytes(32).toString('base64url');
    return { refreshToken, refreshTokenHash: hash(refreshToken), expiresAt: new Date(Date.now() + this.settings.refreshTtlDays * 86_400_000) };
  }

  /** The tokens of a session that now exists. */
  tokensFor(userId: string, sessionId: string, prepared: PreparedSession): Promise<TokenPair> {
    return this.pair(userId, sessionId, prepared.refreshToken);
  }

  /** Opens a session for a user who already exists (sign-in flows begun before sessions opened with the user). */
  async issue(userId: string, device: DeviceInfo): Promise<TokenPair> {
    await this.refuseBanned(userId, device);
    const refreshToken = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + this.settings.refreshTtlDays * 86_400_000);
    const sessionId = await this.store.create(userId, device, expiresAt, hash(refreshToken));
    return this.pair(userId, sessionId, refreshToken);
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    const oldHash = hash(refreshToken);
    const found = await this.store.lookup(oldHash);
    if (found.kind === 'unknown' || found.kind === 'dead') {
      throw new AppError(ErrorCode.RefreshTokenInvalid, 'the refresh token is not valid; sign in again');
    }
    await this.refuseBanned(found.userId, {});
    const next = randomBytes(32).toString('base64url');
    if (found.kind === 'current' && (await this.store.rotate(oldHash, hash(next), found.sessionId))) {
      return this.pair(found.userId, found.sessionId, next);
    }
    // Already rotated (earlier, or just now by a concurrent call).
    const latest = await this.store.lookup(oldHash);
    const rotatedAt = latest.kind === 'rotated' ? latest.rotatedAt.getTime() : Date.now();
    if (latest.kind !== 'dead' && Date.now() - rotatedAt <= this.settings.reuseGraceSeconds * 1000) {
      // A client that retried after losing the response: it gets a working token of the same
      // family; the one it never received stays valid until it is used or expires.
      await this.store.addToken(found.sessionId, hash(next));
      return this.pair(found.userId, found.sessionId, next);
    }
    await this.revoke(found.userId, found.sessionId, 'refresh_reuse');
    throw new AppError(ErrorCode.RefreshTokenReused, 'this refresh token was already used; every device of this session is signed out');
  }

  async revoke(userId: string, sessionId: string, reason: string): Promise<boolean> {
    const revoked = await this.store.revoke(sessionId, reason, userId);
    if (revoked) await this.announceRevoked(userId, [sessionId]);
    return revoked;
  }

  async revokeAll(userId: string, reason: string): Promise<number> {
    const ids = await this.store.revokeAll(userId, reason);
    await this.announceRevoked(userId, ids);
    return ids.length;
  }

  list(userId: string) {
    return this.store.listActive(userId);
  }

  private async refuseBanned(userId: string, device: DeviceInfo): Promise<void> {
    const banned = await this.bans?.firstBanned([
      ['user', userId],
      ['device', device.deviceId],
    ]);
    if (banned) throw new AppError(ErrorCode.AccountBanned, 'this account is suspended', { ban: banned });
  }

  /** Marks the sessions revoked for as long as their access tokens could live, and closes their sockets. */
  private async announceRevoked(userId: string, sessionIds: string[]): Promise<void> {
    if (sessionIds.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const id of sessionIds) pipeline.set(revokedSessionKey(id), '1', 'EX', this.settings.accessTtlSeconds + 60);
    await pipeline.exec();
    for (const id of sessionIds) {
      await this.events.publishToUser(userId, { id: `session-revoked:${id}`, type: 'session.revoked', at: new Date().toISOString(), data: { sessionId: id } });
    }
  }

  private async pair(userId: string, sessionId: string, refreshToken: string): Promise<TokenPair> {
    return {
      accessToken: await this.tokens.sign({ userId, sessionId }),
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: this.settings.accessTtlSeconds,
      sessionId,
    };
  }
}
