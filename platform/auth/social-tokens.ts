import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';

/**
 * Verification of the tokens a phone gets from Google, Apple and Facebook sign-in. Google and
 * Apple ID tokens are checked against their JSON Web Key Sets (keys cached by jose, refetched
 * on an unknown key id); Facebook access tokens through Graph API's token inspection.
 * Every base URL is configurable so tests point them at a local server.
 */
export type SocialProvider = 'google' | 'apple' | 'facebook';

export interface SocialIdentity {
  provider: SocialProvider;
  subject: string;
  email: string | null;
}

export class SocialTokenRejected extends Error {
  constructor(readonly reason: 'invalid' | 'expired' | 'audience' | 'issuer' | 'nonce' | 'unavailable') {
    super(`social token rejected: ${reason}`);
  }
}

export interface OidcProviderSettings {
  jwksUrl: string;
  issuers: string[];
  /** Our client ids: the token's audience must be one of them. */
  clientIds: string[];
}

export class OidcIdTokenVerifier {
  private readonly keys;

  constructor(
    private readonly provider: 'google' | 'apple',
    private readonly settings: OidcProviderSettings,
  ) {
    this.keys = createRemoteJWKSet(new URL(settings.jwksUrl), { cacheMaxAge: 60 * 60_000, cooldownDuration: 30_000, timeoutDuration: 5_000 });
  }

  async verify(idToken: string, expectedNonce?: string): Promise<SocialIdentity> {
    if (this.settings.clientIds.length === 0) throw new SocialTokenRejected('unavailable');
    try {
      const { payload } = await jwtVerify(idToken, this.keys, {
        algorithms: ['RS256', 'ES256'],
        issuer: this.settings.issuers,
        audience: this.settings.clientIds,
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      if (expectedNonce !== undefined && payload.nonce !== expectedNonce) throw new SocialTokenRejected('nonce');
      return { provider: this.provider, subject: payload.sub!, email: typeof payload.email === 'string' ? payload.email : null };
    } catch (err) {
      if (err instanceof SocialTokenRejected) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new SocialTokenRejected('expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed) {
        throw new SocialTokenRejected(err.claim === 'aud' ? 'audience' : err.claim === 'iss' ? 'issuer' : 'invalid');
      }
      if (err instanceof joseErrors.JWKSTimeout || (err as Error).name === 'TypeError') throw new SocialTokenRejected('unavailable');
      throw new SocialTokenRejected('invalid');
    }
  }
}

export interface FacebookSettings {
  graphUrl: string;
  appId: string;
  appSecret: string;
}

/** Facebook Login gives an access token, inspected with GET /debug_token. */
export class FacebookTokenVerifier {
  constructor(private readonly settings: FacebookSettings) {}

  async verify(accessToken: string): Promise<SocialIdentity> {
    const { graphUrl, appId, appSecret } = this.settings;
    if (!appId || !appSecret) throw new SocialTokenRejected('unavailable');
    const url = new URL(`${graphUrl}/debug_token`);
    url.searchParams.set('input_token', accessToken);
    url.searchParams.set('access_token', `${appId}|${appSecret}`);
    let body: { data?: { app_id?: string; is_valid?: boolean; user_id?: string; expires_at?: number } };
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      if (res.status >= 500) throw new SocialTokenRejected('unavailable');
      body = (await res.json()) as typeof body;
    } catch (err) {
      if (err instanceof SocialTokenRejected) throw err;
      throw new SocialTokenRejected('unavailable');
    }
    const data = body.data;
    if (!data?.is_valid || !data.user_id) {
      throw new SocialTokenRejected(data?.expires_at && data.expires_at * 1000 < Date.now() ? 'expired' : 'invalid');
    }
    if (data.app_id !== appId) throw new SocialTokenRejected('audience');
    return { provider: 'facebook', subject: data.user_id, email: null };
  }
}

export class SocialTokens {
  constructor(
    private readonly google: OidcIdTokenVerifier,
    private readonly apple: OidcIdTokenVerifier,
    private readonly facebook: FacebookTokenVerifier,
  ) {}

  verify(provider: SocialProvider, token: string, nonce?: string): Promise<SocialIdentity> {
    if (provider === 'google') return this.google.verify(token, nonce);
    if (provider === 'apple') return this.apple.verify(token, nonce);
    return this.facebook.verify(token);
  }
}
