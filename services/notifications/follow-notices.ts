import type { DataSource } from 'typeorm';
import type { Logger } from '../../platform/logging';
import type { Notifier } from './notifier';

/**
 * Tells a user someone followed them: one `follow` notification per follower and UTC day, so
 * following, unfollowing and following again the same day notifies once. Sent after the follow
 * committed, and only while it stands and neither has blocked the other. Best effort: a follow
 * never fails for its notification (a crash between the two loses that one notification; a
 * follow is not worth a repair pass).
 */
export class FollowNotices {
  constructor(
    private readonly deps: {
      dataSource: DataSource;
      notifier: Notifier;
      logger: Pick<Logger, 'warn'>;
    },
  ) {}

  async followed(followerId: string, followeeId: string, at = new Date()): Promise<void> {
    try {
      const [row]: { display_name: string }[] = await this.deps.dataSource.query(
        `SELECT u.display_name FROM users u
          WHERE u.id = $1
            AND EXISTS (SELECT 1 FROM user_follows f WHERE f.follower_id = $1 AND f.followee_id = $2)
            AND NOT EXISTS (SELECT 1 FROM user_blocks b WHERE (b.blocker_id = $1 AND b.blocked_id = $2) OR (b.blocker_id = $2 AND b.blocked_id = $1))`,
        [followerId, followeeId],
      );
      if (!row) return;
      await this.deps.notifier.notify({
        userId: followeeId,
        kind: 'follow',
        title: 'New follower',
        body: `${row.display_name} started following you`,
        data: { followerId },
        idempotencyKey: `follow:${followeeId}:${followerId}:${at.toISOString().slice(0, 10)}`,
      });
    } catch (err) {
      this.deps.logger.warn({ err, followeeId }, 'a follow committed but its notification failed');
    }
  }
}
