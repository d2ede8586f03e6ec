import type { DataSource } from 'typeorm';
import { IdentityDirectory, type SignInIdentity } from '../../db/repositories/identities';
import { SessionStore, type DeviceInfo } from '../../db/repositories/sessions';
import { AppError, ErrorCode } from '../../domain/errors';
import type { BanList } from '../../platform/auth/ban-list';

export interface SignedIn {
  userId: string;
  isNewUser: boolean;
  sessionId: string;
}

/**
 * What a successful sign-in leaves in PostgreSQL: the user (found, or created with its wallet
 * and identity) and the session, in one transaction. A failure leaves neither, so the sign-in
 * can simply be tried again; a retry of an attempt that did commit (its answer lost) finds the
 * session by its first refresh token and returns it instead of opening a second one.
 */
export class SignInRecords {
  private readonly identities: IdentityDirectory;
  private readonly sessions: SessionStore;

  constructor(
    private readonly dataSource: DataSource,
    private readonly bans: Pick<BanList, 'firstBanned'>,
  ) {
    this.identities = new IdentityDirectory(dataSource);
    this.sessions = new SessionStore(dataSource);
  }

  async open(identity: SignInIdentity, session: { refreshTokenHash: string; expiresAt: Date; device: DeviceInfo }): Promise<SignedIn> {
    const earlier = await this.sessions.openedBy(session.refreshTokenHash);
    if (earlier) return { userId: earlier.userId, isNewUser: earlier.withNewUser, sessionId: earlier.sessionId };
    return this.dataSource.transaction(async (tx) => {
      const user = await this.identities.findOrCreate(identity, tx);
      const banned = await this.bans.firstBanned([
        ['user', user.userId],
        ['device', session.device.deviceId],
      ]);
      if (banned) throw new AppError(ErrorCode.AccountBanned, 'this account is suspended', { ban: banned });
      const sessionId = await this.sessions.create(user.userId, session.device, session.expiresAt, session.refreshTokenHash, tx);
      return { ...user, sessionId };
    });
  }
}
