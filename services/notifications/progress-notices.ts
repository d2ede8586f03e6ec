import type { ProgressEvent, ProgressListener } from '../progress';
import type { Notifier } from './notifier';

/**
 * Notices for things users are given: a gift received, a daily reward claimed. They come from
 * the progress events the API already emits after those commit; each notice is keyed by its
 * effect, so an event seen twice writes one row (and pushes once).
 */
export class ProgressNotices implements ProgressListener {
  constructor(private readonly notifier: Notifier) {}

  async onProgress(event: ProgressEvent): Promise<void> {
    if (event.kind === 'gift-received') {
      await this.notifier.notify({
        userId: event.userId,
        kind: 'gift_received',
        title: 'You received a gift',
        body: `A gift worth ${event.diamonds} diamonds is on its way to your wallet.`,
        data: { sendId: event.sendId, senderId: event.senderId, diamonds: event.diamonds },
        idempotencyKey: `gift-received:${event.sendId}:${event.userId}`,
      });
    } else if (event.kind === 'daily-claimed') {
      await this.notifier.notify({
        userId: event.userId,
        kind: 'reward',
        title: 'Daily reward claimed',
        body: `Day ${event.day}: ${event.coins} coins. Streak ${event.streak}.`,
        data: { day: event.day, coins: event.coins, streak: event.streak },
        idempotencyKey: `reward-claimed:${event.userId}:${event.at.toISOString().slice(0, 10)}:${event.day}`,
      });
    }
  }
}
