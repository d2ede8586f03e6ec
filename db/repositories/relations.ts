import type { DataSource, EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '../../domain/errors';
import { cursorTimestamp, decodeCursor, isUuid, pageLimit, toPage, type Page } from './pagination';
import { PG_FOREIGN_KEY_VIOLATION, isPgError } from './pg-errors';
import { modifyReturning } from './sql';

/** The target was checked first, so a missing user here is the actor (e.g. a token outliving its account). */
async function insertOrExplain(tx: EntityManager, sql: string, params: unknown[]): Promise<unknown[]> {
  try {
    return (await tx.query(sql, params)) as unknown[];
  } catch (err) {
    if (isPgError(err, PG_FOREIGN_KEY_VIOLATION)) throw new AppError(ErrorCode.UserNotFound, 'the acting user does not exist');
    throw err;
  }
}

export interface RelatedUser {
  userId: string;
  /** When the follow or block was made. */
  since: string;
}

/**
 * Follows and blocks between users. A block ends follows both ways and stops new ones; the
 * two users' relation changes are serialised on a lock for the pair so a follow can't slip
 * past a concurrent block.
 */
export class Relations {
  constructor(private readonly dataSource: DataSource) {}

  /** Idempotent. Refused between users where either has blocked the other. True when the follow is new. */
  async follow(followerId: string, followeeId: string): Promise<boolean> {
    this.refuseSelf(followerId, followeeId, 'follow');
    return this.dataSource.transaction(async (tx) => {
      await this.lockPair(tx, followerId, followeeId);
      await this.requireUser(tx, followeeId);
      if (await this.isBlockedEitherWay(followerId, followeeId, tx)) {
        throw new AppError(ErrorCode.UserBlocked, 'you cannot follow this user');
      }
      const inserted = await insertOrExplain(
        tx,
        `INSERT INTO user_follows (follower_id, followee_id) VALUES ($1, $2) ON CONFLICT (follower_id, followee_id) DO NOTHING RETURNING 1`,
        [followerId, followeeId],
      );
      return inserted.length > 0;
    });
  }

  /** False if there was no follow. */
  async unfollow(followerId: string, followeeId: string): Promise<boolean> {
    if (!isUuid(followerId) || !isUuid(followeeId)) return false;
    const rows = await modifyReturning(
      this.dataSource.manager,
      `DELETE FROM user_follows WHERE follower_id = $1 AND followee_id = $2 RETURNING 1`,
      [followerId, followeeId],
    );
    return rows.length > 0;
  }

  /** Idempotent. Also ends any follow between the two, either way, in the same transaction. */
  async block(blockerId: string, blockedId: string): Promise<void> {
    this.refuseSelf(blockerId, blockedId, 'block');
    await this.dataSource.transaction(async (tx) => {
      await this.lockPair(tx, blockerId, blockedId);
      await this.requireUser(tx, blockedId);
      await insertOrExplain(
        tx,
        `INSERT INTO user_blocks (blocker_id, blocked_id) VALUES ($1, $2) ON CONFLICT (blocker_id, blocked_id) DO NOTHING`,
        [blockerId, blockedId],
      );
      await tx.query(
        `DELETE FROM user_follows
          WHERE (follower_id = $1 AND followee_id = $2) OR (follower_id = $2 AND followee_id = $1)`,
        [blockerId, blockedId],
      );
    });
  }

  /** False if there was no block. Follows ended by the block stay ended. */
  async unblock(blockerId: string, blockedId: string): Promise<boolean> {
    if (!isUuid(blockerId) || !isUuid(blockedId)) return false;
    const rows = await modifyReturning(
      this.dataSource.manager,
      `DELETE FROM user_blocks WHERE blocker_id = $1 AND blocked_id = $2 RETURNING 1`,
      [blockerId, blockedId],
    );
    return rows.length > 0;
  }

  async isBlockedEitherWay(a: string, b: string, manager: EntityManager = this.dataSource.manager): Promise<boolean> {
    if (!isUuid(a) || !isUuid(b)) return false;
    const rows: unknown[] = await manager.query(
      `SELECT 1 FROM user_blocks
        WHERE (blocker_id = $1 AND blocked_id = $2) OR (blocker_id = $2 AND blocked_id = $1)
        LIMIT 1`,
      [a, b],
    );
    return rows.length > 0;
  }

  /** Whom the user follows, most recent first. */
  async listFollowing(userId: string, page: { cursor?: string; limit: number }): Promise<Page<RelatedUser>> {
    return this.list('user_follows', 'follower_id', 'followee_id', userId, page);
  }

  /** Whom the user blocked, most recent first. */
  async listBlocked(userId: string, page: { cursor?: string; limit: number }): Promise<Page<RelatedUser>> {
    return this.list('user_blocks', 'blocker_id', 'blocked_id', userId, page);
  }

  private async list(
    table: 'user_follows' | 'user_blocks',
    ownerColumn: 'follower_id' | 'blocker_id',
    otherColumn: 'followee_id' | 'blocked_id',
    userId: string,
    page: { cursor?: string; limit: number },
  ): Promise<Page<RelatedUser>> {
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, ['timestamp', 'uuid']);
    if (!isUuid(userId)) return { items: [], nextCursor: null };
    const rows: { other_id: string; created_at: Date; created_key: string }[] = await this.dataSource.query(
      `SELECT ${otherColumn} AS other_id, created_at, ${cursorTimestamp('created_at')} AS created_key
         FROM ${table}
        WHERE ${ownerColumn} = $1 AND ($2::timestamptz IS NULL OR (created_at, ${otherColumn}) < ($2::timestamptz, $3::uuid))
        ORDER BY created_at DESC, ${otherColumn} DESC
        LIMIT $4`,
      [userId, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(
      rows,
      limit,
      (r) => [r.created_key, r.other_id],
      (r) => ({ userId: r.other_id, since: r.created_at.toISOString() }),
    );
  }

  private refuseSelf(a: string, b: string, verb: string): void {
    if (!isUuid(b)) throw new AppError(ErrorCode.UserNotFound, 'no such user');
    if (!isUuid(a)) throw new AppError(ErrorCode.UserNotFound, 'the acting user does not exist');
    if (a.toLowerCase() === b.toLowerCase()) throw new AppError(ErrorCode.CannotTargetSelfUser, `you cannot ${verb} yourself`);
  }

  /** One lock per unordered pair: follow and block of the same two users run one at a time. */
  private async lockPair(tx: EntityManager, a: string, b: string): Promise<void> {
    const [low, high] = [a.toLowerCase(), b.toLowerCase()].sort();
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`user-pair:${low}:${high}`]);
  }

  private async requireUser(tx: EntityManager, userId: string): Promise<void> {
    const rows: unknown[] = await tx.query(`SELECT 1 FROM users WHERE id = $1`, [userId]);
    if (rows.length === 0) throw new AppError(ErrorCode.UserNotFound, 'no such user');
  }
}
