import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { randomUUID } from 'node:crypto';

/**
 * Access JWTs: HS256 with a server secret, pinned on verification together with issuer,
 * audience and expiry. The API, the realtime edge and the tests all use this one module;
 * issuing tokens to users belongs to sign-in.
 */
export interface AccessClaims {
  userId: string;
  sessionId: string;
  expiresAt: number;
}

export type TokenRejection = 'expired' | 'invalid';

export class AccessTokenError extends Error {
  constructor(readonly reason: TokenRejection) {
    super(reason === 'expired' ? 'access token expired' : 'access token invalid');
  }
}

const ALGORITHM = 'HS256';

export interface AccessTokenSettings {
  secret: string;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export class AccessTokens {
  private readonly key: Uint8Array;

  constructor(private readonly settings: AccessTokenSettings) {
    this.key = new TextEncoder().encode(settings.secret);
  }

  async sign(subject: { userId: string; sessionId?: string }, ttlSeconds = this.settings.ttlSeconds): Promise<string> {
    return new SignJWT({ sid: subject.sessionId ?? randomUUID() })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(subject.userId)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.key);
  }

  /**
   * Tokens already verified, with their claims: an app sends the same access token on every
   * request for its 15-minute life, and the signature check is most of the per-request CPU of an
   * authenticated read. The same string always verifies the same way, so only expiry is checked
   * again on a hit (revocation and bans are checked separately, on every request). Bounded; the
   * oldest entries go first.
   */
  private readonly verified = new Map<string, AccessClaims>();
  private static readonly VERIFIED_MAX = 20_000;

  async verify(token: string): Promise<AccessClaims> {
    const known = this.verified.get(token);
    if (known) {
      if (known.expiresAt > Date.now()) return known;
      this.verified.delete(token);
      throw new AccessTokenError('expired');
    }
    const claims = await this.verifySignature(token);
    if (this.verified.size >= AccessTokens.VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, claims);
    return claims;
  }

  private async verifySignature(token: string): Promise<AccessClaims> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [ALGORITHM],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        requiredClaims: ['sub', 'exp', 'sid'],
      });
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || typeof payload.exp !== 'number') {
        throw new AccessTokenError('invalid');
      }
      return { userId: payload.sub, sessionId: payload.sid, expiresAt: payload.exp * 1000 };
    } catch (err) {
      if (err instanceof AccessTokenError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new AccessTokenError('expired');
      throw new AccessTokenError('invalid');
    }
  }
}

export function accessTokensFromConfig(config: {
  ACCESS_TOKEN_SECRET: string;
  ACCESS_TOKEN_ISSUER: string;
  ACCESS_TOKEN_AUDIENCE: string;
  ACCESS_TOKEN_TTL_SECONDS: number;
}): AccessTokens {
  return new AccessTokens({
    secret: config.ACCESS_TOKEN_SECRET,
    issuer: config.ACCESS_TOKEN_ISSUER,
    audience: config.ACCESS_TOKEN_AUDIENCE,
    ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  });
}
