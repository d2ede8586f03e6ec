import type { Logger } from '../../platform/logging';
import type { GiftCommitListener } from '../gifts/gift-service';
import { ProgressEvents, type ProgressListener } from './progress-events';

export { ProgressEvents, type ProgressEvent, type ProgressListener } from './progress-events';

/** A process's progress events with the given listeners (medals, levels, referral nudges, ...). */
export function createProgressEvents(deps: { logger?: Pick<Logger, 'warn'>; listeners?: ProgressListener[] }): ProgressEvents {
  const events = new ProgressEvents(deps.logger);
  for (const listener of deps.listeners ?? []) events.add(listener);
  return events;
}

/** A committed gift send as progress: spent by the sender, received by each receiver. */
export function giftProgress(progress: ProgressEvents): GiftCommitListener {
  return {
    giftCommitted(gift) {
      progress.emit({
        kind: 'gift-sent',
        userId: gift.senderId,
        at: gift.at,
        sendId: gift.sendId,
        giftId: gift.gift.id,
        quantity: gift.quantity,
        coins: gift.totalCoins,
        receiverIds: gift.receivers.map((r) => r.userId),
      });
      for (const r of gift.receivers) {
        progress.emit({ kind: 'gift-received', userId: r.userId, at: gift.at, sendId: gift.sendId, senderId: gift.senderId, diamonds: r.diamonds, coins: r.coins });
      }
    },
  };
}
