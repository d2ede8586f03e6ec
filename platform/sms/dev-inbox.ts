import type { Redis } from 'ioredis';
import type { SmsSender } from './sms-sender';

const TTL_SECONDS = 15 * 60;

/**
 * Development "SMS": texts land in Redis where the dev stack and the tests read them.
 * Refused in production configuration (see config). Keyed by the number itself, which is
 * fine for a dev-only store that expires within minutes.
 */
export class DevSmsInbox implements SmsSender {
  constructor(private readonly redis: Redis) {}

  static key(to: string): string {
    return `aura:dev-sms:${to}`;
  }

  async send(message: { to: string; body: string; idempotencyKey: string }): Promise<{ providerMessageId: string }> {
    const key = DevSmsInbox.key(message.to);
    await this.redis.multi().lpush(key, JSON.stringify({ body: message.body, id: message.idempotencyKey, at: Date.now() })).expire(key, TTL_SECONDS).exec();
    return { providerMessageId: `dev-${message.idempotencyKey}` };
  }

  /** Newest text to a number, for tests and the dev stack. */
  async latest(to: string): Promise<{ body: string; id: string; at: number } | null> {
    const raw = await this.redis.lindex(DevSmsInbox.key(to), 0);
    return raw ? (JSON.parse(raw) as { body: string; id: string; at: number }) : null;
  }
}
