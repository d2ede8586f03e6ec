import { randomUUID } from 'node:crypto';
import type { RoomLiveState } from '../../db/live/room-live-state';
import type { RealtimeEvent } from '../../domain/events';
import type { RoomView } from '../../domain/rooms/model';
import type { UserEventPublisher } from '../../platform/events/publisher';
import { GiftService, type GiftCommitListener, type SendGift } from '../../services/gifts/gift-service';
import { ReplayableRequests } from '../../services/idempotency/replayable-requests';
import { createRoomService } from '../../services/rooms';
import type { RoomService } from '../../services/rooms/room-service';
import { testLogger } from '../support/app-harness';
import { fundCoins, uncachedCatalog } from '../support/economy';
import type { RealStack } from '../support/real-stack';
import { RoomJanitor } from '../support/room-api';

/** Socket events as a publisher would send them, kept for assertions. */
export class RecordingPublisher implements UserEventPublisher {
  readonly sent: { userId: string; event: RealtimeEvent }[] = [];
  async publishToUser(userId: string, event: RealtimeEvent): Promise<void> {
    this.sent.push({ userId, event });
  }
  of(userId: string, type: string): RealtimeEvent[] {
    return this.sent.filter((s) => s.userId === userId && s.event.type === type).map((s) => s.event);
  }
}

/** Rooms and real gift sends for the levels and medals suites. */
export class GiftWorld {
  readonly rooms: RoomService;
  readonly live: RoomLiveState;
  readonly janitor: RoomJanitor;

  constructor(private readonly stack: RealStack) {
    ({ rooms: this.rooms, live: this.live } = createRoomService({ config: stack.config, dataSource: stack.dataSource, redis: stack.redis, logger: testLogger }));
    this.janitor = new RoomJanitor(this.rooms, this.live);
  }

  /** A gift service over the real stack, telling the given listeners after each commit. */
  gifts(listeners: GiftCommitListener[]): GiftService {
    return new GiftService({
      dataSource: this.stack.dataSource,
      live: this.live,
      catalog: uncachedCatalog(this.stack.dataSource),
      requests: new ReplayableRequests(this.stack.dataSource),
      settings: { holdMs: 72 * 3600_000, maxReceivers: 5, senderDailyCapCoins: 10_000_000, pairDailyCapCoins: 10_000_000 },
      listeners,
    });
  }

  /** A room with a seated host, and the given number of funded senders, all present. */
  async party(senders: number, coinsEach: number): Promise<{ room: RoomView; host: string; senders: string[] }> {
    const host = await this.stack.newUser();
    const room = this.janitor.room(await this.rooms.create(host.id, { type: 'voice', name: 'Levels', seatCount: 4, seatMode: 'free' }));
    await this.janitor.enter(room, host.id);
    await this.rooms.takeSeat(host.id, room.id, 0);
    const ids: string[] = [];
    for (let i = 0; i < senders; i++) {
      const u = await this.stack.newUser();
      await this.janitor.enter(room, u.id);
      if (coinsEach > 0) await fundCoins(this.stack, u.id, coinsEach);
      ids.push(u.id);
    }
    return { room, host: host.id, senders: ids };
  }
}

export function sendTo(gifts: GiftService, room: RoomView, senderId: string, giftId: string, to: string[], overrides: Partial<SendGift> = {}) {
  return gifts.send({ senderId, roomId: room.id, giftId, quantity: 1, to: { users: to }, idempotencyKey: randomUUID(), ...overrides });
}

export interface Totals {
  coins_spent: number;
  diamonds_received: number;
  gifts_sent: number;
  wealth_level: number;
  charm_level: number;
}

export async function totalsOf(stack: RealStack, userId: string): Promise<Totals> {
  const [row] = (await stack.dataSource.query(`SELECT coins_spent, diamonds_received, gifts_sent, wealth_level, charm_level FROM users WHERE id = $1`, [userId])) as Record<string, string | number>[];
  return {
    coins_spent: Number(row!.coins_spent),
    diamonds_received: Number(row!.diamonds_received),
    gifts_sent: Number(row!.gifts_sent),
    wealth_level: Number(row!.wealth_level),
    charm_level: Number(row!.charm_level),
  };
}

export async function notificationsOf(stack: RealStack, userId: string, kind: string): Promise<{ idempotency_key: string; data: Record<string, unknown> }[]> {
  return stack.dataSource.query(`SELECT idempotency_key, data FROM notifications WHERE user_id = $1 AND kind = $2 ORDER BY created_at`, [userId, kind]);
}

/** Polls until `check` holds (after-commit work runs off the caller's path), failing after a deadline. */
export async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
