import type { Redis } from 'ioredis';

/**
 * Reference-counted Redis subscriptions: an edge subscribes to a channel while at least one
 * of its sockets needs it, so it only receives what its own users need.
 */
export class ChannelSubscriptions {
  private readonly counts = new Map<string, number>();
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(
    private readonly subscriber: Redis,
    onMessage: (channel: string, message: string) => void,
  ) {
    subscriber.on('message', onMessage);
  }

  /** Resolves once Redis confirms the subscription, so nothing published after it is missed. */
  async retain(channel: string): Promise<void> {
    const count = (this.counts.get(channel) ?? 0) + 1;
    this.counts.set(channel, count);
    if (count === 1) {
      const subscribing = this.whenReady().then(() => this.subscriber.subscribe(channel));
      this.pending.set(channel, subscribing);
      try {
        await subscribing;
      } finally {
        if (this.pending.get(channel) === subscribing) this.pending.delete(channel);
      }
    } else {
      await this.pending.get(channel);
    }
  }

  /**
   * ioredis 5.8+ can write a SUBSCRIBE issued while the connection is still in its handshake
   * ahead of its INFO ready check; Redis then refuses INFO in subscriber mode and ioredis
   * drops the connection (redis/ioredis#2037). So subscribe only on a ready connection.
   */
  private whenReady(timeoutMs = 5_000): Promise<void> {
    if (this.subscriber.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.subscriber.off('ready', onReady);
        reject(new Error(`redis subscriber not ready after ${timeoutMs} ms (status ${this.subscriber.status})`));
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      this.subscriber.once('ready', onReady);
    });
  }

  async release(channel: string): Promise<void> {
    const count = (this.counts.get(channel) ?? 0) - 1;
    if (count > 0) {
      this.counts.set(channel, count);
      return;
    }
    this.counts.delete(channel);
    await this.pending.get(channel);
    // A socket may have retained it again while we waited.
    if (!this.counts.has(channel)) await this.subscriber.unsubscribe(channel);
  }

  async close(): Promise<void> {
    this.counts.clear();
    this.subscriber.disconnect();
  }
}
