import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Counts a send into its combo in one script call, so every API process agrees on the combo's
 * id and count. KEYS[1]: the combo key. ARGV: sendId, quantity, coins, window (ms).
 * Returns { combo id, count, coins, state }: state 1 = this send started the combo, 0 = it
 * continued one, 2 = it was already counted (the same send announced twice in a row).
 * The key lives `window` ms past the latest send, so a send after a pause starts a new combo.
 */
const COMBO_SCRIPT = String.raw`
local id = redis.call('HGET', KEYS[1], 'id')
if not id then
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'count', ARGV[2], 'coins', ARGV[3], 'last', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return { ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), 1 }
end
if redis.call('HGET', KEYS[1], 'last') == ARGV[1] then
  local v = redis.call('HMGET', KEYS[1], 'count', 'coins')
  return { id, tonumber(v[1]), tonumber(v[2]), 2 }
end
local count = redis.call('HINCRBY', KEYS[1], 'count', ARGV[2])
local coins = redis.call('HINCRBY', KEYS[1], 'coins', ARGV[3])
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return { id, count, coins, 0 }
`;

const SHA = createHash('sha1').update(COMBO_SCRIPT).digest('hex');

/** One send, as the combo counter needs it. */
export interface ComboSend {
  roomId: string;
  senderId: string;
  giftId: string;
  receiverIds: readonly string[];
  sendId: string;
  quantity: number;
  coins: number;
}

export interface ComboCount {
  id: string;
  /** Units in the combo so far, this send included. */
  count: number;
  /** Coins the combo is worth so far. */
  coins: number;
  state: 'started' | 'continued' | 'duplicate';
}

const STATES = ['continued', 'started', 'duplicate'] as const;

/** The combo key: same room, sender, gift and set of receivers (in any order). */
export function comboKey(send: Pick<ComboSend, 'roomId' | 'senderId' | 'giftId' | 'receiverIds'>): string {
  const receivers = createHash('sha1')
    .update([...send.receiverIds].sort().join(','))
    .digest('base64url')
    .slice(0, 16);
  return `aura:gift:combo:{${send.roomId}}:${send.senderId}:${send.giftId}:${receivers}`;
}

/** Gift combos in Redis: which sends of the same gift run together into one counted combo. */
export class GiftCombos {
  constructor(
    private readonly redis: Redis,
    /** A send within this long of the previous one continues its combo; 0: no combos. */
    readonly windowMs: number,
  ) {}

  async count(send: ComboSend): Promise<ComboCount> {
    if (this.windowMs <= 0) return { id: send.sendId, count: send.quantity, coins: send.coins, state: 'started' };
    const args = [send.sendId, String(send.quantity), String(send.coins), String(this.windowMs)];
    const key = comboKey(send);
    let reply: [string, number, number, number];
    try {
      reply = (await this.redis.evalsha(SHA, 1, key, ...args)) as typeof reply;
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      reply = (await this.redis.eval(COMBO_SCRIPT, 1, key, ...args)) as typeof reply;
    }
    return { id: reply[0], count: reply[1], coins: reply[2], state: STATES[reply[3]]! };
  }
}
