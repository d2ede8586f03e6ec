import type { Logger } from '../../platform/logging';

/**
 * Things users do that status features count: medals and levels award from them, referral
 * flows are nudged by them. Emitted after the fact is committed, by the process that committed it.
 */
export type ProgressEvent =
  /** A daily reward claimed (the API, after the flow answered). */
  | { kind: 'daily-claimed'; userId: string; at: Date; day: number; streak: number; coins: number }
  /** A gift send committed, seen from the sender (coins spent) ... */
  | { kind: 'gift-sent'; userId: string; at: Date; sendId: string; giftId: string; quantity: number; coins: number; receiverIds: string[] }
  /** ... and from each receiver (diamonds pending). */
  | { kind: 'gift-received'; userId: string; at: Date; sendId: string; senderId: string; diamonds: number; coins: number }
  /** A store recharge credited (the worker's recharge activity). */
  | { kind: 'recharged'; userId: string; at: Date; purchaseId: string; coins: number }
  /** A sign-in or a session refresh: the user was active today. */
  | { kind: 'signed-in'; userId: string; at: Date }
  /** A VIP purchase, renewal or upgrade committed. */
  | { kind: 'vip-bought'; userId: string; at: Date; tier: number; expiresAt: Date }
  /** A wealth or charm level reached. */
  | { kind: 'level-up'; userId: string; at: Date; track: 'wealth' | 'charm'; level: number };

export type ProgressKind = ProgressEvent['kind'];

export interface ProgressListener {
  /** Must be idempotent: an event may be seen twice (a retried activity), and each listener is
   * also given a repair path (a periodic re-check from the records), since an event is lost if
   * its process dies between the commit and this call. */
  onProgress(event: ProgressEvent): Promise<void>;
}

/**
 * The in-process fan-out of progress events. A listener that fails is logged and never fails
 * the request or activity that emitted (the fact is already committed); listeners run one
 * after the other, off the caller's path (`emit` does not wait for them).
 */
export class ProgressEvents {
  private readonly listeners: ProgressListener[] = [];
  private pending = Promise.resolve();

  constructor(private readonly logger?: Pick<Logger, 'warn'>) {}

  add(listener: ProgressListener): this {
    this.listeners.push(listener);
    return this;
  }

  emit(event: ProgressEvent): void {
    if (this.listeners.length === 0) return;
    this.pending = this.pending.then(() => this.deliver(event));
  }

  /** Resolves once every event emitted so far was handled (shutdown, tests). */
  async drain(): Promise<void> {
    await this.pending;
  }

  private async deliver(event: ProgressEvent): Promise<void> {
    for (const listener of this.listeners) {
      try {
        await listener.onProgress(event);
      } catch (err) {
        this.logger?.warn({ err, kind: event.kind, userId: event.userId }, 'a progress listener failed; its periodic re-check repairs it');
      }
    }
  }
}
