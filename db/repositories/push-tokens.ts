import type { DataSource } from 'typeorm';
import { AppError, ErrorCode } from '../../domain/errors';
import { PG_FOREIGN_KEY_VIOLATION, isPgError } from './pg-errors';
import { modifyReturning } from './sql';

/** Installs one user may have push tokens for; registering past it drops the least recently refreshed. */
export const MAX_PUSH_TOKENS_PER_USER = 10;

export interface PushTokenRegistration {
  userId: string;
  token: string;
  platform: 'android';
  deviceId: string;
}

/**
 * The FCM registration tokens of users' app installs. A token belongs to the newest user to
 * register it (a phone signed into another account pushes to that account only), and one
 * install (user and device) holds one token: a refreshed token replaces the old one.
 */
export class PushTokens {
  constructor(private readonly dataSource: DataSource) {}

  /** Registers or refreshes; idempotent. Returns whether the token moved from another user. */
  async register(r: PushTokenRegistration): Promise<{ movedFromAnotherUser: boolean }> {
    try {
      return await this.dataSource.transaction(async (tx) => {
        // One registration per user at a time: the device's old token and the cap are decided alone.
        await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`push-tokens:${r.userId}`]);
        const [previous]: { user_id: string }[] = await tx.query(`SELECT user_id FROM push_tokens WHERE token = $1 FOR UPDATE`, [r.token]);
        await tx.query(`DELETE FROM push_tokens WHERE user_id = $1 AND device_id = $2 AND token <> $3`, [r.userId, r.deviceId, r.token]);
        await tx.query(
          `INSERT INTO push_tokens (token, user_id, platform, device_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT (token) DO UPDATE
             SET user_id = EXCLUDED.user_id, platform = EXCLUDED.platform, device_id = EXCLUDED.device_id, refreshed_at = now()`,
          [r.token, r.userId, r.platform, r.deviceId],
        );
        const moved = previous !== undefined && previous.user_id !== r.userId;
        if (moved) {
          // The previous user's pushes still waiting for this phone must not reach the new one.
          await tx.query(`DELETE FROM push_outbox o USING notifications n WHERE o.token = $1 AND n.id = o.notification_id AND n.user_id <> $2`, [r.token, r.userId]);
        }
        await tx.query(
          `DELETE FROM push_tokens WHERE token IN (
             SELECT token FROM push_tokens WHERE user_id = $1 ORDER BY refreshed_at DESC, token OFFSET $2)`,
          [r.userId, MAX_PUSH_TOKENS_PER_USER],
        );
        return { movedFromAnotherUser: moved };
      });
    } catch (err) {
      if (isPgError(err, PG_FOREIGN_KEY_VIOLATION)) throw new AppError(ErrorCode.UserNotFound, 'the signed-in user does not exist');
      throw err;
    }
  }

  /** Removes the user's token (a token of someone else's is left alone); false if they had none such. */
  async remove(userId: string, token: string): Promise<boolean> {
    const rows = await modifyReturning(this.dataSource.manager, `DELETE FROM push_tokens WHERE token = $1 AND user_id = $2 RETURNING 1`, [token, userId]);
    return rows.length > 0;
  }

  /** Removes the user's tokens of one device (on sign-out from it); how many went. */
  async removeDevice(userId: string, deviceId: string): Promise<number> {
    const rows = await modifyReturning(this.dataSource.manager, `DELETE FROM push_tokens WHERE user_id = $1 AND device_id = $2 RETURNING 1`, [userId, deviceId]);
    return rows.length;
  }

  /** FCM says the token will never work again: whoever holds it, it goes (with its pending pushes). */
  async forget(token: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM push_tokens WHERE token = $1`, [token]);
  }

  async ofUser(userId: string): Promise<{ token: string; platform: string; deviceId: string }[]> {
    const rows: { token: string; platform: string; device_id: string }[] = await this.dataSource.query(
      `SELECT token, platform, device_id FROM push_tokens WHERE user_id = $1 ORDER BY refreshed_at DESC, token`,
      [userId],
    );
    return rows.map((r) => ({ token: r.token, platform: r.platform, deviceId: r.device_id }));
  }
}
