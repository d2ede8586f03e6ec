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

  /**
   * Resolves once Redis confirms the subscription, so nothing published after it is missed.
   * If subscribing fails, every caller waiting on it fails and none of them stays counted, so
   * the next caller subscribes afresh.
   */
  async retain(channel: string): Promise<void> {
    this.counts.set(channel, (this.counts.get(channel) ?? 0) + 1);
    let subscribing = this.pending.get(channel);
    if (!subscribing) {
      const attempt = this.whenReady().then(() => this.subscriber.subscribe(channel));
      subscribing = attempt;
      this.pending.set(channel, attempt);
      attempt.catch(() => {
        if (this.pending.get(channel) === attempt) this.pending.delete(channel);
      });
    }
    try {
      await subscribing;
    } catch (err) {
      this.uncount(channel);
      throw err;
    }
  }

  /** Drops one reference; true when it was the last. */
  private uncount(channel: string): boolean {
    const count = (this.counts.get(channel) ?? 0) - 1;
    if (count > 0) {
      this.counts.set(channel, count);
      return false;
    }
    this.counts.delete(channel);
    return true;
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
    if (!this.uncount(channel)) return;
    const subscribing = this.pending.get(channel);
    this.pending.delete(channel);
    await subscribing?.catch(() => undefined);
    // A socket may have retained it again while we waited (it subscribed again, in order).
    if (!this.counts.has(channel)) await this.subscriber.unsubscribe(channel);
  }

  async close(): Promise<void> {
    this.counts.clear();
    this.subscriber.disconnect();
  }
}
