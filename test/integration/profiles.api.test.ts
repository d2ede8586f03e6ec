import { randomUUID } from 'node:crypto';
import { startApi } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { apiClient, errorCode, UNLIMITED_RATES, type ApiClient, type ApiReply } from '../support/room-api';
import { createUser, type TestUser } from '../support/rooms';

/**
 * Public profiles and follow lists over HTTP on the real stack: GET /v1/users/:id,
 * /v1/users/:id/followers and /following, with blocks hiding users both ways and follow counts
 * kept by the database as follows come and go.
 */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let client: ApiClient;

beforeAll(async () => {
  stack = await connectRealStack('profiles-api');
  api = await startApi(stack, { ...UNLIMITED_RATES, MEDIA_CDN_BASE_URL: 'https://cdn.aura.test/media' });
  client = apiClient(api.url);
});

afterAll(async () => {
  await api?.close();
  await stack?.close();
});

interface Profile {
  id: string;
  displayName: string;
  avatarUrl: string | null;
  region: string | null;
  wealthLevel: number;
  charmLevel: number;
  vip: { tier: number } | null;
  medals: { id: string; slot: number; category: string; name: string; iconKey: string }[];
  cpPartner: { userId: string; displayName: string; avatarUrl: string | null; formedAt: string } | null;
  followerCount: number;
  followingCount: number;
  followedByMe: boolean;
}

interface Card {
  userId: string;
  displayName: string;
  avatarUrl: string | null;
  wealthLevel: number;
  charmLevel: number;
  vipTier: number;
  since: string;
}

interface CardPage {
  items: Card[];
  nextCursor: string | null;
}

const as = (user: TestUser) => client.as(user);
const sql = (text: string, params: unknown[] = []) => stack.dataSource.query(text, params);

async function profileOf(viewer: TestUser, target: string): Promise<Profile> {
  const reply = await as(viewer).get<Profile>(`/users/${target}`);
  expect(reply.status).toBe(200);
  return reply.body;
}

async function follow(who: TestUser, target: TestUser): Promise<void> {
  expect((await as(who).put(`/users/${target.userId}/follow`)).status).toBe(204);
}

async function block(who: TestUser, target: TestUser): Promise<void> {
  expect((await as(who).put(`/users/${target.userId}/block`)).status).toBe(204);
}

/** The stored counters against a fresh count of the rows they stand for. */
async function countsAgree(userId: string): Promise<void> {
  const [row] = (await sql(
    `SELECT COALESCE(c.followers, 0) AS kept_followers, COALESCE(c.following, 0) AS kept_following,
            (SELECT count(*) FROM user_follows WHERE followee_id = $1) AS followers,
            (SELECT count(*) FROM user_follows WHERE follower_id = $1) AS following
       FROM users u LEFT JOIN user_follow_counts c ON c.user_id = u.id WHERE u.id = $1`,
    [userId],
  )) as { kept_followers: string; kept_following: string; followers: string; following: string }[];
  expect({ followers: row!.kept_followers, following: row!.kept_following }).toEqual({ followers: row!.followers, following: row!.following });
}

/** Every page of a list, following nextCursor. */
async function allPages(viewer: TestUser, path: string, limit: number): Promise<{ pages: CardPage[]; ids: string[] }> {
  const pages: CardPage[] = [];
  let cursor: string | null = null;
  do {
    const reply: ApiReply<CardPage> = await as(viewer).get<CardPage>(`${path}?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(reply.status).toBe(200);
    pages.push(reply.body);
    cursor = reply.body.nextCursor;
  } while (cursor && pages.length < 50);
  return { pages, ids: pages.flatMap((p) => p.items.map((i) => i.userId)) };
}

describe('who may see a profile', () => {
  it('answers 404 USER_NOT_FOUND for an unknown user, and the same for a user blocked either way', async () => {
    const [viewer, target, other] = await Promise.all([createUser(stack), createUser(stack), createUser(stack)]);
    const unknown = await as(viewer).get(`/users/${randomUUID()}`);
    expect({ status: unknown.status, code: errorCode(unknown) }).toEqual({ status: 404, code: 'USER_NOT_FOUND' });

    await block(target, viewer); // the target blocked the viewer
    const hidden = await as(viewer).get(`/users/${target.userId}`);
    expect(hidden.status).toBe(404);
    // Indistinguishable from a missing user: same status, code and message.
    expect((hidden.body as { error: { code: string; message: string } }).error).toEqual((unknown.body as { error: unknown }).error);
    // ...and the other way round too.
    expect((await as(target).get(`/users/${viewer.userId}`)).status).toBe(404);

    await block(viewer, other); // the viewer blocked someone
    expect(errorCode(await as(viewer).get(`/users/${other.userId}`))).toBe('USER_NOT_FOUND');
    expect(errorCode(await as(other).get(`/users/${viewer.userId}`))).toBe('USER_NOT_FOUND');

    // Lifting the block shows the profile again.
    expect((await as(target).delete(`/users/${viewer.userId}/block`)).status).toBe(204);
    expect((await profileOf(viewer, target.userId)).id).toBe(target.userId);
  });

  it('refuses a malformed id with 400 and reads an upper-case id as the same user', async () => {
    const [viewer, target] = await Promise.all([createUser(stack), createUser(stack)]);
    const bad = await as(viewer).get('/users/not-a-uuid');
    expect({ status: bad.status, code: errorCode(bad) }).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    expect((await profileOf(viewer, target.userId.toUpperCase())).id).toBe(target.userId);
  });

  it('needs a token', async () => {
    const res = await fetch(`${api.url}/v1/users/${randomUUID()}`);
    expect(res.status).toBe(401);
  });
});

describe('what a profile shows', () => {
  // Birthday, time zone, language and sign-in methods stay on /v1/me: the shape is exact.
  it('shows the name, avatar, region and levels, and nothing private', async () => {
    const [viewer, target] = await Promise.all([createUser(stack), createUser(stack)]);
    await sql(`UPDATE users SET region = 'IN', wealth_level = 12, charm_level = 7, avatar_url = 'https://lh3.example.com/a.png', birthday = '1990-01-31' WHERE id = $1`, [
      target.userId,
    ]);
    const profile = await profileOf(viewer, target.userId);
    expect(profile).toEqual({
      id: target.userId,
      displayName: expect.any(String),
      avatarUrl: 'https://lh3.example.com/a.png',
      region: 'IN',
      wealthLevel: 12,
      charmLevel: 7,
      vip: null,
      medals: [],
      cpPartner: null,
      followerCount: 0,
      followingCount: 0,
      followedByMe: false,
    });
  });

  it('shows the VIP tier only while it has not expired', async () => {
    const [viewer, target] = await Promise.all([createUser(stack), createUser(stack)]);
    await sql(`UPDATE users SET vip_tier = 3, vip_expires_at = now() + interval '2 days' WHERE id = $1`, [target.userId]);
    expect((await profileOf(viewer, target.userId)).vip).toEqual({ tier: 3 });
    // The flow clears the tier at expiry; until it does, a past expiry already hides it.
    await sql(`UPDATE users SET vip_expires_at = now() - interval '1 second' WHERE id = $1`, [target.userId]);
    expect((await profileOf(viewer, target.userId)).vip).toBeNull();
    await sql(`UPDATE users SET vip_tier = 0, vip_expires_at = NULL WHERE id = $1`, [target.userId]);
    expect((await profileOf(viewer, target.userId)).vip).toBeNull();
  });

  it('lists the displayed medals in slot order, leaving out medals held but not shown', async () => {
    const [viewer, target] = await Promise.all([createUser(stack), createUser(stack)]);
    await sql(
      `INSERT INTO user_medals (user_id, medal_id, display_slot) VALUES ($1, 'streak-7', 2), ($1, 'first-recharge', 1), ($1, 'gifts-100', NULL), ($1, 'vip-1', 3)`,
      [target.userId],
    );
    expect((await profileOf(viewer, target.userId)).medals).toEqual([
      { id: 'first-recharge', slot: 1, category: 'wealth', name: 'First Treasure', iconKey: 'medal/first-recharge' },
      { id: 'streak-7', slot: 2, category: 'activity', name: 'Week of Sunshine', iconKey: 'medal/streak-7' },
      { id: 'vip-1', slot: 3, category: 'vip', name: 'VIP', iconKey: 'medal/vip-1' },
    ]);
    // Names in the viewer's language where the catalogue has one, English where it doesn't.
    const inHindi = await fetch(`${api.url}/v1/users/${target.userId}`, {
      headers: { authorization: `Bearer ${viewer.token}`, 'accept-language': 'hi-IN, en;q=0.5' },
    });
    const hindi = (await inHindi.json()) as Profile;
    expect(hindi.medals.map((m) => m.name)).toEqual(['First Treasure', 'सप्ताह की धूप', 'VIP']);
  });

  it('shows the open CP pair partner (either side of the pair), and none once it ended', async () => {
    const [viewer, a, b] = await Promise.all([createUser(stack), createUser(stack), createUser(stack)]);
    const [low, high] = [a.userId, b.userId].sort();
    // An uploaded avatar, as PATCH /v1/me leaves it (the upload row it points at, then the key).
    const key = `avatar/${b.userId}/${randomUUID()}.png`;
    await sql(
      `INSERT INTO media_uploads (id, owner_id, kind, object_key, content_type, declared_bytes, status, bytes, completed_at, expires_at, used_by)
       VALUES ($1, $2, 'avatar', $3, 'image/png', 100, 'ready', 100, now(), now() + interval '1 day', $4)`,
      [randomUUID(), b.userId, key, `avatar:${b.userId}`],
    );
    await sql(`UPDATE users SET avatar_key = $2 WHERE id = $1`, [b.userId, key]);
    const [pair] = (await sql(`INSERT INTO cp_pairs (user_a, user_b, formed_at) VALUES ($1, $2, '2026-01-05T10:00:00Z') RETURNING id`, [low, high])) as { id: string }[];
    const [bName] = (await sql(`SELECT display_name, avatar_key FROM users WHERE id = $1`, [b.userId])) as { display_name: string; avatar_key: string }[];

    expect((await profileOf(viewer, a.userId)).cpPartner).toEqual({
      userId: b.userId,
      displayName: bName!.display_name,
      avatarUrl: `https://cdn.aura.test/media/${bName!.avatar_key}`,
      formedAt: '2026-01-05T10:00:00.000Z',
    });
    expect((await profileOf(viewer, b.userId)).cpPartner?.userId).toBe(a.userId);

    // A viewer blocked either way with the partner doesn't see the partner on anyone's profile.
    await block(b, viewer);
    expect((await profileOf(viewer, a.userId)).cpPartner).toBeNull();
    expect((await as(b).delete(`/users/${viewer.userId}/block`)).status).toBe(204);

    await sql(`UPDATE cp_pairs SET ended_at = now(), ended_by = $2 WHERE id = $1`, [pair!.id, a.userId]);
    expect((await profileOf(viewer, a.userId)).cpPartner).toBeNull();
    expect((await profileOf(viewer, b.userId)).cpPartner).toBeNull();
  });
});

describe('follow counts', () => {
  it('count follows and unfollows, say whether the viewer follows, and drop both ways on a block', async () => {
    const [viewer, target, fan] = await Promise.all([createUser(stack), createUser(stack), createUser(stack)]);
    await follow(viewer, target);
    await follow(viewer, target); // idempotent: counted once
    await follow(fan, target);
    await follow(target, fan);
    let seen = await profileOf(viewer, target.userId);
    expect({ followers: seen.followerCount, following: seen.followingCount, followedByMe: seen.followedByMe }).toEqual({ followers: 2, following: 1, followedByMe: true });
    expect((await profileOf(viewer, viewer.userId)).followingCount).toBe(1);

    expect((await as(viewer).delete(`/users/${target.userId}/follow`)).status).toBe(204);
    expect((await as(viewer).delete(`/users/${target.userId}/follow`)).status).toBe(204); // nothing to undo: no change
    seen = await profileOf(viewer, target.userId);
    expect({ followers: seen.followerCount, followedByMe: seen.followedByMe }).toEqual({ followers: 1, followedByMe: false });

    // A block ends the follows both ways, and the counts with them.
    await block(fan, target);
    const afterBlock = await profileOf(viewer, target.userId);
    expect({ followers: afterBlock.followerCount, following: afterBlock.followingCount }).toEqual({ followers: 0, following: 0 });
    const fanSeen = await profileOf(viewer, fan.userId);
    expect({ followers: fanSeen.followerCount, following: fanSeen.followingCount }).toEqual({ followers: 0, following: 0 });
    for (const u of [viewer, target, fan]) await countsAgree(u.userId);
  });

  it('counts 20 concurrent follows of one user exactly, and concurrent repeats once', async () => {
    const target = await createUser(stack);
    const fans = await Promise.all(Array.from({ length: 20 }, () => createUser(stack)));
    await Promise.all(fans.map((fan) => follow(fan, target)));
    const viewer = await createUser(stack);
    expect((await profileOf(viewer, target.userId)).followerCount).toBe(20);

    // The same follow 10 times at once: one row, counted once.
    const eager = fans[0]!;
    const idol = await createUser(stack);
    await Promise.all(Array.from({ length: 10 }, () => follow(eager, idol)));
    expect((await profileOf(viewer, idol.userId)).followerCount).toBe(1);
    expect((await profileOf(viewer, eager.userId)).followingCount).toBe(2);
    await countsAgree(target.userId);
  });

  it('stays exact through concurrent follows and unfollows among the same users in every direction', async () => {
    const people = await Promise.all(Array.from({ length: 6 }, () => createUser(stack)));
    const ops: Promise<unknown>[] = [];
    // Every ordered pair follows, half of them also unfollow, all at once: no deadlock, no drift.
    for (const a of people) {
      for (const b of people) {
        if (a === b) continue;
        ops.push(
          (async () => {
            await follow(a, b);
            if ((a.userId < b.userId) !== (people.indexOf(a) % 2 === 0)) expect((await as(a).delete(`/users/${b.userId}/follow`)).status).toBe(204);
          })(),
        );
      }
    }
    await Promise.all(ops);
    for (const p of people) await countsAgree(p.userId);
  });

  it('refuses TRUNCATE of follows, which would leave the counts behind', async () => {
    await expect(sql(`TRUNCATE user_follows`)).rejects.toThrow(/user_follow_counts/);
  });
});

describe('followers and following lists', () => {
  it('page newest first with cursors, each user as a card with levels and VIP tier', async () => {
    const [viewer, target] = await Promise.all([createUser(stack), createUser(stack)]);
    const fans: TestUser[] = [];
    for (let i = 0; i < 5; i++) {
      const fan = await createUser(stack);
      await follow(fan, target); // one after another: distinct created_at, newest last
      fans.push(fan);
    }
    await sql(`UPDATE users SET wealth_level = 9, charm_level = 2, vip_tier = 1, vip_expires_at = now() + interval '1 day' WHERE id = $1`, [fans[4]!.userId]);
    await sql(`UPDATE users SET vip_tier = 2, vip_expires_at = now() - interval '1 minute' WHERE id = $1`, [fans[3]!.userId]);

    const { pages, ids } = await allPages(viewer, `/users/${target.userId}/followers`, 2);
    expect(pages.map((p) => p.items.length)).toEqual([2, 2, 1]);
    expect(ids).toEqual(fans.map((f) => f.userId).reverse());
    expect(pages[0]!.items[0]).toEqual({
      userId: fans[4]!.userId,
      displayName: expect.any(String),
      avatarUrl: null,
      wealthLevel: 9,
      charmLevel: 2,
      vipTier: 1,
      since: expect.any(String),
    });
    expect(pages[0]!.items[1]!.vipTier).toBe(0); // expired
    expect(pages[2]!.nextCursor).toBeNull();

    // Whom one fan follows.
    const following = await as(viewer).get<CardPage>(`/users/${fans[0]!.userId}/following`);
    expect(following.body.items.map((i) => i.userId)).toEqual([target.userId]);
  });

  it('leave out users blocked either way with the viewer, and hide a target blocked either way', async () => {
    const [viewer, target, blockedByViewer, blocksViewer, plain] = (await Promise.all(Array.from({ length: 5 }, () => createUser(stack)))) as [TestUser, TestUser, TestUser, TestUser, TestUser];
    for (const fan of [blockedByViewer, blocksViewer, plain]) {
      await follow(fan, target);
      await follow(target, fan);
    }
    await block(viewer, blockedByViewer);
    await block(blocksViewer, viewer);

    const followers = await allPages(viewer, `/users/${target.userId}/followers`, 1);
    expect(followers.ids).toEqual([plain.userId]);
    expect(followers.pages.every((p) => p.items.length === 1)).toBe(true); // filtered before the limit: no empty pages
    expect((await allPages(viewer, `/users/${target.userId}/following`, 10)).ids).toEqual([plain.userId]);
    // Someone else sees all three.
    expect((await allPages(plain, `/users/${target.userId}/followers`, 10)).ids).toHaveLength(3);
    // The counts are totals, the same for everyone.
    expect((await profileOf(viewer, target.userId)).followerCount).toBe(3);

    await block(target, viewer);
    for (const list of ['followers', 'following']) {
      const hidden = await as(viewer).get(`/users/${target.userId}/${list}`);
      expect({ status: hidden.status, code: errorCode(hidden) }).toEqual({ status: 404, code: 'USER_NOT_FOUND' });
    }
    const unknown = await as(viewer).get(`/users/${randomUUID()}/followers`);
    expect(errorCode(unknown)).toBe('USER_NOT_FOUND');
  });

  it('refuses a cursor that is not ours, and a bad limit', async () => {
    const [viewer, target] = await Promise.all([createUser(stack), createUser(stack)]);
    for (const query of ['?cursor=abc', '?limit=0', '?limit=101', '?limit=x', '?cursor=' + Buffer.from('["2026-02-30T00:00:00.000000Z","x"]').toString('base64url')]) {
      const reply = await as(viewer).get(`/users/${target.userId}/followers${query}`);
      expect({ query, status: reply.status, code: errorCode(reply) }).toEqual({ query, status: 400, code: 'VALIDATION_FAILED' });
    }
  });
});
