import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Referral leaderboards in Redis: per board (an ISO week, or all time) a sorted set of referrers
 * scored by qualified referrals, a set of the referees already counted in it (so counting one
 * referee twice, a retried payout say, adds nothing), and a marker saying whether the board is
 * complete. The same states as the gift boards (db/live/ranking-boards.ts):
 *
 * - `built`: increments apply to the board;
 * - `building:<token>`: a rebuild from PostgreSQL holds the lock; increments go to its side keys,
 *   which the rebuild fills with PostgreSQL's pairs and then renames over the board. Both go
 *   through the counted set, so a referee counted by the increment and by the query counts once;
 * - missing (never built, expired, flushed): increments are skipped; the next read rebuilds.
 *
 * Keys of one board share a hash tag.
 */

const COUNT = `
local state = redis.call('GET', KEYS[3])
local board, counted
if state == 'built' then board = KEYS[1]; counted = KEYS[2]
elseif state and string.sub(state, 1, 9) == 'building:' then board = KEYS[4]; counted = KEYS[5]
else return 0 end
if redis.call('SADD', counted, ARGV[1]) == 1 then redis.call('ZINCRBY', board, 1, ARGV[2]) end
redis.call('PEXPIRE', board, ARGV[3])
redis.call('PEXPIRE', counted, ARGV[3])
return 1`;

const BEGIN = `
if not redis.call('SET', KEYS[1], 'building:' .. ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('GET', KEYS[1]) or ''
end
redis.call('DEL', KEYS[2], KEYS[3])
return 'mine'`;

const FILL = `
if redis.call('GET', KEYS[1]) ~= 'building:' .. ARGV[1] then return 0 end
for i = 3, #ARGV, 2 do
  if redis.call('SADD', KEYS[3], ARGV[i]) == 1 then redis.call('ZINCRBY', KEYS[2], 1, ARGV[i + 1]) end
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return 1`;

const FINISH = `
if redis.call('GET', KEYS[3]) ~= 'building:' .. ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('RENAME', KEYS[4], KEYS[1]); redis.call('PEXPIRE', KEYS[1], ARGV[2]) else redis.call('DEL', KEYS[1]) end
if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('RENAME', KEYS[5], KEYS[2]); redis.call('PEXPIRE', KEYS[2], ARGV[2]) else redis.call('DEL', KEYS[2]) end
redis.call('SET', KEYS[3], 'built', 'PX', ARGV[2])
return 1`;

const READ = `
if redis.call('GET', KEYS[2]) ~= 'built' then return {0} end
local offset = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local page = {}
if limit > 0 then page = redis.call('ZREVRANGE', KEYS[1], offset, offset + limit - 1, 'WITHSCORES') end
local total = redis.call('ZCARD', KEYS[1])
if ARGV[3] == '' then return {1, page, total} end
local rank = redis.call('ZREVRANK', KEYS[1], ARGV[3])
if not rank then return {1, page, total} end
return {1, page, total, rank, redis.call('ZSCORE', KEYS[1], ARGV[3])}`;

const SCRIPTS = { COUNT, BEGIN, FILL, FINISH, READ };
type ScriptName = keyof typeof SCRIPTS;
const SHAS = Object.fromEntries(Object.entries(SCRIPTS).map(([n, text]) => [n, createHash('sha1').update(text).digest('hex')])) as Record<ScriptName, string>;

const FILL_CHUNK = 1_000;

export interface ReferralBoardKeys {
  board: string;
  counted: string;
  marker: string;
  side: string;
  sideCounted: string;
}

/** `boardId`: `all`, or `week:<ISO week id>`. `prefix` keeps tests' keys apart. */
export function referralBoardKeys(boardId: string, prefix = 'aura:referral-rank'): ReferralBoardKeys {
  const base = `${prefix}:{${boardId}}`;
  return { board: base, counted: `${base}:counted`, marker: `${base}:built`, side: `${base}:build`, sideCounted: `${base}:build:counted` };
}

export interface ReferralBoardPage {
  entries: { rank: number; userId: string; score: number }[];
  total: number;
  me: { rank: number; score: number } | null;
}

export class ReferralBoards {
  constructor(private readonly redis: Redis) {}

  /** Counts a qualified referee for their referrer, once; false when the board is not built (the rebuild reads it from PostgreSQL). */
  async count(keys: ReferralBoardKeys, refereeId: string, referrerId: string, ttlMs: number): Promise<boolean> {
    const reply = await this.script('COUNT', [keys.board, keys.counted, keys.marker, keys.side, keys.sideCounted], [refereeId, referrerId, String(Math.ceil(ttlMs))]);
    return reply === 1;
  }

  async begin(keys: ReferralBoardKeys, token: string, lockMs: number): Promise<string> {
    return String(await this.script('BEGIN', [keys.marker, keys.side, keys.sideCounted], [token, String(lockMs)]));
  }

  async fill(keys: ReferralBoardKeys, token: string, pairs: readonly [string, string][], ttlMs: number): Promise<boolean> {
    for (let i = 0; i < pairs.length; i += FILL_CHUNK) {
      const args = pairs.slice(i, i + FILL_CHUNK).flat();
      if ((await this.script('FILL', [keys.marker, keys.side, keys.sideCounted], [token, String(Math.ceil(ttlMs)), ...args])) !== 1) return false;
    }
    return true;
  }

  async finish(keys: ReferralBoardKeys, token: string, ttlMs: number): Promise<boolean> {
    return (await this.script('FINISH', [keys.board, keys.counted, keys.marker, keys.side, keys.sideCounted], [token, String(Math.ceil(ttlMs))])) === 1;
  }

  /** Drops the marker, so the next read rebuilds the board (after a write that may have been lost). */
  async invalidate(keys: ReferralBoardKeys): Promise<void> {
    await this.redis.del(keys.marker);
  }

  /** A page (by offset) and the member's rank; null when the board is not built. */
  async read(keys: ReferralBoardKeys, query: { offset: number; limit: number; userId?: string }): Promise<ReferralBoardPage | null> {
    const reply = (await this.script('READ', [keys.board, keys.marker], [String(query.offset), String(query.limit), query.userId ?? ''])) as
      | [0]
      | [1, string[], number]
      | [1, string[], number, number, string];
    if (reply[0] === 0) return null;
    const flat = reply[1];
    const entries: ReferralBoardPage['entries'] = [];
    for (let i = 0; i < flat.length; i += 2) entries.push({ rank: query.offset + i / 2 + 1, userId: flat[i]!, score: Number(flat[i + 1]) });
    const me = reply.length === 5 ? { rank: reply[3] + 1, score: Number(reply[4]) } : null;
    return { entries, total: reply[2], me };
  }

  private async script(name: ScriptName, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(SHAS[name], keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return this.redis.eval(SCRIPTS[name], keys.length, ...keys, ...args);
    }
  }
}
