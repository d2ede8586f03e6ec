import { randomUUID } from 'node:crypto';
import { referralBoardKeys, type ReferralBoardKeys, type ReferralBoardPage, type ReferralBoards } from '../../db/live/referral-boards';
import type { ReferralRecords } from '../../db/repositories/referrals';
import { keptUntil, periodAt } from '../../domain/economy/ranking-periods';
import type { Logger } from '../../platform/logging';

export type LeaderboardPeriod = 'week' | 'all';

/** How long the all-time board stays in Redis unwritten; a read after that rebuilds it. */
const ALL_TIME_TTL_MS = 30 * 86_400_000;
const POLL_MS = 20;

/**
 * The referral leaderboards: referrers ranked by qualified referrals (referees whose first
 * milestone was paid; an attribution alone counts for nothing, since it costs a fraudster
 * nothing), this ISO week (UTC, by the week of that first payout) and all time.
 *
 * Nothing is recounted on a read: each payout counts its referee once into the week's and the
 * all-time sorted sets (idempotent by referee). PostgreSQL's referrals (qualified_at) are the
 * record: a board missing from Redis (flushed, expired) is rebuilt from it by the first read.
 */
export class ReferralLeaderboard {
  private readonly clock: () => number;

  constructor(
    private readonly deps: {
      boards: ReferralBoards;
      records: ReferralRecords;
      logger?: Pick<Logger, 'warn' | 'info'>;
      clock?: () => number;
      /** Key prefix (tests use their own). */
      prefix?: string;
      lockMs?: number;
      waitForBuildMs?: number;
    },
  ) {
    this.clock = deps.clock ?? Date.now;
  }

  /** After a payout committed: counts the referee for the referrer (once) on the boards it belongs to. Never throws. */
  async record(referrerId: string, refereeId: string, qualifiedAt: Date): Promise<void> {
    const now = this.clock();
    const week = periodAt('weekly', qualifiedAt.getTime());
    const boards: [ReferralBoardKeys, number][] = [[this.keys('all', now), ALL_TIME_TTL_MS]];
    if (keptUntil(week) > now) boards.push([referralBoardKeys(`week:${week.id}`, this.deps.prefix), keptUntil(week) - now]);
    for (const [keys, ttlMs] of boards) {
      try {
        await this.deps.boards.count(keys, refereeId, referrerId, ttlMs);
      } catch (err) {
        // The board may now miss this referee: drop its marker so the next read rebuilds it.
        this.deps.logger?.warn({ err }, 'referral leaderboard write failed; the board is rebuilt from PostgreSQL');
        await this.deps.boards.invalidate(keys).catch(() => undefined);
      }
    }
  }

  /** The period's id (`all` or the ISO week's) and a page by offset, with the viewer's place. */
  async page(period: LeaderboardPeriod, query: { offset: number; limit: number; userId?: string }): Promise<{ periodId: string } & ReferralBoardPage> {
    const now = this.clock();
    const keys = this.keys(period, now);
    const periodId = period === 'all' ? 'all' : periodAt('weekly', now).id;
    const built = await this.deps.boards.read(keys, query);
    if (built) return { periodId, ...built };

    const deadline = this.clock() + (this.deps.waitForBuildMs ?? 1_000);
    const token = randomUUID();
    for (;;) {
      const lock = await this.deps.boards.begin(keys, token, this.deps.lockMs ?? 10_000);
      if (lock === 'mine' || lock === 'built') {
        if (lock === 'mine') await this.rebuild(period, keys, token, now);
        const view = await this.deps.boards.read(keys, query);
        if (view) return { periodId, ...view };
      }
      if (this.clock() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    // Someone else's rebuild is slow: answer from PostgreSQL directly.
    return { periodId, ...pageOf(await this.pairs(period, now), query) };
  }

  private keys(period: LeaderboardPeriod, now: number): ReferralBoardKeys {
    return referralBoardKeys(period === 'all' ? 'all' : `week:${periodAt('weekly', now).id}`, this.deps.prefix);
  }

  private async pairs(period: LeaderboardPeriod, now: number) {
    if (period === 'all') return this.deps.records.qualifiedPairs(null);
    const week = periodAt('weekly', now);
    return this.deps.records.qualifiedPairs({ from: new Date(week.startsAt), until: new Date(week.endsAt) });
  }

  private async rebuild(period: LeaderboardPeriod, keys: ReferralBoardKeys, token: string, now: number): Promise<void> {
    const pairs = await this.pairs(period, now);
    const ttlMs = period === 'all' ? ALL_TIME_TTL_MS : Math.max(keptUntil(periodAt('weekly', now)) - now, 60_000);
    if (!(await this.deps.boards.fill(keys, token, pairs, ttlMs))) return;
    if (await this.deps.boards.finish(keys, token, ttlMs)) {
      this.deps.logger?.info({ board: keys.board, referrals: pairs.length }, 'referral leaderboard rebuilt from PostgreSQL');
    }
  }
}

/** The same page computed from PostgreSQL's pairs (ties by user id, descending, as Redis orders them). */
function pageOf(pairs: [string, string][], query: { offset: number; limit: number; userId?: string }): ReferralBoardPage {
  const scores = new Map<string, number>();
  for (const [, referrer] of pairs) scores.set(referrer, (scores.get(referrer) ?? 0) + 1);
  const sorted = [...scores].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0));
  const entries = sorted.slice(query.offset, query.offset + query.limit).map(([userId, score], i) => ({ rank: query.offset + i + 1, userId, score }));
  const index = query.userId ? sorted.findIndex(([u]) => u === query.userId) : -1;
  return { entries, total: sorted.length, me: index < 0 ? null : { rank: index + 1, score: sorted[index]![1] } };
}
