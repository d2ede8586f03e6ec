import type { DataSource, EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '../../domain/errors';
import { Ledger } from './ledger';
import { newUserDisplayName } from './users';

export type IdentityProvider = 'phone' | 'google' | 'apple' | 'facebook';

/** A sign-in method as proven by a provider: a phone number's keyed hash, or a social account. */
export interface SignInIdentity {
  provider: IdentityProvider;
  subject: string;
  /** What the user sees among their sign-in methods (a masked number, an email). */
  display: string | null;
  /** Phone identities keep the number encrypted, for texts only the activities send. */
  secret?: string;
}

/** Sign-in methods linked to users. One user per (provider, subject). */
export class IdentityDirectory {
  private readonly ledger: Ledger;

  constructor(private readonly dataSource: DataSource) {
    this.ledger = new Ledger(dataSource);
  }

  /**
   * The user signed in with this provider account, created (with a wallet and a display name
   * that says nothing about the account) on first sign-in. Idempotent: a retried or concurrent
   * call for one account ends with one user. Inside `tx` when given, so a caller can open the
   * session in the same transaction.
   */
  async findOrCreate(input: SignInIdentity, tx?: EntityManager): Promise<{ userId: string; isNewUser: boolean }> {
    if (!tx) return this.dataSource.transaction((own) => this.findOrCreate(input, own));
    // Serialises first sign-ins of one account without locking anything else.
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`identity:${input.provider}:${input.subject}`]);
    const existing: { user_id: string }[] = await tx.query(
      `SELECT user_id FROM user_identities WHERE provider = $1 AND subject = $2`,
      [input.provider, input.subject],
    );
    if (existing[0]) return { userId: existing[0].user_id, isNewUser: false };
    const [user]: { id: string }[] = await tx.query(`INSERT INTO users (display_name) VALUES ($1) RETURNING id`, [newUserDisplayName()]);
    await this.ledger.openWallet(user!.id, tx);
    await tx.query(
      `INSERT INTO user_identities (user_id, provider, subject, display, secret) VALUES ($1, $2, $3, $4, $5)`,
      [user!.id, input.provider, input.subject, input.display, input.secret ?? null],
    );
    return { userId: user!.id, isNewUser: true };
  }

  /** Links a provider account to a user; refused if it already belongs to someone else. */
  async link(userId: string, input: { provider: IdentityProvider; subject: string; display: string | null }): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`identity:${input.provider}:${input.subject}`]);
      const owner: { user_id: string }[] = await tx.query(
        `SELECT user_id FROM user_identities WHERE provider = $1 AND subject = $2`,
        [input.provider, input.subject],
      );
      if (owner[0] && owner[0].user_id !== userId) {
        throw new AppError(ErrorCode.IdentityInUse, 'this account is already linked to another Aura user');
      }
      if (owner[0]) return;
      const same: unknown[] = await tx.query(`SELECT 1 FROM user_identities WHERE user_id = $1 AND provider = $2`, [userId, input.provider]);
      if (same.length) throw new AppError(ErrorCode.IdentityInUse, `another ${input.provider} account is already linked; unlink it first`);
      await tx.query(`INSERT INTO user_identities (user_id, provider, subject, display) VALUES ($1, $2, $3, $4)`, [
        userId,
        input.provider,
        input.subject,
        input.display,
      ]);
    });
  }

  /** Unlinks a sign-in method; the last one stays, or the account could never be entered again. */
  async unlink(userId: string, provider: IdentityProvider): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      const methods: { provider: string }[] = await tx.query(
        `SELECT provider FROM user_identities WHERE user_id = $1 FOR UPDATE`,
        [userId],
      );
      if (!methods.some((m) => m.provider === provider)) throw new AppError(ErrorCode.NotFound, `no ${provider} sign-in is linked`);
      if (methods.length === 1) throw new AppError(ErrorCode.LastSignInMethod, 'the last sign-in method cannot be unlinked');
      await tx.query(`DELETE FROM user_identities WHERE user_id = $1 AND provider = $2`, [userId, provider]);
    });
  }

  async listForUser(userId: string): Promise<{ provider: IdentityProvider; display: string | null; linkedAt: string }[]> {
    const rows: { provider: IdentityProvider; display: string | null; created_at: Date }[] = await this.dataSource.query(
      `SELECT provider, display, created_at FROM user_identities WHERE user_id = $1 ORDER BY created_at`,
      [userId],
    );
    return rows.map((r) => ({ provider: r.provider, display: r.display, linkedAt: r.created_at.toISOString() }));
  }
}
