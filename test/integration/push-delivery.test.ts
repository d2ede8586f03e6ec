import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry, type Counter } from 'prom-client';
import { createDailyRewardActivities } from '../../activities/daily-reward';
import { PushOutbox } from '../../db/repositories/push-outbox';
import { NotificationPreferences } from '../../db/repositories/notifications';
import { PushTokens } from '../../db/repositories/push-tokens';
import { pushPayload } from '../../domain/notifications/push';
import { FcmClient } from '../../platform/push/fcm';
import { InboxNotifier, PushDrain, PushingNotifier, notifierFromConfig, type Notice } from '../../services/notifications';
import { testLogger } from '../support/app-harness';
import { startFakeFcm, type FakeFcm } from '../support/fake-fcm';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * Push end to end on the real PostgreSQL: a notice becomes a row plus one outbox row per token
 * in one transaction (the notifier never calls FCM), and the drain (as the worker runs it) sends
 * it through the FCM client to a local FCM: once; not at all when the kind is turned off;
 * removing a token FCM calls dead; retrying outages; giving up stale pushes; several drains
 * sharing the outbox; and sending again (at least once) after a drain died between FCM's
 * answer and its bookkeeping.
 */
let stack: RealStack;
let fake: FakeFcm;
let notifier: PushingNotifier;
let drain: PushDrain;
let registry: Registry;
const tokens = () => new PushTokens(stack.dataSource);

function fcm(): FcmClient {
  return new FcmClient({
    apiBaseUrl: fake.url,
    tokenUrl: fake.tokenUrl,
    projectId: fake.projectId,
    serviceAccount: fake.serviceAccount,
    timeoutMs: 1_000,
    attempts: 2,
    backoffMs: 10,
    // The suite fails FCM on purpose; its breaker has its own test (test/providers/fcm.test.ts).
    breaker: { breakerThreshold: 10_000 },
  });
}

function newDrain(settings: Partial<ConstructorParameters<typeof PushDrain>[0]['settings']> = {}): PushDrain {
  return new PushDrain({
    dataSource: stack.dataSource,
    sender: fcm(),
    logger: testLogger,
    registry,
    settings: { intervalMs: 25, batch: 20, leaseMs: 60_000, retry: { firstDelayMs: 50, maxDelayMs: 200, maxRounds: 5, maxAgeMs: 60_000 }, ...settings },
  });
}

beforeAll(async () => {
  stack = await connectRealStack('push-delivery');
  fake = await startFakeFcm();
  registry = new Registry();
  notifier = new PushingNotifier(stack.dataSource);
  drain = newDrain();
  drain.start();
});

afterAll(async () => {
  await drain?.stop();
  await fake?.close();
  await stack?.close();
});

async function eventually<T>(value: () => Promise<T | null | undefined | false>, what: string, deadlineMs = 15_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await value();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const newToken = (label = 'phone') => `${label}-${randomUUID()}:APA91b${'Q'.repeat(120)}`;

async function userWithPhone(label?: string): Promise<{ userId: string; token: string }> {
  const user = await stack.newUser();
  const token = newToken(label);
  await tokens().register({ userId: user.id, token, platform: 'android', deviceId: `device-${randomUUID().slice(0, 8)}` });
  return { userId: user.id, token };
}

function notice(userId: string, overrides: Partial<Notice> = {}): Notice {
  return { userId, kind: 'gift_received', title: 'A gift', body: 'Asha sent you a Rose', data: { giftId: 'rose', quantity: 2 }, idempotencyKey: `test:${randomUUID()}`, ...overrides };
}

const outboxRows = async (notificationId: string) =>
  (await stack.dataSource.query(`SELECT token, attempts, last_error FROM push_outbox WHERE notification_id = $1`, [notificationId])) as { token: string; attempts: number; last_error: string | null }[];
const deliveriesOf = (notificationId: string) => fake.controls.deliveries.filter((d) => d.message.data?.notificationId === notificationId);
const sends = async (result: string) => ((await (registry.getSingleMetric('aura_push_sends_total') as Counter).get()).values.find((v) => v.labels.result === result)?.value ?? 0);

it('queues the push with the row, and the drain sends it once through FCM', async () => {
  const { userId, token } = await userWithPhone();
  const delivered = fake.controls.nextDelivery(token);
  const { id } = await notifier.notify(notice(userId));
  const delivery = await delivered;
  expect(delivery.message).toEqual({
    token,
    notification: { title: 'A gift', body: 'Asha sent you a Rose' },
    data: { giftId: 'rose', quantity: '2', notificationId: id, kind: 'gift_received' },
    android: { priority: 'high', collapse_key: 'gift_received', ttl: expect.stringMatching(/^\d+s$/), notification: { tag: 'gift_received' } },
  });
  await eventually(async () => (await outboxRows(id)).length === 0, 'the outbox row to go');
  expect(deliveriesOf(id)).toHaveLength(1);
  expect(await sends('sent')).toBeGreaterThanOrEqual(1);
});

it('pushes to each of the user’s phones, and a repeated notice adds neither a row nor a push', async () => {
  const { userId, token } = await userWithPhone('phone');
  const tablet = newToken('tablet');
  await tokens().register({ userId, token: tablet, platform: 'android', deviceId: 'tablet-device' });
  const n = notice(userId, { kind: 'follow' });
  const { id } = await notifier.notify(n);
  await eventually(async () => deliveriesOf(id).length === 2 && (await outboxRows(id)).length === 0, 'both phones');
  expect(deliveriesOf(id).map((d) => d.token).sort()).toEqual([token, tablet].sort());
  expect(await notifier.notify(n)).toEqual({ id });
  expect(await outboxRows(id)).toEqual([]);
  const rows: unknown[] = await stack.dataSource.query(`SELECT 1 FROM notifications WHERE idempotency_key = $1`, [n.idempotencyKey]);
  expect(rows).toHaveLength(1);
});

it('never calls FCM while notifying: the push waits in the outbox for a drain', async () => {
  await drain.stop();
  try {
    const { userId } = await userWithPhone();
    const callsBefore = fake.controls.calls.length;
    fake.controls.stallNext(1); // were the notifier to call FCM, it would hang here
    const { id } = await notifier.notify(notice(userId));
    expect(await outboxRows(id)).toEqual([expect.objectContaining({ attempts: 0 })]);
    expect(fake.controls.calls).toHaveLength(callsBefore);
  } finally {
    drain.start();
  }
  // The stalled request is the drain's first attempt; its timeout and a retry get the push out.
  await eventually(async () => (await stack.dataSource.query(`SELECT 1 FROM push_outbox`)).length === 0, 'the outbox to empty');
});

it('writes the row but no push when the user turned the kind off', async () => {
  const { userId, token } = await userWithPhone();
  await new NotificationPreferences(stack.dataSource).setPush(userId, { medal: false });
  const off = await notifier.notify(notice(userId, { kind: 'medal' }));
  expect(await outboxRows(off.id)).toEqual([]);
  // A kind still on goes out, and it is the only push this phone got.
  const on = await notifier.notify(notice(userId, { kind: 'level_up' }));
  await eventually(async () => deliveriesOf(on.id).length === 1, 'the level-up push');
  expect(fake.controls.deliveries.filter((d) => d.token === token).map((d) => d.message.data?.kind)).toEqual(['level_up']);
  const rows: { id: string }[] = await stack.dataSource.query(`SELECT id FROM notifications WHERE user_id = $1 ORDER BY created_at`, [userId]);
  expect(rows.map((r) => r.id)).toEqual([off.id, on.id]);
});

it('skips a push queued before the user turned the kind off', async () => {
  await drain.stop();
  try {
    const { userId, token } = await userWithPhone();
    const { id } = await notifier.notify(notice(userId, { kind: 'vip_reminder' }));
    expect(await outboxRows(id)).toHaveLength(1);
    await new NotificationPreferences(stack.dataSource).setPush(userId, { vip_reminder: false });
    const skippedBefore = await sends('skipped');
    await newDrain().drainOnce();
    expect(await outboxRows(id)).toEqual([]);
    expect(fake.controls.deliveries.filter((d) => d.token === token)).toEqual([]);
    expect(await sends('skipped')).toBeGreaterThan(skippedBefore);
  } finally {
    drain.start();
  }
});

it('removes a token FCM answers UNREGISTERED for, with the pushes still queued for it', async () => {
  const { userId, token } = await userWithPhone();
  fake.controls.unregister(token);
  const removedBefore = await sends('token_removed');
  const { id } = await notifier.notify(notice(userId));
  await eventually(async () => (await tokens().ofUser(userId)).length === 0, 'the token to be removed');
  expect(await outboxRows(id)).toEqual([]);
  expect(deliveriesOf(id)).toEqual([]);
  expect(await sends('token_removed')).toBe(removedBefore + 1);
  // The next notice finds no phone to push to.
  const next = await notifier.notify(notice(userId));
  expect(await outboxRows(next.id)).toEqual([]);
});

it('does not push one user’s notification to the account a phone moved to', async () => {
  await drain.stop();
  try {
    const { userId, token } = await userWithPhone();
    const { id } = await notifier.notify(notice(userId));
    const newcomer = await stack.newUser();
    await tokens().register({ userId: newcomer.id, token, platform: 'android', deviceId: 'moved-device' });
    expect(await outboxRows(id)).toEqual([]);
    await newDrain().drainOnce();
    expect(deliveriesOf(id)).toEqual([]);
  } finally {
    drain.start();
  }
});

it('retries an outage in rounds with backoff, then delivers once', async () => {
  const { userId, token } = await userWithPhone();
  // Two attempts per round: the first two rounds fail entirely, the third gets through.
  fake.controls.failNext(4, { errorCode: 'UNAVAILABLE' });
  const { id } = await notifier.notify(notice(userId));
  await eventually(async () => deliveriesOf(id).length === 1, 'the push after the outage');
  await eventually(async () => (await outboxRows(id)).length === 0, 'the outbox row to go');
  expect(fake.controls.calls.filter((c) => c.token === token)).toHaveLength(5);
  expect(await sends('retry')).toBeGreaterThanOrEqual(2);
});

it('gives a push up after its rounds, and one FCM refuses for good at once', async () => {
  await drain.stop();
  const giveUp = newDrain({ retry: { firstDelayMs: 1, maxDelayMs: 1, maxRounds: 2, maxAgeMs: 60_000 } });
  try {
    const { userId } = await userWithPhone();
    const { id } = await notifier.notify(notice(userId));
    fake.controls.failNext(4, { errorCode: 'INTERNAL' });
    await giveUp.drainOnce();
    expect(await outboxRows(id)).toEqual([{ token: expect.any(String), attempts: 1, last_error: 'FCM answered 500 INTERNAL' }]);
    await eventually(async () => (await giveUp.drainOnce()).claimed > 0, 'the second round');
    expect(await outboxRows(id)).toEqual([]);
    expect(deliveriesOf(id)).toEqual([]);

    const refused = await notifier.notify(notice(userId));
    fake.controls.failNext(1, { errorCode: 'THIRD_PARTY_AUTH_ERROR' });
    const rejectedBefore = await sends('rejected');
    await giveUp.drainOnce();
    expect(await outboxRows(refused.id)).toEqual([]);
    expect(await sends('rejected')).toBe(rejectedBefore + 1);
  } finally {
    drain.start();
  }
});

it('gives up a push older than its max age without sending it', async () => {
  await drain.stop();
  try {
    const { userId, token } = await userWithPhone();
    const { id } = await notifier.notify(notice(userId));
    await stack.dataSource.query(`UPDATE push_outbox SET created_at = now() - interval '2 minutes' WHERE notification_id = $1`, [id]);
    await newDrain().drainOnce();
    expect(await outboxRows(id)).toEqual([]);
    expect(fake.controls.calls.filter((c) => c.token === token)).toEqual([]);
  } finally {
    drain.start();
  }
});

it('lets several drains share the outbox: each push is sent once', async () => {
  const others = [newDrain({ batch: 3 }), newDrain({ batch: 3 }), newDrain({ batch: 3 })];
  for (const d of others) d.start();
  try {
    const phones = await Promise.all(Array.from({ length: 6 }, () => userWithPhone()));
    const ids = await Promise.all(phones.flatMap((p) => [1, 2, 3].map((i) => notifier.notify(notice(p.userId, { title: `gift ${i}` })).then((r) => r.id))));
    await eventually(async () => ids.every((id) => deliveriesOf(id).length > 0), 'every push');
    await eventually(async () => (await stack.dataSource.query(`SELECT 1 FROM push_outbox WHERE notification_id = ANY($1::uuid[])`, [ids])).length === 0, 'the outbox to empty');
    for (const id of ids) expect(deliveriesOf(id)).toHaveLength(1);
  } finally {
    await Promise.all(others.map((d) => d.stop()));
  }
});

it('sends again after a drain died between FCM accepting the push and removing its row (at least once)', async () => {
  await drain.stop();
  let id = '';
  try {
    const { userId, token } = await userWithPhone();
    id = (await notifier.notify(notice(userId))).id;
    // The drain that dies: it claims with a short lease, FCM accepts the push, and nothing more happens.
    const [claimed] = await new PushOutbox(stack.dataSource).claim(1, 200);
    expect(claimed).toMatchObject({ token, notification: { id } });
    await fcm().send({ ...pushPayload(claimed!.notification), token: claimed!.token });
    expect(deliveriesOf(id)).toHaveLength(1);
    // Before the lease passes, no other drain takes it.
    await newDrain().drainOnce();
    expect(deliveriesOf(id)).toHaveLength(1);
  } finally {
    drain.start();
  }
  await eventually(async () => deliveriesOf(id).length === 2 && (await outboxRows(id)).length === 0, 'the push sent again after the lease');
  expect(deliveriesOf(id).map((d) => d.message.data?.notificationId)).toEqual([id, id]);
});

it('pushes daily-reward reminders given the notifier (kind reward_reminder), once per day reminded about', async () => {
  const { userId, token } = await userWithPhone();
  const published: string[] = [];
  const activities = createDailyRewardActivities({ dataSource: stack.dataSource, events: { publishToUser: async (_user, e) => void published.push(e.type) }, notifier });
  const input = { userId, forDate: '2026-12-02', idempotencyKey: `daily-reward-reminder:${userId}:2026-12-02` };
  const delivered = fake.controls.nextDelivery(token);
  const { notificationId } = await activities.sendDailyRewardReminder(input);
  expect((await delivered).message.data).toEqual({ forDate: '2026-12-02', notificationId, kind: 'reward_reminder' });
  expect(await activities.sendDailyRewardReminder(input)).toEqual({ notificationId });
  await eventually(async () => (await outboxRows(notificationId)).length === 0, 'the outbox row to go');
  expect(deliveriesOf(notificationId)).toHaveLength(1);
  expect(published).toEqual(['reward.reminder', 'reward.reminder']);
});

describe('from configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aura-push-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('pushes with FCM configured; without it, writes rows and queues nothing', async () => {
    const file = join(dir, 'fcm.json');
    writeFileSync(file, JSON.stringify({ project_id: fake.projectId, client_email: fake.serviceAccount.clientEmail, private_key: fake.serviceAccount.privateKeyPem }));
    expect(notifierFromConfig({ config: { FCM_SERVICE_ACCOUNT_FILE: file }, dataSource: stack.dataSource })).toBeInstanceOf(PushingNotifier);
    const plain = notifierFromConfig({ config: { FCM_SERVICE_ACCOUNT_FILE: undefined }, dataSource: stack.dataSource });
    expect(plain).toBeInstanceOf(InboxNotifier);
    const { userId } = await userWithPhone();
    const { id } = await plain.notify(notice(userId));
    expect(await outboxRows(id)).toEqual([]);
  });
});
