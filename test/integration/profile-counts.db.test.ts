import { ProfileCounts1764700600000 } from '../../db/migrations/1764700600000-ProfileCounts';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * The follow counters' migration on real PostgreSQL: it counts the follows that exist before
 * it (the backfill), then the trigger keeps counting. Run inside a transaction that is rolled
 * back, so the shared database is left as it was.
 */
let stack: RealStack;

beforeAll(async () => {
  stack = await connectRealStack('profile-counts');
});

afterAll(async () => {
  await stack?.close();
});

it('backfills the counts of follows made before it, then counts new ones', async () => {
  const users = await Promise.all(Array.from({ length: 4 }, () => stack.newUser()));
  const [a, b, c, d] = users.map((u) => u.id) as [string, string, string, string];
  const runner = stack.dataSource.createQueryRunner();
  await runner.connect();
  await runner.startTransaction();
  try {
    const migration = new ProfileCounts1764700600000();
    await migration.down(runner);
    // Follows made while nothing counted them.
    await runner.query(`INSERT INTO user_follows (follower_id, followee_id) VALUES ($1, $2), ($3, $2), ($4, $2), ($2, $1)`, [a, b, c, d]);
    await migration.up(runner);
    const counts = async () =>
      new Map(
        ((await runner.query(`SELECT user_id, followers, following FROM user_follow_counts WHERE user_id = ANY($1::uuid[])`, [[a, b, c, d]])) as {
          user_id: string;
          followers: string;
          following: string;
        }[]).map((r) => [r.user_id, [Number(r.followers), Number(r.following)]]),
      );
    expect(await counts()).toEqual(
      new Map([
        [a, [1, 1]],
        [b, [3, 1]],
        [c, [0, 1]],
        [d, [0, 1]],
      ]),
    );
    await runner.query(`DELETE FROM user_follows WHERE follower_id = $1 AND followee_id = $2`, [c, b]);
    await runner.query(`INSERT INTO user_follows (follower_id, followee_id) VALUES ($1, $2)`, [c, d]);
    expect(await counts()).toEqual(
      new Map([
        [a, [1, 1]],
        [b, [2, 1]],
        [c, [0, 1]],
        [d, [1, 1]],
      ]),
    );
    // The counters can't go negative, whatever writes them.
    await expect(runner.query(`UPDATE user_follow_counts SET followers = -1 WHERE user_id = $1`, [c])).rejects.toThrow(/check/i);
  } finally {
    await runner.rollbackTransaction();
    await runner.release();
  }
});
