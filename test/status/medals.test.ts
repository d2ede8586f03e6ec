import { randomUUID } from 'node:crypto';
import { createStatusRecheckActivities } from '../../activities/status-recheck';
import type { CommittedGift, GiftCommitListener } from '../../services/gifts/gift-service';
import { MedalService } from '../../services/medals/medal-service';
import { InboxNotifier } from '../../services/notifications/notifier';
import { createProgressEvents, giftProgress, type ProgressEvents } from '../../services/progress';
import { startApi } from '../support/app-harness';
import { createTestGift, ledgerDisagreements } from '../support/economy';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createUser } from '../support/rooms';
import { GiftWorld, RecordingPublisher, notificationsOf, sendTo } from './status-fixtures';

/**
 * Medals over the real records: awarded from progress events (a claim streak, gifts sent, a
 * first recharge, a VIP tier, a level), once each however often the event repeats, with the
 * reward credited through the ledger once; the re-check awards what a lost event left behind;
 * the display choice is validated; the routes answer.
 */
let stack: RealStack;
let world: GiftWorld;
let medals: MedalService;
let progress: ProgressEvents;
const at = new Date();

beforeAll(async () => {
  stack = await connectRealStack('medals');
  world = new GiftWorld(stack);
  medals = new MedalService({ dataSource: stack.dataSource, notifier: new InboxNotifier(stack.dataSource, new RecordingPublisher()), settings: { displaySlots: 3 } });
  progress = createProgressEvents({ listeners: [medals] });
});

afterEach(async () => world.janitor.sweep());
afterAll(async () => stack.close());

async function held(userId: string): Promise<string[]> {
  const rows = (await stack.dataSource.query(`SELECT medal_id FROM user_medals WHERE user_id = $1 ORDER BY medal_id`, [userId])) as { medal_id: string }[];
  return rows.map((r) => r.medal_id);
}

async function rewards(userId: string): Promise<{ idempotency_key: string; amount: string }[]> {
  return stack.dataSource.query(`SELECT idempotency_key, amount FROM ledger_entries WHERE user_id = $1 AND reason = 'medal_reward' ORDER BY idempotency_key`, [userId]);
}

async function coins(userId: string): Promise<number> {
  return Number(((await stack.dataSource.query(`SELECT coins FROM wallets WHERE user_id = $1`, [userId])) as { coins: string }[])[0]!.coins);
}

describe('medals from progress events', () => {
  it('awards the 7-day streak medal once, with its coins in the ledger once, however often the claim event repeats', async () => {
    const user = await stack.newUser();
    progress.emit({ kind: 'daily-claimed', userId: user.id, at, day: 6, streak: 6, coins: 10 });
    await progress.drain();
    expect(await held(user.id)).toEqual([]);
    for (let i = 0; i < 3; i++) progress.emit({ kind: 'daily-claimed', userId: user.id, at, day: 7, streak: 7, coins: 10 });
    await progress.drain();
    // Racing evaluations of the same user (two processes) award once too.
    await Promise.all(Array.from({ length: 5 }, () => medals.evaluate(user.id, { bestStreak: 7 })));

    expect(await held(user.id)).toEqual(['streak-7']);
    expect(await rewards(user.id)).toEqual([{ idempotency_key: `medal:${user.id}:streak-7`, amount: '50' }]);
    expect(await coins(user.id)).toBe(50);
    const notices = await notificationsOf(stack, user.id, 'medal');
    expect(notices.map((n) => n.idempotency_key)).toEqual([`medal:${user.id}:streak-7`]);
    expect(notices[0]!.data).toMatchObject({ medalId: 'streak-7', reward: { coins: 50 } });
    expect(await ledgerDisagreements(stack.dataSource, [user.id])).toEqual([]);
  });

  it('awards the 100-gifts medal on the gift that makes 100 (a real send, the counter seeded at 99)', async () => {
    const { room, host, senders } = await world.party(1, 1_000);
    const sender = senders[0]!;
    await stack.dataSource.query(`UPDATE users SET gifts_sent = 99 WHERE id = $1`, [sender]);
    const pending: Promise<unknown>[] = [];
    const told = giftProgress(progress);
    const listener: GiftCommitListener = { giftCommitted: (g: CommittedGift) => void pending.push(Promise.resolve(told.giftCommitted(g))) };
    const gifts = world.gifts([listener]);
    const giftId = await createTestGift(stack.dataSource, { priceCoins: 10, diamondValue: 7 });
    await sendTo(gifts, room, sender, giftId, [host]);
    await Promise.all(pending);
    await progress.drain();
    expect(await held(sender)).toEqual(['first-gift', 'gifts-100']);
    expect((await rewards(sender)).map((r) => [r.idempotency_key, r.amount])).toEqual([
      [`medal:${sender}:first-gift`, '10'],
      [`medal:${sender}:gifts-100`, '200'],
    ]);
    // The receiver sent nothing: no gifting medal.
    expect(await held(host)).toEqual([]);
  });

  it('awards the first-recharge medal once, from the credited recharge event', async () => {
    const user = await stack.newUser();
    for (let i = 0; i < 2; i++) progress.emit({ kind: 'recharged', userId: user.id, at, purchaseId: randomUUID(), coins: 500 });
    await progress.drain();
    expect(await held(user.id)).toEqual(['first-recharge']);
    expect(await rewards(user.id)).toHaveLength(1);
  });

  it('awards VIP medals up to the tier bought, an item reward granted once', async () => {
    const user = await stack.newUser();
    await stack.dataSource.query(`UPDATE users SET vip_tier = 3, vip_expires_at = now() + interval '30 days' WHERE id = $1`, [user.id]);
    progress.emit({ kind: 'vip-bought', userId: user.id, at, tier: 3, expiresAt: new Date(Date.now() + 30 * 86_400_000) });
    progress.emit({ kind: 'vip-bought', userId: user.id, at, tier: 3, expiresAt: new Date(Date.now() + 30 * 86_400_000) });
    await progress.drain();
    expect(await held(user.id)).toEqual(['vip-1', 'vip-3']);
    expect(await rewards(user.id)).toEqual([{ idempotency_key: `medal:${user.id}:vip-1`, amount: '100' }]);
    expect(await stack.dataSource.query(`SELECT medal_id, item_key FROM medal_item_grants WHERE user_id = $1`, [user.id])).toEqual([{ medal_id: 'vip-3', item_key: 'frame-vip-crown' }]);
  });

  it('awards a level medal from the level-up event', async () => {
    const user = await stack.newUser();
    await stack.dataSource.query(`UPDATE users SET coins_spent = 200000, wealth_level = 10 WHERE id = $1`, [user.id]);
    progress.emit({ kind: 'level-up', userId: user.id, at, track: 'wealth', level: 10 });
    progress.emit({ kind: 'level-up', userId: user.id, at, track: 'wealth', level: 10 });
    await progress.drain();
    expect(await held(user.id)).toEqual(['wealth-10']);
    expect(await rewards(user.id)).toEqual([{ idempotency_key: `medal:${user.id}:wealth-10`, amount: '500' }]);
  });
});

describe('the re-check (repair path)', () => {
  it('awards a medal whose event was lost, and re-sends a medal notification that was never sent', async () => {
    const { room, host, senders } = await world.party(1, 1_000);
    const sender = senders[0]!;
    // A send whose progress event was lost (no listener): the counter moved, nobody evaluated.
    const giftId = await createTestGift(stack.dataSource, { priceCoins: 10, diamondValue: 7 });
    await sendTo(world.gifts([]), room, sender, giftId, [host]);
    expect(await held(sender)).toEqual([]);
    // An award that committed but whose notification was lost.
    const other = await stack.newUser();
    await stack.dataSource.query(`INSERT INTO user_medals (user_id, medal_id, awarded_at) VALUES ($1, 'streak-30', now() - interval '1 minute')`, [other.id]);

    const { recheckStatus } = createStatusRecheckActivities({ dataSource: stack.dataSource, events: new RecordingPublisher() });
    const input = { since: new Date(Date.now() - 60_000).toISOString(), asOf: new Date(Date.now() + 1_000).toISOString(), maxUsers: 1_000 };
    const result = await recheckStatus(input);
    expect(result.usersChecked).toBeGreaterThanOrEqual(2);
    expect(result.medalsAwarded).toBeGreaterThanOrEqual(1);
    expect(await held(sender)).toEqual(['first-gift']);
    expect(await rewards(sender)).toHaveLength(1);
    expect((await notificationsOf(stack, other.id, 'medal')).map((n) => n.idempotency_key)).toEqual([`medal:${other.id}:streak-30`]);

    // A second run changes nothing.
    await recheckStatus(input);
    expect(await rewards(sender)).toHaveLength(1);
    expect(await notificationsOf(stack, sender, 'medal')).toHaveLength(1);
    expect(await notificationsOf(stack, other.id, 'medal')).toHaveLength(1);
  });

  it('refuses a window that is not one', async () => {
    const { recheckStatus } = createStatusRecheckActivities({ dataSource: stack.dataSource, events: new RecordingPublisher() });
    const now = new Date().toISOString();
    await expect(recheckStatus({ since: now, asOf: now, maxUsers: 10 })).rejects.toMatchObject({ type: 'VALIDATION_FAILED', nonRetryable: true });
  });
});

describe('the routes', () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  beforeAll(async () => {
    api = await startApi(stack, { MEDAL_DISPLAY_SLOTS: 3 });
  });
  afterAll(async () => api.close());

  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('publishes the level table and the medal catalogue to anyone', async () => {
    const levels = await call('GET', '/v1/levels');
    expect(levels.status).toBe(200);
    expect((levels.body.tracks as { wealth: unknown[] }).wealth[0]).toEqual({ level: 1, threshold: 200 });
    const catalogue = await call('GET', '/v1/medals');
    expect(catalogue.status).toBe(200);
    const list = catalogue.body.medals as { id: string; criteria: unknown; reward: unknown; name: string }[];
    expect(list.find((m) => m.id === 'streak-7')).toMatchObject({ criteria: { type: 'daily-streak', days: 7 }, reward: { coins: 50 }, name: 'Week of Sunshine' });
  });

  it("shows the caller's levels with the next threshold and progress", async () => {
    const user = await createUser(stack);
    await stack.dataSource.query(`UPDATE users SET coins_spent = 900, wealth_level = 1 WHERE id = $1`, [user.userId]);
    const mine = await call('GET', '/v1/me/levels', user.token);
    expect(mine.status).toBe(200);
    expect(mine.body.wealth).toEqual({ level: 1, total: 900, levelFloor: 200, nextThreshold: 1_600, remaining: 700, progress: 0.5 });
    expect(mine.body.charm).toMatchObject({ level: 0, nextThreshold: 140 });
    expect((await call('GET', '/v1/me/levels')).status).toBe(401);
  });

  it('lets a user display up to three held medals in order, refusing unheld ones and too many', async () => {
    const user = await createUser(stack);
    for (const medalId of ['streak-7', 'first-gift', 'first-recharge', 'vip-1']) {
      await stack.dataSource.query(`INSERT INTO user_medals (user_id, medal_id, announced_at) VALUES ($1, $2, now())`, [user.userId, medalId]);
    }
    const chosen = await call('PUT', '/v1/me/medals/display', user.token, { medalIds: ['vip-1', 'streak-7'] });
    expect(chosen.status).toBe(200);
    expect(chosen.body.displayed).toEqual(['vip-1', 'streak-7']);
    expect(chosen.body.displaySlots).toBe(3);

    const unheld = await call('PUT', '/v1/me/medals/display', user.token, { medalIds: ['streak-7', 'charm-30'] });
    expect(unheld).toMatchObject({ status: 409, body: { error: { code: 'MEDAL_NOT_HELD' } } });
    const tooMany = await call('PUT', '/v1/me/medals/display', user.token, { medalIds: ['streak-7', 'first-gift', 'first-recharge', 'vip-1'] });
    expect(tooMany).toMatchObject({ status: 422, body: { error: { code: 'MEDAL_DISPLAY_TOO_MANY' } } });
    const repeated = await call('PUT', '/v1/me/medals/display', user.token, { medalIds: ['streak-7', 'streak-7'] });
    expect(repeated.status).toBe(400);
    // Refusals changed nothing.
    const mine = await call('GET', '/v1/me/medals', user.token);
    expect(mine.body.displayed).toEqual(['vip-1', 'streak-7']);
    expect((mine.body.medals as unknown[]).length).toBe(4);

    // A reorder swaps slots (the unique slot index is not tripped); an empty list shows none.
    expect((await call('PUT', '/v1/me/medals/display', user.token, { medalIds: ['streak-7', 'vip-1', 'first-gift'] })).body.displayed).toEqual(['streak-7', 'vip-1', 'first-gift']);
    const slots = (await stack.dataSource.query(`SELECT medal_id, display_slot FROM user_medals WHERE user_id = $1 AND display_slot IS NOT NULL ORDER BY display_slot`, [user.userId])) as unknown[];
    expect(slots).toEqual([
      { medal_id: 'streak-7', display_slot: 1 },
      { medal_id: 'vip-1', display_slot: 2 },
      { medal_id: 'first-gift', display_slot: 3 },
    ]);
    expect((await call('PUT', '/v1/me/medals/display', user.token, { medalIds: [] })).body.displayed).toEqual([]);
  });
});
