import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import type { Config } from '../../config';
import { GiftCombos, type ComboCount } from '../../db/live/gift-combos';
import type { CatalogGift } from '../../domain/economy/gifts';
import { giftPriority } from '../../domain/economy/gifts';
import {
  GIFT_EVENT_RECEIVER_IDS_MAX,
  type GiftComboData,
  type GiftEventGift,
  type GiftReceivedEvent,
  type GiftSentData,
} from '../../domain/events';
import { RedisUserEventPublisher, type UserEventPublisher } from '../../platform/events/publisher';
import type { Logger } from '../../platform/logging';

import type { CommittedGift, GiftCommitListener } from './gift-service';
import { RoomLiveState } from '../../db/live/room-live-state';
import { liveStateSettingsFromConfig } from '../rooms';

/** A gift send as it committed in PostgreSQL (one definition, the send path's). */
export type { CommittedGift };

/** Where room events go: the room's numbered stream (RoomLiveState.emit). */
export interface RoomEventSink {
  emit(roomId: string, type: string, data: Record<string, unknown>): Promise<number>;
}

export interface GiftAnnouncerSettings {
  /** A combo's later sends reach the room (and each receiver) summed up, at most once per this long per process. */
  comboUpdateMs: number;
  /** A failure is logged at most once per this long per step (the counter counts every one). */
  failureLogMs: number;
}

export const DEFAULT_GIFT_ANNOUNCER_SETTINGS: GiftAnnouncerSettings = { comboUpdateMs: 500, failureLogMs: 1_000 };

export interface GiftAnnouncerDeps {
  /** Combo counting, with the combo window (GIFT_COMBO_WINDOW_MS). */
  combos: GiftCombos;
  room: RoomEventSink;
  users: UserEventPublisher;
  logger: Logger;
  settings?: Partial<GiftAnnouncerSettings>;
  clock?: () => number;
  /** Where the announcer's counters are scraped (the process's /metrics). */
  metricsRegistry?: Registry;
}

/** What a receiver has been sent since the combo's last update went out. */
interface PendingReceipt {
  sendId: string;
  at: Date;
  sends: number;
  quantity: number;
  diamonds: number;
}

/** A combo's sends waiting for its next update (one per combo, per process). */
interface PendingCombo {
  roomId: string;
  data: GiftComboData;
  receipts: Map<string, PendingReceipt>;
  timer: NodeJS.Timeout;
}

type Step = 'combo' | 'room' | 'user';

/**
 * Tells the room and the receivers about a committed gift, after the commit: the room gets a
 * numbered `gift.sent` with the animation and a priority, each receiver a personal
 * `gift.received`. Repeated sends of one gift to the same receivers become one combo (counted
 * in Redis, so every API process agrees) whose later sends go out summed up, at most once per
 * `comboUpdateMs` per combo and process, instead of one event per tap.
 *
 * Never throws: the gift is already paid for and recorded. An event that can't go out (Redis
 * down) is logged and counted, and the gift stays in the history and the receiver's list.
 */
export class GiftAnnouncer implements GiftCommitListener {
  private readonly settings: GiftAnnouncerSettings;
  private readonly clock: () => number;
  private readonly pending = new Map<string, PendingCombo>();
  private readonly flushing = new Set<Promise<void>>();
  /** When each step's failure was last logged, and how many went unlogged since. */
  private readonly failureLog = new Map<Step, { at: number; quiet: number }>();
  /** `aura_gift_announce_failures_total{step}`: events the gift path could not publish. */
  readonly failures: Counter<'step'>;
  /** `aura_gift_events_total{type}`: events published (the combo summing shows as far fewer than sends). */
  readonly published: Counter<'type'>;

  constructor(private readonly deps: GiftAnnouncerDeps) {
    this.settings = { ...DEFAULT_GIFT_ANNOUNCER_SETTINGS, ...deps.settings };
    this.clock = deps.clock ?? Date.now;
    this.failures = counter(
      deps.metricsRegistry,
      'aura_gift_announce_failures_total',
      'Gift events not published after the gift committed, by step (combo count, room event, user event)',
      'step',
    );
    this.published = counter(deps.metricsRegistry, 'aura_gift_events_total', 'Gift events published, by type', 'type');
  }

  /** The send path's hook (GiftService listeners): called once per committed send, never for a replay. */
  giftCommitted(gift: CommittedGift): Promise<void> {
    return this.announce(gift);
  }

  /** Announces a committed send. Resolves once its immediate events are out (or given up); never rejects. */
  async announce(sent: CommittedGift): Promise<void> {
    let combo: ComboCount;
    try {
      combo = await this.deps.combos.count({
        roomId: sent.roomId,
        senderId: sent.senderId,
        giftId: sent.gift.id,
        receiverIds: sent.receivers.map((r) => r.userId),
        sendId: sent.sendId,
        quantity: sent.quantity,
        coins: sent.totalCoins,
      });
    } catch (err) {
      // Without the combo count there is no telling a new combo from a repeat: skip the events.
      this.failed('combo', err, sent);
      return;
    }
    if (combo.state === 'duplicate') return;
    const endsAt = this.clock() + this.deps.combos.windowMs;
    if (combo.state === 'started') await this.announceStart(sent, combo, endsAt);
    else this.addToCombo(sent, combo, endsAt);
  }

  /** Sends every combo update still waiting (at shutdown); resolves when they are out. */
  async flush(): Promise<void> {
    for (const comboId of [...this.pending.keys()]) this.flushCombo(comboId);
    await Promise.all([...this.flushing]);
  }

  private async announceStart(sent: CommittedGift, combo: ComboCount, endsAt: number): Promise<void> {
    const data: GiftSentData = {
      sendId: sent.sendId,
      senderId: sent.senderId,
      ...receiversOf(sent),
      gift: eventGift(sent.gift),
      quantity: sent.quantity,
      totalCoins: sent.totalCoins,
      priority: giftPriority(sent.totalCoins, sent.gift.animation.display),
      combo: { id: combo.id, count: combo.count, endsAt },
    };
    await Promise.all([
      this.emitToRoom(sent.roomId, 'gift.sent', data, sent.sendId),
      this.publishToReceivers(
        sent.roomId,
        sent.senderId,
        data.gift,
        { id: combo.id, count: combo.count },
        sent.receivers.map((r) => ({ userId: r.userId, receipt: { sendId: sent.sendId, at: sent.at, sends: 1, quantity: sent.quantity, diamonds: r.diamonds } })),
      ),
    ]);
  }

  /** A later send of a running combo: held for the combo's next update. */
  private addToCombo(sent: CommittedGift, combo: ComboCount, endsAt: number): void {
    const data: GiftComboData = {
      sendId: sent.sendId,
      senderId: sent.senderId,
      ...receiversOf(sent),
      gift: eventGift(sent.gift),
      totalCoins: combo.coins,
      priority: giftPriority(combo.coins, sent.gift.animation.display),
      combo: { id: combo.id, count: combo.count, endsAt },
    };
    let entry = this.pending.get(combo.id);
    if (!entry) {
      const timer = setTimeout(() => this.flushCombo(combo.id), this.settings.comboUpdateMs);
      timer.unref();
      entry = { roomId: sent.roomId, data, receipts: new Map(), timer };
      this.pending.set(combo.id, entry);
    } else if (combo.count > entry.data.combo.count) {
      // Concurrent sends may come back from Redis out of order: the room sees the highest count.
      entry.data = data;
    }
    for (const receiver of sent.receivers) {
      const held = entry.receipts.get(receiver.userId);
      if (!held) {
        entry.receipts.set(receiver.userId, { sendId: sent.sendId, at: sent.at, sends: 1, quantity: sent.quantity, diamonds: receiver.diamonds });
        continue;
      }
      held.sends += 1;
      held.quantity += sent.quantity;
      held.diamonds += receiver.diamonds;
      if (sent.at >= held.at) {
        held.sendId = sent.sendId;
        held.at = sent.at;
      }
    }
  }

  private flushCombo(comboId: string): void {
    const entry = this.pending.get(comboId);
    if (!entry) return;
    this.pending.delete(comboId);
    clearTimeout(entry.timer);
    const { roomId, data } = entry;
    const done: Promise<void> = Promise.all([
      this.emitToRoom(roomId, 'gift.combo', data, data.sendId),
      this.publishToReceivers(
        roomId,
        data.senderId,
        data.gift,
        { id: data.combo.id, count: data.combo.count },
        [...entry.receipts].map(([userId, receipt]) => ({ userId, receipt })),
      ),
    ]).then(() => {
      this.flushing.delete(done);
    });
    this.flushing.add(done);
  }

  private async emitToRoom(roomId: string, type: 'gift.sent' | 'gift.combo', data: GiftSentData | GiftComboData, sendId: string): Promise<void> {
    try {
      await this.deps.room.emit(roomId, type, data as unknown as Record<string, unknown>);
      this.published.inc({ type });
    } catch (err) {
      this.failed('room', err, { roomId, sendId });
    }
  }

  private async publishToReceivers(
    roomId: string,
    senderId: string,
    gift: GiftEventGift,
    combo: { id: string; count: number },
    receipts: { userId: string; receipt: PendingReceipt }[],
  ): Promise<void> {
    const results = await Promise.allSettled(
      receipts.map(({ userId, receipt }) => {
        const event: GiftReceivedEvent = {
          id: `gift:${receipt.sendId}:${userId}`,
          type: 'gift.received',
          at: receipt.at.toISOString(),
          data: {
            sendId: receipt.sendId,
            sends: receipt.sends,
            roomId,
            senderId,
            gift,
            quantity: receipt.quantity,
            diamonds: receipt.diamonds,
            combo,
          },
        };
        return this.deps.users.publishToUser(userId, event);
      }),
    );
    let failed = 0;
    let firstError: unknown;
    for (const result of results) {
      if (result.status === 'fulfilled') continue;
      failed += 1;
      firstError ??= result.reason;
    }
    if (results.length > failed) this.published.inc({ type: 'gift.received' }, results.length - failed);
    if (failed > 0) this.failed('user', firstError, { roomId, sendId: receipts[0]!.receipt.sendId }, failed);
  }

  /** Counts every failure; logs one per step per `failureLogMs`, so an outage at hundreds of gifts a second isn't a log flood. */
  private failed(step: Step, err: unknown, ids: { roomId: string; sendId: string }, count = 1): void {
    this.failures.inc({ step }, count);
    const now = this.clock();
    const last = this.failureLog.get(step);
    if (last && now - last.at < this.settings.failureLogMs) {
      last.quiet += count;
      return;
    }
    this.failureLog.set(step, { at: now, quiet: 0 });
    this.deps.logger.warn(
      { err, step, roomId: ids.roomId, sendId: ids.sendId, count, unloggedSince: last?.quiet ?? 0 },
      'gift event not published (the gift itself committed)',
    );
  }
}

/** One counter per registry, however many announcers a process (or a test) builds. */
function counter<L extends string>(registry: Registry | undefined, name: string, help: string, label: L): Counter<L> {
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames: [label], registers: registry ? [registry] : [] });
}

function eventGift(gift: CatalogGift): GiftEventGift {
  return { id: gift.id, name: gift.names.en ?? Object.values(gift.names)[0] ?? gift.id, animation: gift.animation };
}

function receiversOf(sent: CommittedGift): { receiverIds: string[]; receiverCount: number } {
  return {
    receiverIds: sent.receivers.slice(0, GIFT_EVENT_RECEIVER_IDS_MAX).map((r) => r.userId),
    receiverCount: sent.receivers.length,
  };
}

/** The announcer over Redis, as the API builds it: room events through `live`, personal events on users' channels. */
export function createGiftAnnouncer(deps: {
  config: Pick<Config, 'GIFT_COMBO_WINDOW_MS'>;
  redis: Redis;
  live: RoomEventSink;
  logger: Logger;
  metricsRegistry?: Registry;
  users?: UserEventPublisher;
}): GiftAnnouncer {
  return new GiftAnnouncer({
    combos: new GiftCombos(deps.redis, deps.config.GIFT_COMBO_WINDOW_MS),
    room: deps.live,
    users: deps.users ?? new RedisUserEventPublisher(deps.redis),
    logger: deps.logger,
    metricsRegistry: deps.metricsRegistry,
  });
}

/** The announcer over the rooms' own live state, for a process that has no room service at hand (api/main.ts). */
export function createRoomGiftAnnouncer(deps: { config: Config; redis: Redis; logger: Logger; metricsRegistry?: Registry }): GiftAnnouncer {
  return createGiftAnnouncer({ ...deps, live: new RoomLiveState(deps.redis, liveStateSettingsFromConfig(deps.config)) });
}
