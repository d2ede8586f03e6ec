import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Period } from '../../domain/economy/ranking-periods';
import { boardName, type Board } from '../../domain/economy/rankings';
import type { BoardTotals } from '../repositories/gift-ranking-totals';

/**
 * Gift ranking boards in Redis: one sorted set per board and period (member: user id, score:
 * coins or diamonds), with a companion marker key saying whether the set is complete:
 *
 * - `built`: the set holds everything (increments apply to it);
 * - `building:<token>`: a rebuild from PostgreSQL is under way (and the marker is its lock, SET NX
 *   PX): increments go to the rebuild's side set, which the rebuild fills with PostgreSQL's
 *   totals (ZINCRBY commutes, so the order does not matter) and then RENAMEs over the board;
 * - missing (never built, expired, flushed, or dropped because a write failed): increments are
 *   skipped, since a rebuild will read those receipts from PostgreSQL, and the next read rebuilds.
 *
 * The three keys share a hash tag. Every method is one round trip; `apply` calls are pipelined.
 */

const APPLY = `
local state = redis.call('GET', KEYS[2])
local target
if state == 'built' then target = KEYS[1]
elseif state and string.sub(state, 1, 9) == 'building:' then target = KEYS[3]
else return 0 end
for i = 2, #ARGV, 2 do
  local score = tonumber(redis.call('ZINCRBY', target, ARGV[i + 1], ARGV[i]))
  -- A side set may go below zero until the rebuild's totals land: only the board is pruned now.
  if target == KEYS[1] and score <= 0 then redis.call('ZREM', target, ARGV[i]) end
end
if redis.call('EXISTS', target) == 1 then redis.call('PEXPIRE', target, ARGV[1]) end
return 1`;

const BEGIN = `
if not redis.call('SET', KEYS[1], 'building:' .. ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('GET', KEYS[1]) or ''
end
redis.call('DEL', KEYS[2]) -- what an abandoned rebuild left
return 'mine'`;

const FILL = `
if redis.call('GET', KEYS[1]) ~= 'building:' .. ARGV[1] then return 0 end
for i = 3, #ARGV, 2 do redis.call('ZINCRBY', KEYS[2], ARGV[i + 1], ARGV[i]) end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1`;

const FINISH = `
if redis.call('GET', KEYS[2]) ~= 'building:' .. ARGV[1] then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', 0)
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('RENAME', KEYS[3], KEYS[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('DEL', KEYS[1])
end
redis.call('SET', KEYS[2], 'built', 'PX', ARGV[2])
return 1`;

const READ = `
if redis.call('GET', KEYS[2]) ~= 'built' then return {0} end
local limit = tonumber(ARGV[1])
local top = {}
if limit > 0 then top = redis.call('ZREVRANGE', KEYS[1], 0, limit - 1, 'WITHSCORES') end
if ARGV[2] == '' then return {1, top} end
local rank = redis.call('ZREVRANK', KEYS[1], ARGV[2])
if not rank then return {1, top} end
local radius = tonumber(ARGV[3])
local first = math.max(0, rank - radius)
local around = redis.call('ZREVRANGE', KEYS[1], first, rank + radius, 'WITHSCORES')
return {1, top, rank, redis.call('ZSCORE', KEYS[1], ARGV[2]), first, around}`;

const SCRIPTS = { APPLY, BEGIN, FILL, FINISH, READ };
type ScriptName = keyof typeof SCRIPTS;
const SHAS = Object.fromEntries(Object.entries(SCRIPTS).map(([name, text]) => [name, createHash('sha1').update(text).digest('hex')])) as Record<ScriptName, string>;

/** Members filled per script call while a rebuild writes PostgreSQL's totals. */
const FILL_CHUNK = 1_000;

export interface RankedEntry {
  /** 1-based. */
  rank: number;
  userId: string;
  score: number;
}

export interface BoardView {
  top: RankedEntry[];
  me: { rank: number; score: number } | null;
  around: RankedEntry[];
}

export interface BoardKeys {
  board: string;
  marker: string;
  side: string;
}

export function boardKeys(board: Board, period: Period): BoardKeys {
  const base = `aura:rank:{${boardName(board)}:${period.id}}`;
  return { board: base, marker: `${base}:built`, side: `${base}:build` };
}

/** One board's change: member → signed score change; the keys' time to live. */
export interface BoardIncrement {
  keys: BoardKeys;
  deltas: Map<string, number>;
  ttlMs: number;
}

export class RankingBoards {
  constructor(private readonly redis: Redis) {}

  /**
   * Applies increments to many boards in one pipelined round trip. Rejects if any command failed
   * (the caller then treats every board it touched as possibly wrong).
   */
  async apply(increments: readonly BoardIncrement[]): Promise<void> {
    if (increments.length === 0) return;
    const calls = increments.map(({ keys, deltas, ttlMs }): [ScriptName, string[], string[]] => [
      'APPLY',
      [keys.board, keys.marker, keys.side],
      [String(Math.ceil(ttlMs)), ...[...deltas].flatMap(([member, delta]) => [member, String(delta)])],
    ]);
    await this.pipelined(calls);
  }

  /** Takes the rebuild lock: 'mine', or the marker's current value ('built', 'building:…', or '' if it just vanished). */
  async begin(keys: BoardKeys, token: string, lockMs: number): Promise<string> {
    return String(await this.script('BEGIN', [keys.marker, keys.side], [token, String(lockMs)]));
  }

  /** Writes PostgreSQL's totals into the side set; false when the lock was lost meanwhile. */
  async fill(keys: BoardKeys, token: string, totals: BoardTotals, ttlMs: number): Promise<boolean> {
    const calls: [ScriptName, string[], string[]][] = [];
    for (let i = 0; i < totals.length; i += FILL_CHUNK) {
      const pairs = totals.slice(i, i + FILL_CHUNK).flatMap(([member, score]) => [member, String(score)]);
      calls.push(['FILL', [keys.marker, keys.side], [token, String(Math.ceil(ttlMs)), ...pairs]]);
    }
    const results = await this.pipelined(calls);
    return results.every((r) => r === 1);
  }

  /** Swaps the side set in as the board and marks it built; false when the lock was lost meanwhile. */
  async finish(keys: BoardKeys, token: string, ttlMs: number): Promise<boolean> {
    return (await this.script('FINISH', [keys.board, keys.marker, keys.side], [token, String(Math.ceil(ttlMs))])) === 1;
  }

  async marker(keys: BoardKeys): Promise<string | null> {
    return this.redis.get(keys.marker);
  }

  /** Drops markers so the next read rebuilds those boards (one pipelined round trip). */
  async invalidate(markers: readonly string[]): Promise<void> {
    if (markers.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const marker of markers) pipeline.del(marker);
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }

  /**
   * The top `limit`, and the member's rank, score and neighbours within `radius` (if on the
   * board), read in one script; null when the board is not built.
   */
  async read(keys: BoardKeys, options: { limit: number; userId?: string; radius: number }): Promise<BoardView | null> {
    const reply = (await this.script('READ', [keys.board, keys.marker], [String(options.limit), options.userId ?? '', String(options.radius)])) as
      | [0]
      | [1, string[]]
      | [1, string[], number, string, number, string[]];
    if (reply[0] === 0) return null;
    const top = entries(reply[1], 0);
    if (reply.length === 2) return { top, me: null, around: [] };
    const [, , rank, score, first, around] = reply;
    return { top, me: { rank: rank + 1, score: Number(score) }, around: entries(around, first) };
  }

  private async script(name: ScriptName, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(SHAS[name], keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return this.redis.eval(SCRIPTS[name], keys.length, ...keys, ...args);
    }
  }

  /** Script calls in one pipeline; scripts Redis has not loaded (after a restart) are loaded and those calls sent again. */
  private async pipelined(calls: [ScriptName, string[], string[]][]): Promise<unknown[]> {
    const send = async (batch: [ScriptName, string[], string[]][]) => {
      const pipeline = this.redis.pipeline();
      for (const [name, keys, args] of batch) pipeline.evalsha(SHAS[name], keys.length, ...keys, ...args);
      return (await pipeline.exec()) ?? [];
    };
    let results = await send(calls);
    const missing = results.flatMap(([err], i) => (err?.message.startsWith('NOSCRIPT') ? [i] : []));
    if (missing.length > 0) {
      const names = new Set(missing.map((i) => calls[i]![0]));
      for (const name of names) await this.redis.script('LOAD', SCRIPTS[name]);
      const again = await send(missing.map((i) => calls[i]!));
      results = results.map((r, i) => (missing.includes(i) ? again[missing.indexOf(i)]! : r));
    }
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
    return results.map(([, value]) => value);
  }
}

function entries(flat: string[], firstIndex: number): RankedEntry[] {
  const out: RankedEntry[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push({ rank: firstIndex + i / 2 + 1, userId: flat[i]!, score: Number(flat[i + 1]) });
  return out;
}
