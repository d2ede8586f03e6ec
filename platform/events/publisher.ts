import type { Redis } from 'ioredis';
import { userChannel, type RealtimeEvent } from '../../domain/events';

/** How activities and the API reach connected users: publish once, every edge delivers. */
export interface UserEventPublisher {
  publishToUser(userId: string, event: RealtimeEvent): Promise<void>;
}

export class RedisUserEventPublisher implements UserEventPublisher {
  constructor(private readonly redis: Redis) {}

  async publishToUser(userId: string, event: RealtimeEvent): Promise<void> {
    await this.redis.publish(userChannel(userId), JSON.stringify(event));
  }
}
