import { banAccount } from '../../api/auth/bans';
import { Sessions } from '../../api/auth/sessions';
import { SessionStore } from '../../db/repositories/sessions';
import { BanList } from '../../platform/auth/ban-list';
import { RedisUserEventPublisher } from '../../platform/events/publisher';
import { startApi, startEdge } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { TestSocket, UpgradeRejected } from '../support/ws-client';

/** Account, IP and device bans, enforced by both the API and the realtime edge. */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let edge: Awaited<ReturnType<typeof startEdge>>;
let bans: BanList;
let sessions: Sessions;

beforeAll(async () => {
  stack = await connectRealStack('bans');
  [api, edge] = await Promise.all([startApi(stack), startEdge(stack)]);
  bans = new BanList(stack.redis);
  sessions = new Sessions(new SessionStore(stack.dataSource), stack.tokens, stack.redis, new RedisUserEventPublisher(stack.redis), {
    accessTtlSeconds: 900,
    refreshTtlDays: 30,
    reuseGraceSeconds: 30,
  }, bans);
});

afterAll(async () => {
  await Promise.all([api?.close(), edge?.close()]);
  await stack?.close();
});

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

it('bans an account: its sockets close, its tokens stop working, and it cannot sign in or connect again', async () => {
  const user = await stack.newUser();
  const session = await sessions.issue(user.id, { deviceId: 'device-ban-1' });
  const socket = await TestSocket.connect(edge.url, { token: session.accessToken });

  await banAccount({ dataSource: stack.dataSource, bans, sessions }, user.id, 'abuse');

  expect((await socket.closed).code).toBe(4003);
  expect((await fetch(`${api.url}/v1/me`, { headers: { authorization: `Bearer ${session.accessToken}` } })).status).toBe(401);
  await expect(sessions.issue(user.id, {})).rejects.toMatchObject({ code: 'ACCOUNT_BANNED', status: 403 });
  await expect(sessions.refresh(session.refreshToken)).rejects.toMatchObject({ status: 401 });
  // Even a token minted before the ban, for a session never revoked, is refused.
  const stray = await stack.tokens.sign({ userId: user.id });
  const res = await fetch(`${api.url}/v1/me`, { headers: { authorization: `Bearer ${stray}` } });
  expect(res.status).toBe(403);
  expect(await errorOf(res)).toBe('ACCOUNT_BANNED');
  await expect(TestSocket.connect(edge.url, { token: stray })).rejects.toEqual(new UpgradeRejected(403));
  const [row] = await stack.dataSource.query(`SELECT status FROM users WHERE id = $1`, [user.id]);
  expect(row).toEqual({ status: 'banned' });
});

it('refuses a banned device on the API and the edge, and a banned IP on both', async () => {
  const user = await stack.newUser();
  const token = await stack.tokens.sign({ userId: user.id });
  await bans.ban('device', 'device-banned-0001', 'fraud');
  try {
    const res = await fetch(`${api.url}/v1/me`, { headers: { authorization: `Bearer ${token}`, 'x-device-id': 'device-banned-0001' } });
    expect(res.status).toBe(403);
    expect(await errorOf(res)).toBe('ACCOUNT_BANNED');
    expect((await fetch(`${api.url}/v1/me`, { headers: { authorization: `Bearer ${token}`, 'x-device-id': 'device-fine-0001' } })).status).toBe(200);
  } finally {
    await bans.lift('device', 'device-banned-0001');
  }

  await bans.ban('ip', '127.0.0.1', 'abuse', 60);
  try {
    expect((await fetch(`${api.url}/v1/rewards/daily`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
    await expect(TestSocket.connect(edge.url, { token })).rejects.toEqual(new UpgradeRejected(403));
  } finally {
    await bans.lift('ip', '127.0.0.1');
  }
  expect((await fetch(`${api.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
});
