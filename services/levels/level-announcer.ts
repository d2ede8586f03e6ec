import type { DataSource } from 'typeorm';
import { LevelTotals, type PendingLevelUp } from '../../db/repositories/level-totals';
import type { RealtimeEvent } from '../../domain/events';
import type { LevelTrack, LevelUp } from '../../domain/levels/levels';
import type { UserEventPublisher } from '../../platform/events/publisher';
import type { Logger } from '../../platform/logging';
import type { GiftCommitListener } from '../gifts/gift-service';
import type { Notifier } from '../notifications/notifier';
import type { ProgressEvents } from '../progress';

export type LevelUpEvent = RealtimeEvent<'level.up', { track: LevelTrack; level: number; previous: number }>;

const TRACK_NAMES: Record<LevelTrack, string> = { wealth: 'wealth', charm: 'charm' };

/** The notification's idempotency key (and the event's id): one per user, track and level. */
export const levelUpKey = (up: Pick<LevelUp, 'userId' | 'track' | 'level'>) => `level-up:${up.userId}:${up.track}:${up.level}`;

/**
 * Tells a user their level rose: a `level.up` event on their socket, a `level_up` notification
 * (idempotent by user, track and level), and a `level-up` progress event for medals. The
 * level-up row was written in the transaction that raised the level; it is marked announced
 * after the notification is in, so a process that dies in between leaves it to the periodic
 * re-check, which announces it again with the same keys (the notification is not duplicated).
 */
export class LevelAnnouncer {
  private readonly totals = new LevelTotals();

  constructor(
    private readonly deps: {
      dataSource: DataSource;
      notifier: Notifier;
      events?: UserEventPublisher;
      progress?: ProgressEvents;
      logger?: Pick<Logger, 'warn'>;
    },
  ) {}

  async announce(up: LevelUp, at: Date = new Date()): Promise<void> {
    const key = levelUpKey(up);
    const name = TRACK_NAMES[up.track];
    await this.deps.notifier.notify({
      userId: up.userId,
      kind: 'level_up',
      title: `You reached ${name} level ${up.level}`,
      body: up.track === 'wealth' ? `Your gifts took you to wealth level ${up.level}.` : `The gifts you received took you to charm level ${up.level}.`,
      data: { track: up.track, level: up.level, previous: up.previous },
      idempotencyKey: key,
    });
    const event: LevelUpEvent = { id: key, type: 'level.up', at: at.toISOString(), data: { track: up.track, level: up.level, previous: up.previous } };
    await this.deps.events?.publishToUser(up.userId, event);
    await this.totals.markAnnounced(this.deps.dataSource.manager, up);
    this.deps.progress?.emit({ kind: 'level-up', userId: up.userId, at, track: up.track, level: up.level });
  }

  /** Announces each in turn; one that fails is left for the re-check (logged), the rest go on. */
  async announceAll(ups: readonly LevelUp[], at?: Date): Promise<number> {
    let announced = 0;
    for (const up of ups) {
      try {
        await this.announce(up, at);
        announced += 1;
      } catch (err) {
        this.deps.logger?.warn({ err, userId: up.userId, track: up.track, level: up.level }, 'announcing a level-up failed; the re-check repeats it');
      }
    }
    return announced;
  }

  /** The repair path: level-ups recorded at or before `reachedBy` that nobody announced. */
  async announcePending(reachedBy: Date, limit: number): Promise<number> {
    const pending: PendingLevelUp[] = await this.totals.unannounced(this.deps.dataSource.manager, reachedBy, limit);
    return this.announceAll(pending);
  }

  /** After a gift commits: the levels it raised. */
  giftListener(): GiftCommitListener {
    return {
      giftCommitted: async (gift) => {
        if (gift.levelUps?.length) await this.announceAll(gift.levelUps, gift.at);
      },
    };
  }
}
