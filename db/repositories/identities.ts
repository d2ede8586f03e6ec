import type { DataSource } from 'typeorm';
import { Ledger } from './ledger';

export type IdentityProvider = 'phone' | 'google' | 'apple' | 'facebook';

/** Sign-in methods linked to users. One user per (provider, subject). */
export class IdentityDirectory {
  private readonly ledger: Ledger;

  constructor(private readonly dataSource: DataSource) {
    this.ledger = new Ledger(dataSource);
  }

  /** Idempotent: a retried or concurrent call for one number ends with one user. */
  async findOrCreatePhoneUser(input: { phoneKey: string; maskedPhone: string; phoneCiphertext: string }): Promise<{ userId: string; isNewUser: boolean }> {
    return this.dataSource.transaction(async (tx) => {
      // Serialises first sign-ins of one number without locking anything else.
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`identity:phone:${input.phoneKey}`]);
      const existing: { user_id: string }[] = await tx.query(
        `SELECT user_id FROM user_identities WHERE provider = 'phone' AND subject = $1`,
        [input.phoneKey],
      );
      if (existing[0]) return { userId: existing[0].user_id, isNewUser: false };
      const [user]: { id: string }[] = await tx.query(
        `INSERT INTO users (display_name) VALUES ($1) RETURNING id`,
        [`Aura user ${input.maskedPhone.slice(-3)}`],
      );
      await this.ledger.openWallet(user!.id, tx);
      await tx.query(
        `INSERT INTO user_identities (user_id, provider, subject, display, secret) VALUES ($1, 'phone', $2, $3, $4)`,
        [user!.id, input.phoneKey, input.maskedPhone, input.phoneCiphertext],
      );
      return { userId: user!.id, isNewUser: true };
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
