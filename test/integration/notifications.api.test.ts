import { randomUUID } from 'node:crypto';
import { RedisUserEventPublisher } from '../../platform/events/publisher';
import { InboxNotifier } from '../../services/notifications';
import { startApi } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * The notification routes over HTTP on the real stack: the list (cursor, newest first), the
 * unread count, marking read, per-kind push preferences, push tokens, and the follow
 * notification. One user never sees or touches another's rows.
 */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let notifier: InboxNotifier;

beforeAll(async () => {
  stack = await connectRealStack('notifications-api');
  api = await startApi(stack, { RATE_LIMIT_IP_PER_MINUTE: 100_000, RATE_LIMIT_USER_PER_MINUTE: 100_000 });
  notifier = new InboxNotifier(stack.dataSource, new RedisUserEventPublisher(stack.redis));
});

afterAll(async () => {
  await api?.close();
  await stack?.close();
});

interface Person {
  id: string;
  headers: Record<string, string>;
}

async function person(displayName?: string): Promise<Person> {
  const user = await stack.newUser(displayName ? { displayName } : {});
  return { id: user.id, headers: { authorization: `Bearer ${await stack.tokens.sign({ userId: user.id })}` } };
}

async function call(who: Person, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${api.url}/v1${path}`, {
    method,
    headers: { ...who.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function json<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  expect({ status: res.status, text }).toEqual({ status, text: expect.any(String) });
  return JSON.parse(text) as T;
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

interface Row {
  id: string;
  kind: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
  readAt: string | null;
  createdAt: string;
}
interface RowPage {
  items: Row[];
  nextCursor: string | null;
}

/** Rows a minute apart (n-1 minutes ago .. now), oldest first; returns their ids oldest first. */
async function seed(userId: string, n: number, kind = 'reward'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const [row]: { id: string }[] = await stack.dataSource.query(
      `INSERT INTO notifications (user_id, kind, title, body, data, idempotency_key, created_at)
       VALUES ($1, $2, $3, 'body', $4, $5, now() - make_interval(mins => $6)) RETURNING id`,
      [userId, kind, `title ${i}`, { i }, `seed:${randomUUID()}`, n - 1 - i],
    );
    ids.push(row!.id);
  }
  return ids;
}

const unread = async (who: Person) => (await json<{ unread: number; capped: boolean }>(await call(who, 'GET', '/notifications/unread-count'))).unread;

describe('the list', () => {
  it('pages newest first with a cursor, showing each row whole', async () => {
    const me = await person();
    const ids = await seed(me.id, 5);
    const first = await json<RowPage>(await call(me, 'GET', '/notifications?limit=2'));
    expect(first.items.map((r) => r.id)).toEqual([ids[4], ids[3]]);
    expect(first.items[0]).toEqual({ id: ids[4], kind: 'reward', title: 'title 4', body: 'body', data: { i: 4 }, readAt: null, createdAt: expect.any(String) });
    expect(Date.parse(first.items[0]!.createdAt)).toBeGreaterThan(Date.parse(first.items[1]!.createdAt));
    const second = await json<RowPage>(await call(me, 'GET', `/notifications?limit=2&cursor=${first.nextCursor}`));
    expect(second.items.map((r) => r.id)).toEqual([ids[2], ids[1]]);
    const third = await json<RowPage>(await call(me, 'GET', `/notifications?limit=2&cursor=${second.nextCursor}`));
    expect(third).toEqual({ items: [expect.objectContaining({ id: ids[0] })], nextCursor: null });
  });

  it('pages rows created in the same instant without skipping or repeating any', async () => {
    const me = await person();
    await stack.dataSource.query(
      `INSERT INTO notifications (user_id, kind, title, body, idempotency_key, created_at)
       SELECT $1::uuid, 'reward', 't', 'b', 'same-instant:' || $2 || ':' || g, '2026-01-01T00:00:00Z' FROM generate_series(1, 7) g`,
      [me.id, me.id],
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: RowPage = await json<RowPage>(await call(me, 'GET', `/notifications?limit=3${cursor ? `&cursor=${cursor}` : ''}`));
      seen.push(...page.items.map((r) => r.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
  });

  it('shows nobody else’s rows, and answers an empty list for a user without any', async () => {
    const [me, other] = await Promise.all([person(), person()]);
    await seed(other.id, 3);
    expect(await json<RowPage>(await call(me, 'GET', '/notifications'))).toEqual({ items: [], nextCursor: null });
    expect(await unread(me)).toBe(0);
  });

  it('shows a row a notifier wrote once, however often it was sent', async () => {
    const me = await person();
    const notice = { userId: me.id, kind: 'medal' as const, title: 'A medal', body: 'You earned First Gift', data: { medalId: 'first-gift' }, idempotencyKey: `medal:${me.id}:first-gift` };
    const a = await notifier.notify(notice);
    const b = await notifier.notify(notice);
    expect(b.id).toBe(a.id);
    const page = await json<RowPage>(await call(me, 'GET', '/notifications'));
    expect(page.items).toEqual([expect.objectContaining({ id: a.id, kind: 'medal', data: { medalId: 'first-gift' }, readAt: null })]);
  });

  it('refuses a cursor that is not one of ours and a bad limit (400)', async () => {
    const me = await person();
    expect(await errorCode(await call(me, 'GET', '/notifications?cursor=abc'))).toBe('VALIDATION_FAILED');
    expect(await errorCode(await call(me, 'GET', '/notifications?limit=0'))).toBe('VALIDATION_FAILED');
    expect(await errorCode(await call(me, 'GET', '/notifications?limit=101'))).toBe('VALIDATION_FAILED');
  });
});

describe('unread and read', () => {
  it('counts unread rows, marks one read once (keeping its first time), and counts again', async () => {
    const me = await person();
    const ids = await seed(me.id, 3);
    expect(await unread(me)).toBe(3);
    const read = await json<Row>(await call(me, 'POST', `/notifications/${ids[1]}/read`));
    expect(read).toMatchObject({ id: ids[1], readAt: expect.any(String) });
    expect(await unread(me)).toBe(2);
    const again = await json<Row>(await call(me, 'POST', `/notifications/${ids[1]!.toUpperCase()}/read`));
    expect(again.readAt).toBe(read.readAt);
    expect(await unread(me)).toBe(2);
  });

  it('answers NOTIFICATION_NOT_FOUND for another user’s row and leaves it unread; 400 for a malformed id', async () => {
    const [me, other] = await Promise.all([person(), person()]);
    const [theirs] = await seed(other.id, 1);
    const res = await call(me, 'POST', `/notifications/${theirs}/read`);
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('NOTIFICATION_NOT_FOUND');
    expect(await unread(other)).toBe(1);
    expect((await call(me, 'POST', `/notifications/${randomUUID()}/read`)).status).toBe(404);
    expect(await errorCode(await call(me, 'POST', '/notifications/not-a-uuid/read'))).toBe('VALIDATION_FAILED');
    expect(await errorCode(await call(me, 'POST', `/notifications/${theirs}/read`, { extra: 1 }))).toBe('VALIDATION_FAILED');
  });

  it('marks all read up to the newest row the app showed; a newer one stays unread', async () => {
    const [me, other] = await Promise.all([person(), person()]);
    await seed(other.id, 2);
    await seed(me.id, 3);
    const shown = await json<RowPage>(await call(me, 'GET', '/notifications'));
    const newest = shown.items[0]!;
    const [arrived]: { id: string }[] = await stack.dataSource.query(
      `INSERT INTO notifications (user_id, kind, title, body, idempotency_key, created_at) VALUES ($1, 'follow', 't', 'b', $2, $3::timestamptz + interval '2 milliseconds') RETURNING id`,
      [me.id, `late:${randomUUID()}`, newest.createdAt],
    );
    expect(await json(await call(me, 'POST', '/notifications/read-all', { upTo: newest.createdAt }))).toEqual({ marked: 3, unread: 1 });
    const after = await json<RowPage>(await call(me, 'GET', '/notifications'));
    expect(after.items.filter((r) => r.readAt === null).map((r) => r.id)).toEqual([arrived!.id]);
    expect(await json(await call(me, 'POST', '/notifications/read-all', {}))).toEqual({ marked: 1, unread: 0 });
    expect(await json(await call(me, 'POST', '/notifications/read-all'))).toEqual({ marked: 0, unread: 0 });
    expect(await unread(other)).toBe(2);
  });

  it('refuses an upTo that is not an instant', async () => {
    const me = await person();
    for (const upTo of ['2026-02-30T00:00:00Z', '2026-01-01', 5, null]) {
      expect(await errorCode(await call(me, 'POST', '/notifications/read-all', { upTo }))).toBe('VALIDATION_FAILED');
    }
  });
});

describe('preferences', () => {
  type Prefs = { push: Record<string, boolean> };

  it('has push on for every kind until turned off; a change names only the kinds it changes', async () => {
    const me = await person();
    const initial = await json<Prefs>(await call(me, 'GET', '/me/notification-preferences'));
    expect(Object.values(initial.push).every(Boolean)).toBe(true);
    expect(Object.keys(initial.push)).toEqual(expect.arrayContaining(['follow', 'gift_received', 'vip_reminder', 'cp_proposal']));

    const changed = await json<Prefs>(await call(me, 'PUT', '/me/notification-preferences', { push: { follow: false, medal: false } }));
    expect(changed.push).toEqual({ ...initial.push, follow: false, medal: false });
    const again = await json<Prefs>(await call(me, 'PUT', '/me/notification-preferences', { push: { medal: true } }));
    expect(again.push).toEqual({ ...initial.push, follow: false });
    expect(await json<Prefs>(await call(me, 'GET', '/me/notification-preferences'))).toEqual(again);

    const other = await person();
    expect((await json<Prefs>(await call(other, 'GET', '/me/notification-preferences'))).push.follow).toBe(true);
  });

  it('refuses an unknown kind, a value that is not a boolean, and an empty change', async () => {
    const me = await person();
    for (const body of [{ push: { nope: false } }, { push: { follow: 'false' } }, { push: { follow: null } }, { push: {} }, {}, { push: { follow: false }, extra: 1 }]) {
      expect(await errorCode(await call(me, 'PUT', '/me/notification-preferences', body))).toBe('VALIDATION_FAILED');
    }
    const rows: unknown[] = await stack.dataSource.query(`SELECT 1 FROM notification_preferences WHERE user_id = $1`, [me.id]);
    expect(rows).toEqual([]);
  });
});

describe('push tokens', () => {
  const token = (label: string) => `${label}-${randomUUID()}:APA91b${'Z'.repeat(100)}`;
  const tokensOf = async (userId: string) =>
    (await stack.dataSource.query(`SELECT token, device_id FROM push_tokens WHERE user_id = $1 ORDER BY token`, [userId])) as { token: string; device_id: string }[];

  it('registers idempotently; a device’s new token replaces its old one', async () => {
    const me = await person();
    const first = token('first');
    expect((await call(me, 'POST', '/me/push-tokens', { token: first, platform: 'android', deviceId: 'pixel-8-device' })).status).toBe(204);
    expect((await call(me, 'POST', '/me/push-tokens', { token: first, platform: 'android', deviceId: 'pixel-8-device' })).status).toBe(204);
    expect(await tokensOf(me.id)).toEqual([{ token: first, device_id: 'pixel-8-device' }]);
    const refreshed = token('refreshed');
    await call(me, 'POST', '/me/push-tokens', { token: refreshed, platform: 'android', deviceId: 'pixel-8-device' });
    const tablet = token('tablet');
    await call(me, 'POST', '/me/push-tokens', { token: tablet, platform: 'android', deviceId: 'tablet-device' });
    expect((await tokensOf(me.id)).map((t) => t.token).sort()).toEqual([refreshed, tablet].sort());
  });

  it('moves a token to the newest user to register it', async () => {
    const [alice, bob] = await Promise.all([person(), person()]);
    const shared = token('shared');
    await call(alice, 'POST', '/me/push-tokens', { token: shared, platform: 'android', deviceId: 'shared-phone' });
    await call(bob, 'POST', '/me/push-tokens', { token: shared, platform: 'android', deviceId: 'shared-phone' });
    expect(await tokensOf(alice.id)).toEqual([]);
    expect(await tokensOf(bob.id)).toEqual([{ token: shared, device_id: 'shared-phone' }]);
  });

  it('removes the caller’s own token by token or by device, and leaves another user’s alone (204 either way)', async () => {
    const [me, other] = await Promise.all([person(), person()]);
    const [mine, mine2, theirs] = [token('mine'), token('mine2'), token('theirs')];
    await call(me, 'POST', '/me/push-tokens', { token: mine, platform: 'android', deviceId: 'device-one' });
    await call(me, 'POST', '/me/push-tokens', { token: mine2, platform: 'android', deviceId: 'device-two' });
    await call(other, 'POST', '/me/push-tokens', { token: theirs, platform: 'android', deviceId: 'device-one' });

    expect((await call(me, 'DELETE', `/me/push-tokens/${encodeURIComponent(theirs)}`)).status).toBe(204);
    expect(await tokensOf(other.id)).toHaveLength(1);
    expect((await call(me, 'DELETE', `/me/push-tokens/${encodeURIComponent(mine)}`)).status).toBe(204);
    expect((await call(me, 'DELETE', `/me/push-tokens/${encodeURIComponent(mine)}`)).status).toBe(204);
    expect((await tokensOf(me.id)).map((t) => t.token)).toEqual([mine2]);
    expect((await call(me, 'DELETE', '/me/push-tokens?deviceId=device-two')).status).toBe(204);
    expect(await tokensOf(me.id)).toEqual([]);
    expect(await tokensOf(other.id)).toHaveLength(1);
  });

  it('refuses a malformed token, another platform, a bad device id and extra fields', async () => {
    const me = await person();
    const good = { token: token('good'), platform: 'android', deviceId: 'pixel-8-device' };
    for (const body of [
      { ...good, token: 'short' },
      { ...good, token: 'has spaces in it, which no token has' },
      { ...good, token: 'x'.repeat(1025) },
      { ...good, platform: 'ios' },
      { ...good, deviceId: 'bad id!' },
      { ...good, extra: 1 },
      { token: good.token, platform: 'android' },
    ]) {
      expect(await errorCode(await call(me, 'POST', '/me/push-tokens', body))).toBe('VALIDATION_FAILED');
    }
    expect(await errorCode(await call(me, 'DELETE', '/me/push-tokens/short'))).toBe('VALIDATION_FAILED');
    expect(await errorCode(await call(me, 'DELETE', '/me/push-tokens'))).toBe('VALIDATION_FAILED');
    expect(await tokensOf(me.id)).toEqual([]);
  });

  it('keeps at most 10 installs per user, dropping the least recently refreshed', async () => {
    const me = await person();
    const tokens = Array.from({ length: 11 }, (_, i) => token(`install${i}`));
    for (const [i, t] of tokens.entries()) await call(me, 'POST', '/me/push-tokens', { token: t, platform: 'android', deviceId: `device-${String(i).padStart(3, '0')}` });
    const kept = (await tokensOf(me.id)).map((t) => t.token);
    expect(kept).toHaveLength(10);
    expect(kept).not.toContain(tokens[0]);
  });
});

describe('follows notify', () => {
  const followRows = async (userId: string) =>
    (await stack.dataSource.query(`SELECT kind, title, body, data FROM notifications WHERE user_id = $1 AND kind = 'follow'`, [userId])) as unknown[];

  it('tells the followee once per follower and day, naming the follower', async () => {
    const [asha, bob] = await Promise.all([person('Asha'), person()]);
    expect((await call(asha, 'PUT', `/users/${bob.id}/follow`)).status).toBe(204);
    expect(await followRows(bob.id)).toEqual([{ kind: 'follow', title: 'New follower', body: 'Asha started following you', data: { followerId: asha.id } }]);
    await call(asha, 'PUT', `/users/${bob.id}/follow`);
    await call(asha, 'DELETE', `/users/${bob.id}/follow`);
    await call(asha, 'PUT', `/users/${bob.id}/follow`);
    expect(await followRows(bob.id)).toHaveLength(1);
    expect(await followRows(asha.id)).toEqual([]);
    const page = await json<RowPage>(await call(bob, 'GET', '/notifications'));
    expect(page.items).toEqual([expect.objectContaining({ kind: 'follow', data: { followerId: asha.id } })]);
  });

  it('sends nothing when a block refuses the follow', async () => {
    const [asha, bob] = await Promise.all([person(), person()]);
    await call(bob, 'PUT', `/users/${asha.id}/block`);
    expect(await errorCode(await call(asha, 'PUT', `/users/${bob.id}/follow`))).toBe('USER_BLOCKED');
    expect(await followRows(bob.id)).toEqual([]);
  });
});
