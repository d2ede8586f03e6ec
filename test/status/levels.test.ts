import { randomUUID } from 'node:crypto';
import { createStatusRecheckActivities } from '../../activities/status-recheck';
import { GiftReceipts } from '../../db/repositories/gift-receipts';
import { CHARM_THRESHOLDS, WEALTH_THRESHOLDS, levelFor } from '../../domain/levels/levels';
import type { CommittedGift, GiftCommitListener, GiftService } from '../../services/gifts/gift-service';
import { LevelAnnouncer } from '../../services/levels/level-announcer';
import { InboxNotifier } from '../../services/notifications/notifier';
import { createProgressEvents, type ProgressEvent, type ProgressEvents } from '../../services/progress';
import { createTestGift, ledgerDisagreements } from '../support/economy';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { GiftWorld, RecordingPublisher, notificationsOf, sendTo, totalsOf } from './status-fixtures';

/**
 * Wealth and charm levels over the real gift send: the totals move in the send's own
 * transaction (exact under concurrency, nothing on a replay), a level-up is announced once
 * (event, notification, progress), a reversal takes the gift back out, and a level-up whose
 * announcement was lost is announced by the re-check.
 */
let stack: RealStack;
let world: GiftWorld;
let events: RecordingPublisher;
let progress: ProgressEvents;
let announcer: LevelAnnouncer;
let gifts: GiftService;
const progressSeen: ProgressEvent[] = [];
const pending: Promise<unknown>[] = [];

/** The announcer as the app wires it, with its after-commit work kept to be awaited. */
function awaitable(listener: GiftCommitListener): GiftCommitListener {
  return {
    giftCommitted(gift: CommittedGift) {
      const done = Promise.resolve(listener.giftCommitted(gift));
      pending.push(done);
      return done;
    },
  };
}

async function settled(): Promise<void> {
  await Promise.all(pending.splice(0));
  await progress.drain();
}

beforeAll(async () => {
  stack = await connectRealStack('levels');
  world = new GiftWorld(stack);
  events = new RecordingPublisher();
  progress = createProgressEvents({ listeners: [{ onProgress: async (e) => void progressSeen.push(e) }] });
  announcer = new LevelAnnouncer({ dataSource: stack.dataSource, notifier: new InboxNotifier(stack.dataSource, events), events, progress });
  gifts = world.gifts([awaitable(announcer.giftListener())]);
});

afterEach(async () => world.janitor.sweep());
afterAll(async () => stack.close());

describe('levels from gifts', () => {
  it("raises the sender's coins spent and wealth level and the receiver's charm level, announcing each level-up once", async () => {
    const { room, host, senders } = await world.party(1, 10_000);
    const sender = senders[0]!;
    const giftId = await createTestGift(stack.dataSource, { priceCoins: 100, diamondValue: 70 });

    const key = randomUUID();
    const first = await sendTo(gifts, room, sender, giftId, [host], { quantity: 2, idempotencyKey: key });
    expect(first.status).toBe(201);
    await settled();
    expect(await totalsOf(stack, sender)).toEqual({ coins_spent: 200, diamonds_received: 0, gifts_sent: 2, wealth_level: 1, charm_level: 0 });
    expect(await totalsOf(stack, host)).toEqual({ coins_spent: 0, diamonds_received: 140, gifts_sent: 0, wealth_level: 0, charm_level: 1 });

    const senderNotices = await notificationsOf(stack, sender, 'level_up');
    expect(senderNotices).toEqual([{ idempotency_key: `level-up:${sender}:wealth:1`, data: { track: 'wealth', level: 1, previous: 0 } }]);
    expect((await notificationsOf(stack, host, 'level_up')).map((n) => n.idempotency_key)).toEqual([`level-up:${host}:charm:1`]);
    expect(events.of(sender, 'level.up').map((e) => e.data)).toEqual([{ track: 'wealth', level: 1, previous: 0 }]);
    expect(events.of(host, 'level.up').map((e) => e.data)).toEqual([{ track: 'charm', level: 1, previous: 0 }]);
    const ups = progressSeen.filter((e) => e.kind === 'level-up' && [sender, host].includes(e.userId)).map((e) => e.kind === 'level-up' && `${e.userId}:${e.track}:${e.level}`);
    expect(ups.sort()).toEqual([`${sender}:wealth:1`, `${host}:charm:1`].sort());
    const announced = (await stack.dataSource.query(`SELECT count(*)::int AS n FROM level_ups WHERE user_id = ANY($1::uuid[]) AND announced_at IS NOT NULL`, [[sender, host]])) as { n: number }[];
    expect(announced[0]!.n).toBe(2);

    // The replay answers the first response and commits nothing: no totals, no announcement.
    const replay = await sendTo(gifts, room, sender, giftId, [host], { quantity: 2, idempotencyKey: key });
    expect(replay).toEqual({ ...first, replayed: true });
    await settled();
    expect((await totalsOf(stack, sender)).coins_spent).toBe(200);
    expect((await totalsOf(stack, host)).diamonds_received).toBe(140);

    // A gift that stays within the level announces nothing new; one that crosses levels announces only the top one.
    await sendTo(gifts, room, sender, giftId, [host], { quantity: 1 });
    await settled();
    expect(await notificationsOf(stack, sender, 'level_up')).toHaveLength(1);
    await sendTo(gifts, room, sender, giftId, [host], { quantity: 60 }); // 6,300 coins spent: level 3 (5,400)
    await settled();
    expect(await totalsOf(stack, sender)).toMatchObject({ coins_spent: 6_300, wealth_level: 3, gifts_sent: 63 });
    expect((await notificationsOf(stack, sender, 'level_up')).map((n) => n.data)).toEqual([
      { track: 'wealth', level: 1, previous: 0 },
      { track: 'wealth', level: 3, previous: 1 },
    ]);
    expect(events.of(sender, 'level.up')).toHaveLength(2);
    expect(await ledgerDisagreements(stack.dataSource, [sender, host])).toEqual([]);
  });

  it('keeps exact totals under 20 concurrent gifts from ten senders to overlapping receivers', async () => {
    const { room, host, senders } = await world.party(10, 1_000);
    const giftId = await createTestGift(stack.dataSource, { priceCoins: 50, diamondValue: 35 });
    // Each sender gifts the host and the next sender, twice, all at once: receivers' rows are shared.
    const sends = senders.flatMap((s, i) => {
      const next = senders[(i + 1) % senders.length]!;
      return [sendTo(gifts, room, s, giftId, [host, next]), sendTo(gifts, room, s, giftId, [next, host])];
    });
    const replies = await Promise.all(sends);
    expect(replies.every((r) => r.status === 201)).toBe(true);
    await settled();

    const host_ = await totalsOf(stack, host);
    expect(host_).toMatchObject({ diamonds_received: 20 * 35, charm_level: levelFor('charm', 700), coins_spent: 0 });
    for (const s of senders) {
      // Each sent 2 sends × 2 receivers × 50 coins, and received 2 gifts from the previous sender.
      expect(await totalsOf(stack, s)).toEqual({ coins_spent: 200, gifts_sent: 4, diamonds_received: 70, wealth_level: 1, charm_level: 0 });
    }
    // The totals are exactly what the receipts say.
    const [sum] = (await stack.dataSource.query(`SELECT sum(diamonds)::int AS d FROM gift_receipts WHERE receiver_id = $1`, [host])) as { d: number }[];
    expect(sum!.d).toBe(700);
    // One level-up per level reached, however many sends raced to reach it.
    expect(await notificationsOf(stack, host, 'level_up')).toHaveLength(1);
    for (const s of senders) expect((await notificationsOf(stack, s, 'level_up')).map((n) => n.idempotency_key)).toEqual([`level-up:${s}:wealth:1`]);
    expect(await ledgerDisagreements(stack.dataSource, [host, ...senders])).toEqual([]);
  });

  it('takes a reversed gift back out of both totals; the level falls, and reaching it again is not announced twice', async () => {
    const { room, host, senders } = await world.party(1, 10_000);
    const sender = senders[0]!;
    const giftId = await createTestGift(stack.dataSource, { priceCoins: 200, diamondValue: 140 });
    const sent = (await sendTo(gifts, room, sender, giftId, [host])).body as { sendId: string };
    await settled();
    expect(await totalsOf(stack, sender)).toMatchObject({ coins_spent: 200, wealth_level: 1, gifts_sent: 1 });

    const [receipt] = (await stack.dataSource.query(`SELECT id FROM gift_receipts WHERE send_id = $1`, [sent.sendId])) as { id: string }[];
    const receipts = new GiftReceipts(stack.dataSource);
    const reversed = await stack.dataSource.transaction((tx) => receipts.reverseReceipts(tx, [String(receipt!.id)], 'review'));
    expect(reversed).toHaveLength(1);
    expect(await totalsOf(stack, sender)).toEqual({ coins_spent: 0, diamonds_received: 0, gifts_sent: 0, wealth_level: 0, charm_level: 0 });
    expect(await totalsOf(stack, host)).toMatchObject({ diamonds_received: 0, charm_level: 0 });
    // A second reversal of the same receipt changes nothing.
    expect(await stack.dataSource.transaction((tx) => receipts.reverseReceipts(tx, [String(receipt!.id)], 'review'))).toEqual([]);
    expect((await totalsOf(stack, host)).diamonds_received).toBe(0);

    await sendTo(gifts, room, sender, giftId, [host]);
    await settled();
    expect(await totalsOf(stack, sender)).toMatchObject({ coins_spent: 200, wealth_level: 1 });
    expect(await notificationsOf(stack, sender, 'level_up')).toHaveLength(1);
    expect(events.of(sender, 'level.up')).toHaveLength(1);
  });

  it('announces a level-up whose announcement was lost from the re-check, once', async () => {
    const { room, host, senders } = await world.party(1, 10_000);
    const sender = senders[0]!;
    // A process that died right after the commit: nobody announces.
    const silent = world.gifts([]);
    const giftId = await createTestGift(stack.dataSource, { priceCoins: WEALTH_THRESHOLDS[1]!, diamondValue: CHARM_THRESHOLDS[0]! });
    await sendTo(silent, room, sender, giftId, [host]);
    expect(await totalsOf(stack, sender)).toMatchObject({ wealth_level: 2 });
    expect(await notificationsOf(stack, sender, 'level_up')).toEqual([]);

    const recheckEvents = new RecordingPublisher();
    const { recheckStatus } = createStatusRecheckActivities({ dataSource: stack.dataSource, events: recheckEvents });
    const asOf = new Date(Date.now() + 5 * 60_000); // past the grace the live path is given
    const input = { since: new Date(Date.now() - 60_000).toISOString(), asOf: asOf.toISOString(), maxUsers: 100 };
    const result = await recheckStatus(input);
    expect(result.levelUpsAnnounced).toBeGreaterThanOrEqual(2);
    expect((await notificationsOf(stack, sender, 'level_up')).map((n) => n.data)).toEqual([{ track: 'wealth', level: 2, previous: 0 }]);
    expect((await notificationsOf(stack, host, 'level_up')).map((n) => n.data)).toEqual([{ track: 'charm', level: 1, previous: 0 }]);
    expect(recheckEvents.of(sender, 'level.up')).toHaveLength(1);

    await recheckStatus(input);
    expect(await notificationsOf(stack, sender, 'level_up')).toHaveLength(1);
    expect(recheckEvents.of(sender, 'level.up')).toHaveLength(1);
  });
});
