import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What public profiles read (issue 11): follower and following counts kept as counters, and the
 * indexes the followers and following lists page through newest first.
 *
 * Why counters rather than counting on each read: a profile is read far more often than anyone
 * follows, and counting a popular user's followers is one index entry per follower on every
 * read. The counts live in their own narrow table, not on `users`, so a rush of follows on one
 * user never queues behind (or holds up) the row that gift sends and level updates write.
 *
 * A trigger keeps them: it runs inside whatever transaction adds or removes a follow (follow,
 * unfollow, a block ending follows both ways), so the counts commit with the change or not at
 * all, whichever code path made it. Both users' rows are written in one statement in user id
 * order, so concurrent follows between different users can't deadlock. The backfill runs under
 * a lock that keeps follows out until the trigger is in place, so none is missed or counted twice.
 */
export class ProfileCounts1764700600000 implements MigrationInterface {
  name = 'ProfileCounts1764700600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE user_follow_counts (
        user_id uuid PRIMARY KEY REFERENCES users(id),
        followers bigint NOT NULL DEFAULT 0 CHECK (followers >= 0),
        following bigint NOT NULL DEFAULT 0 CHECK (following >= 0)
      )`);
    await q.query(`
      CREATE FUNCTION user_follow_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        f uuid;
        e uuid;
        d bigint;
      BEGIN
        IF TG_OP = 'INSERT' THEN f := NEW.follower_id; e := NEW.followee_id; d := 1;
        ELSE f := OLD.follower_id; e := OLD.followee_id; d := -1;
        END IF;
        INSERT INTO user_follow_counts AS c (user_id, followers, following)
          SELECT id, GREATEST(fd, 0), GREATEST(gd, 0)
            FROM (VALUES (e, d, 0::bigint), (f, 0::bigint, d)) AS v(id, fd, gd)
           ORDER BY id
        ON CONFLICT (user_id) DO UPDATE
          SET followers = c.followers + (CASE WHEN c.user_id = e THEN d ELSE 0 END),
              following = c.following + (CASE WHEN c.user_id = f THEN d ELSE 0 END);
        RETURN NULL;
      END $$`);
    // No follow may be added or removed between the count and the trigger (SHARE blocks writes).
    await q.query(`LOCK TABLE user_follows IN SHARE MODE`);
    await q.query(`
      INSERT INTO user_follow_counts (user_id, followers, following)
      SELECT id, sum(followers), sum(following) FROM (
        SELECT followee_id AS id, count(*) AS followers, 0 AS following FROM user_follows GROUP BY followee_id
        UNION ALL
        SELECT follower_id, 0, count(*) FROM user_follows GROUP BY follower_id
      ) t GROUP BY id`);
    await q.query(`CREATE TRIGGER user_follows_count AFTER INSERT OR DELETE ON user_follows
      FOR EACH ROW EXECUTE FUNCTION user_follow_counts_apply()`);
    // Counts can't be kept through TRUNCATE (no row triggers): refuse it.
    await q.query(`CREATE FUNCTION user_follows_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'user_follows is counted in user_follow_counts: delete rows instead of truncating'; END $$`);
    await q.query(`CREATE TRIGGER user_follows_no_truncate BEFORE TRUNCATE ON user_follows
      FOR EACH STATEMENT EXECUTE FUNCTION user_follows_refuse_truncate()`);

    // The lists, newest first: a user's followers, and whom a user follows.
    await q.query(`CREATE INDEX ix_user_follows_followee_recent ON user_follows (followee_id, created_at DESC, follower_id DESC)`);
    await q.query(`CREATE INDEX ix_user_follows_follower_recent ON user_follows (follower_id, created_at DESC, followee_id DESC)`);
    // The first covers what this one did (followers of a user).
    await q.query(`DROP INDEX ix_user_follows_followee`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX ix_user_follows_followee ON user_follows (followee_id)`);
    await q.query(`DROP INDEX ix_user_follows_follower_recent`);
    await q.query(`DROP INDEX ix_user_follows_followee_recent`);
    await q.query(`DROP TRIGGER user_follows_no_truncate ON user_follows`);
    await q.query(`DROP FUNCTION user_follows_refuse_truncate`);
    await q.query(`DROP TRIGGER user_follows_count ON user_follows`);
    await q.query(`DROP FUNCTION user_follow_counts_apply`);
    await q.query(`DROP TABLE user_follow_counts`);
  }
}
