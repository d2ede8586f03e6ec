import { randomUUID } from 'node:crypto';
import { createDailyRewardActivities } from '../../activities/daily-reward';
import { RedisUserEventPublisher } from '../../platform/events/publisher';
import { startEdge } from '../support/app-harness';
import { runEntryPoint, type ChildService } from '../support/node-process';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { TestSocket, UpgradeRejected } from '../support/ws-client';
import { freePort } from '../support/ports';

/** The uWebSockets.js edge: authenticated upgrades, per-user channels fanned out through Redis. */
let stack: RealStack;
let edge: Awaited<ReturnType<typeof startEdge>>;
let publisher: RedisUserEventPublisher;

beforeAll(async () => {
  stack = await connectRealStack('realtime');
  edge = await startEdge(stack, { allowedOrigins: ['https://app.aura.test'], maxMessageBytes: 1024 });
  publisher = new RedisUserEventPublisher(stack.redis);
});

afterAll(async () => {
  await edge?.close();
  await stack?.close();
});

const tokenFor = async (userId: string = randomUUID()) => ({ userId, token: await stack.tokens.sign({ userId }) });
const event = (type: string) => ({ id: randomUUID(), type, at: new Date().toISOString(), data: { n: 1 } });

describe('upgrade', () => {
  it('refuses a socket without a token, with a bad token, or from an origin not on the allow-list', async () => {
    await expect(TestSocket.connect(edge.url)).rejects.toEqual(new UpgradeRejected(401));
    await expect(TestSocket.connect(edge.url, { token: 'not-a-jwt' })).rejects.toEqual(new UpgradeRejected(401));
    const { token } = await tokenFor();
    await expect(TestSocket.connect(edge.url, { token, origin: 'https://evil.example' })).rejects.toEqual(new UpgradeRejected(403));
  });

  it('accepts a token in the Authorization header or the access_token query, from an allowed or absent origin', async () => {
    const { token } = await tokenFor();
    const sockets = await Promise.all([
      TestSocket.connect(edge.url, { token }),
      TestSocket.connect(edge.url, { token, query: true }),
      TestSocket.connect(edge.url, { token, origin: 'https://app.aura.test' }),
    ]);
    expect(edge.edge.connectionCount()).toBeGreaterThanOrEqual(3);
    await Promise.all(sockets.map((s) => s.close()));
  });

  it('answers ping with pong and closes with 1009 a socket that sends more than the maximum message size', async () => {
    const { token } = await tokenFor();
    const socket = await TestSocket.connect(edge.url, { token });
    socket.send({ type: 'ping' });
    expect(await socket.next('pong')).toMatchObject({ type: 'pong' });
    socket.send({ type: 'ping', pad: 'x'.repeat(1500) }); // over the 1024-byte limit
    expect(await socket.closed).toEqual({ code: 1009, reason: 'message too big' });
  });

  it('cuts off a socket that sends a frame far over the limit without reading it', async () => {
    const { token } = await tokenFor();
    const socket = await TestSocket.connect(edge.url, { token });
    socket.send('x'.repeat(64 * 1024));
    expect((await socket.closed).code).not.toBe(1000);
  });
});

describe('user channels', () => {
  it('delivers an event published once to every socket of that user, and to nobody else', async () => {
    const alice = await tokenFor();
    const bob = await tokenFor();
    const [phone, tablet, bobs] = await Promise.all([
      TestSocket.connect(edge.url, { token: alice.token }),
      TestSocket.connect(edge.url, { token: alice.token }),
      TestSocket.connect(edge.url, { token: bob.token }),
    ]);
    try {
      const forAlice = event('reward.claimed');
      await publisher.publishToUser(alice.userId, forAlice);
      expect(await phone.next('reward.claimed')).toEqual(forAlice);
      expect(await tablet.next('reward.claimed')).toEqual(forAlice);
      // Bob's next event is his own: Alice's never reached his socket.
      const forBob = event('reward.reminder');
      await publisher.publishToUser(bob.userId, forBob);
      expect(await bobs.next('reward.reminder')).toEqual(forBob);
      expect(bobs.pending()).toEqual([]);
    } finally {
      await Promise.all([phone.close(), tablet.close(), bobs.close()]);
    }
  });

  it('delivers reward.reminder from the reminder activity with its notification row, once per day', async () => {
    const user = await stack.newUser();
    const { token } = await tokenFor(user.id);
    const socket = await TestSocket.connect(edge.url, { token });
    try {
      const activities = createDailyRewardActivities({ dataSource: stack.dataSource, events: publisher });
      const input = { userId: user.id, forDate: '2026-11-27', idempotencyKey: `daily-reward-reminder:${user.id}:2026-11-27`, streakBreaksAt: '2026-11-28T00:00:00.000Z' };
      const { notificationId } = await activities.sendDailyRewardReminder(input);
      const pushed = await socket.next('reward.reminder');
      expect(pushed).toMatchObject({ id: input.idempotencyKey, data: { forDate: '2026-11-27', notificationId } });
      const again = await activities.sendDailyRewardReminder(input);
      expect(again.notificationId).toBe(notificationId);
      const rows = await stack.dataSource.query(`SELECT kind, data FROM notifications WHERE user_id = $1`, [user.id]);
      expect(rows).toEqual([{ kind: 'daily_reward_reminder', data: { forDate: '2026-11-27' } }]);
    } finally {
      await socket.close();
    }
  });
});


describe('several edge processes', () => {
  let second: ChildService | undefined;

  afterEach(async () => {
    await second?.stop();
    second = undefined;
  });

  it('fans one published event out to the user on every edge process', async () => {
    const port = await freePort();
    second = runEntryPoint('realtime/main.ts', { REALTIME_PORT: String(port), LOG_LEVEL: 'info' });
    await second.waitFor(/realtime edge listening/);
    const { userId, token } = await tokenFor();
    const [here, there] = await Promise.all([
      TestSocket.connect(edge.url, { token }),
      TestSocket.connect(`ws://127.0.0.1:${port}/v1/ws`, { token }),
    ]);
    try {
      const e = event('reward.claimed');
      await publisher.publishToUser(userId, e);
      expect(await here.next('reward.claimed')).toEqual(e);
      expect(await there.next('reward.claimed')).toEqual(e);
    } finally {
      await Promise.all([here.close(), there.close()]);
    }
  });

  it('refuses to start on the slow JavaScript fallback unless explicitly allowed, and says why', async () => {
    second = runEntryPoint('realtime/main.ts', { REALTIME_PORT: String(await freePort()), UWS_USE_FALLBACK: '1' });
    const { code } = await second.exited;
    expect(code).not.toBe(0);
    expect(second.output()).toMatch(/pure-JavaScript fallback.*REALTIME_ALLOW_JS_FALLBACK=true/s);
  });
});
