import type { IdentityDirectory, IdentityProvider } from '../../db/repositories/identities';
import type { DeviceInfo } from '../../db/repositories/sessions';
import { AppError, ErrorCode } from '../../domain/errors';
import { SocialTokenRejected, type SocialProvider, type SocialTokens } from '../../platform/auth/social-tokens';
import type { Metrics } from '../../platform/metrics';
import type { Sessions } from './sessions';
import type { SignInResult } from './sign-in';
import type { SignInRecords } from './sign-in-records';

/** Google, Apple and Facebook sign-in, and linking or unlinking sign-in methods. */
export class SocialSignIn {
  constructor(
    private readonly deps: {
      tokens: SocialTokens;
      identities: IdentityDirectory;
      records: SignInRecords;
      sessions: Sessions;
      metrics: Metrics;
    },
  ) {}

  /** The user behind a provider's token (created on first sign-in) and a new session, opened together. */
  async signIn(provider: SocialProvider, token: string, nonce: string | undefined, device: DeviceInfo): Promise<SignInResult> {
    const identity = await this.verified(provider, token, nonce);
    const prepared = this.deps.sessions.prepare();
    const user = await this.deps.records.open(
      { provider, subject: identity.subject, display: identity.email },
      { refreshTokenHash: prepared.refreshTokenHash, expiresAt: prepared.expiresAt, device },
    );
    const tokens = await this.deps.sessions.tokensFor(user.userId, user.sessionId, prepared);
    return { ...tokens, user: { id: user.userId, isNew: user.isNewUser } };
  }

  async link(userId: string, provider: SocialProvider, token: string, nonce?: string) {
    const identity = await this.verified(provider, token, nonce);
    await this.deps.identities.link(userId, { provider, subject: identity.subject, display: identity.email });
    return this.deps.identities.listForUser(userId);
  }

  async unlink(userId: string, provider: IdentityProvider) {
    await this.deps.identities.unlink(userId, provider);
    return this.deps.identities.listForUser(userId);
  }

  private async verified(provider: SocialProvider, token: string, nonce?: string) {
    try {
      return await this.deps.tokens.verify(provider, token, nonce);
    } catch (err) {
      if (!(err instanceof SocialTokenRejected)) throw err;
      this.deps.metrics.signInFailures.inc({ reason: `SOCIAL_${err.reason.toUpperCase()}` });
      if (err.reason === 'unavailable') {
        throw new AppError(ErrorCode.SocialProviderUnavailable, `${provider} sign-in is not available right now`);
      }
      throw new AppError(ErrorCode.SocialTokenInvalid, `the ${provider} token was not accepted`, { reason: err.reason });
    }
  }
}
