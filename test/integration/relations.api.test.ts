import { randomUUID } from 'node:crypto';
import { startApi } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';

/** Follows and blocks over HTTP on the real stack: /v1/users/:id/{follow,block}, /v1/me/{following,blocked}. */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;

beforeAll(async () => {
  stack = await connectRealStack('relations-api');
  // Other suites share 127.0.0.1 and Redis; this suite's own limits must not be what it tests.
  api = await startApi(stack, { RATE_LIMIT_IP_PER_MINUTE: 10_000, RATE_LIMIT_USER_PER_MINUTE: 10_000 });
});

afterAll(async () => {
  await api?.close();
  await stack?.close();
});

interface Person {
  id: string;
  headers: Record<string, string>;
}

async function person(): Promise<Person> {
  const user = await stack.newUser();
  return { id: user.id, headers: { authorization: `Bearer ${await stack.tokens.sign({ userId: user.id })}` } };
}

async function call(who: Person | null, method: string, path: string): Promise<Response> {
  return fetch(`${api.url}/v1${path}`, { method, headers: who?.headers ?? {} });
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

interface RelatedPage {
  items: { userId: string; since: string }[];
  nextCursor: string | null;
}

async function list(who: Person, which: 'following' | 'blocked', query = ''): Promise<RelatedPage> {
  const res = await call(who, 'GET', `/me/${which}${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as RelatedPage;
}

const ids = (page: RelatedPage) => page.items.map((i) => i.userId);

describe('follows', () => {
  it('follows and unfollows idempotently, answering 204 each time', async () => {
    const [alice, bob] = await Promise.all([person(), person()]);
    const first = await call(alice, 'PUT', `/users/${bob.id}/follow`);
    expect(first.status).toBe(204);
    expect(await first.text()).toBe('');
    expect((await call(alice, 'PUT', `/users/${bob.id}/follow`)).status).toBe(204);

    const following = await list(alice, 'following');
    expect(following).toEqual({ items: [{ userId: bob.id, since: expect.any(String) }], nextCursor: null });
    expect(Number.isNaN(Date.parse(following.items[0]!.since))).toBe(false);
    expect(ids(await list(bob, 'following'))).toEqual([]);

    expect((await call(alice, 'DELETE', `/users/${bob.id}/follow`)).status).toBe(204);
    expect((await call(alice, 'DELETE', `/users/${bob.id}/follow`)).status).toBe(204);
    expect(ids(await list(alice, 'following'))).toEqual([]);
  });

  it('refuses a malformed id (400), oneself (400) and an unknown user (404)', async () => {
    const alice = await person();
    const malformed = await call(alice, 'PUT', '/users/not-a-uuid/follow');
    expect(malformed.status).toBe(400);
    expect(await errorCode(malformed)).toBe('VALIDATION_FAILED');
    expect(await errorCode(await call(alice, 'DELETE', '/users/123/block'))).toBe('VALIDATION_FAILED');

    const self = await call(alice, 'PUT', `/users/${alice.id}/follow`);
    expect(self.status).toBe(400);
    expect(await errorCode(self)).toBe('CANNOT_TARGET_SELF_USER');
    const selfBlock = await call(alice, 'PUT', `/users/${alice.id}/block`);
    expect(selfBlock.status).toBe(400);
    expect(await errorCode(selfBlock)).toBe('CANNOT_TARGET_SELF_USER');

    const unknown = await call(alice, 'PUT', `/users/${randomUUID()}/follow`);
    expect(unknown.status).toBe(404);
    expect(await errorCode(unknown)).toBe('USER_NOT_FOUND');
    expect((await call(alice, 'PUT', `/users/${randomUUID()}/block`)).status).toBe(404);
  });

  it('needs a signed-in user', async () => {
    const bob = await person();
    const res = await call(null, 'PUT', `/users/${bob.id}/follow`);
    expect(res.status).toBe(401);
    expect(await errorCode(res)).toBe('UNAUTHENTICATED');
    expect((await call(null, 'GET', '/me/following')).status).toBe(401);
  });
});

describe('blocks', () => {
  it('ends follows both ways, stops new ones either way, and lifts on unblock', async () => {
    const [alice, bob] = await Promise.all([person(), person()]);
    expect((await call(alice, 'PUT', `/users/${bob.id}/follow`)).status).toBe(204);
    expect((await call(bob, 'PUT', `/users/${alice.id}/follow`)).status).toBe(204);

    expect((await call(alice, 'PUT', `/users/${bob.id}/block`)).status).toBe(204);
    expect((await call(alice, 'PUT', `/users/${bob.id}/block`)).status).toBe(204);
    expect(ids(await list(alice, 'following'))).toEqual([]);
    expect(ids(await list(bob, 'following'))).toEqual([]);
    expect(ids(await list(alice, 'blocked'))).toEqual([bob.id]);
    expect(ids(await list(bob, 'blocked'))).toEqual([]);
    expect(await stack.dataSource.query(`SELECT 1 FROM user_blocks WHERE blocker_id = $1 AND blocked_id = $2`, [alice.id, bob.id])).toHaveLength(1);

    for (const [from, to] of [
      [bob, alice],
      [alice, bob],
    ] as const) {
      const refused = await call(from, 'PUT', `/users/${to.id}/follow`);
      expect(refused.status).toBe(409);
      expect(await errorCode(refused)).toBe('USER_BLOCKED');
    }

    expect((await call(alice, 'DELETE', `/users/${bob.id}/block`)).status).toBe(204);
    expect((await call(alice, 'DELETE', `/users/${bob.id}/block`)).status).toBe(204);
    expect(ids(await list(alice, 'blocked'))).toEqual([]);
    // The follows the block ended stay ended; following again works.
    expect(ids(await list(bob, 'following'))).toEqual([]);
    expect((await call(bob, 'PUT', `/users/${alice.id}/follow`)).status).toBe(204);
    expect(ids(await list(bob, 'following'))).toEqual([alice.id]);
  });

  it('keeps a follow from slipping past a concurrent block', async () => {
    const [alice, bob] = await Promise.all([person(), person()]);
    const [follow, block] = await Promise.all([call(alice, 'PUT', `/users/${bob.id}/follow`), call(bob, 'PUT', `/users/${alice.id}/block`)]);
    expect(block.status).toBe(204);
    expect([204, 409]).toContain(follow.status);
    expect(ids(await list(alice, 'following'))).toEqual([]);
  });
});

describe('lists', () => {
  it('pages whom the user follows and blocked, newest first, without overlap or gaps', async () => {
    const viewer = await person();
    const followed: string[] = [];
    for (let i = 0; i < 5; i++) {
      const other = await person();
      expect((await call(viewer, 'PUT', `/users/${other.id}/follow`)).status).toBe(204);
      followed.push(other.id);
    }
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const page: RelatedPage = await list(viewer, 'following', `?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      sizes.push(page.items.length);
      seen.push(...ids(page));
      cursor = page.nextCursor;
    } while (cursor);
    expect(sizes).toEqual([2, 2, 1]);
    expect(seen).toEqual([...followed].reverse());

    const blocked: string[] = [];
    for (let i = 0; i < 3; i++) {
      const other = await person();
      expect((await call(viewer, 'PUT', `/users/${other.id}/block`)).status).toBe(204);
      blocked.push(other.id);
    }
    const firstBlocked = await list(viewer, 'blocked', '?limit=2');
    expect(ids(firstBlocked)).toEqual([blocked[2], blocked[1]]);
    const rest = await list(viewer, 'blocked', `?limit=2&cursor=${firstBlocked.nextCursor}`);
    expect(rest).toEqual({ items: [{ userId: blocked[0], since: expect.any(String) }], nextCursor: null });
    // Twenty by default.
    expect((await list(viewer, 'following')).items).toHaveLength(5);
  });

  it('refuses a bad limit, a bad cursor and unknown parameters with 400', async () => {
    const viewer = await person();
    for (const query of ['?limit=0', '?limit=101', '?limit=abc', '?limit=1.5', '?cursor=%25%25', '?cursor=bm90IGpzb24', '?offset=10']) {
      const res = await call(viewer, 'GET', `/me/following${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(await errorCode(res)).toBe('VALIDATION_FAILED');
    }
    expect((await call(viewer, 'GET', '/me/blocked?limit=100')).status).toBe(200);
  });
});
