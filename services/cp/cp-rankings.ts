import { randomUUID } from 'node:crypto';
import type { RankingBoards, BoardKeys } from '../../db/live/ranking-boards';
import type { CountedGift, CpRecords } from '../../db/repositories/cp';
import { byRank } from '../../db/repositories/gift-ranking-totals';
import { keptUntil, periodAt, type Period } from '../../domain/economy/ranking-periods';
import type { Logger } from '../../platform/logging';

/** The weekly CP board of an ISO week: member = pair id, score = coins the two gave each other. */
export function cpBoardKeys(period: Period): BoardKeys {
  const base = `aura:rank:{cp:${period.id}}`;
  return { board: base, marker: `${base}:built`, side: `${base}:build` };
}

/** How many places a weekly CP board shows at most (pages of it by cursor). */
export const CP_RANKING_DEPTH = 100;

export interface CpBoardEntry {
  rank: number;
  pairId: string;
  coins: number;
}

const POLL_MS = 20;

/**
 * The weekly CP ranking: a Redis sorted set per ISO week (UTC), kept by the same board states as
 * the gift rankings (db/live/ranking-boards.ts: built / building / missing), rebuildable from
 * PostgreSQL (CpRecords.weeklyTotals: receipts between partners while paired, in the week).
 * `record` is told what the intimacy counter newly counted, so each receipt adds once; it never
 * throws, and a failed write drops the week's marker so the next read rebuilds it.
 */
export class CpRankings {
  constructor(
    private readonly boards: RankingBoards,
    private readonly records: CpRecords,
    private readonly options: { clock?: () => number; logger?: Pick<Logger, 'warn' | 'info'>; lockMs?: number; waitForBuildMs?: number } = {},
  ) {}

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }

  async record(counted: readonly CountedGift[]): Promise<void> {
    const byWeek = new Map<string, { period: Period; deltas: Map<string, number> }>();
    for (const gift of counted) {
      const period = periodAt('weekly', gift.at.getTime());
      let week = byWeek.get(period.id);
      if (!week) byWeek.set(period.id, (week = { period, deltas: new Map() }));
      week.deltas.set(gift.pairId, (week.deltas.get(gift.pairId) ?? 0) + gift.coins);
    }
    const now = this.now();
    const increments = [...byWeek.values()]
      .map(({ period, deltas }) => ({ keys: cpBoardKeys(period), deltas, ttlMs: keptUntil(period) - now }))
      .filter((i) => i.ttlMs > 0);
    if (increments.length === 0) return;
    try {
      await this.boards.apply(increments);
    } catch (err) {
      this.options.logger?.warn({ err }, 'a CP ranking write failed: the week is rebuilt from PostgreSQL on its next read');
      await this.boards.invalidate(increments.map((i) => i.keys.marker)).catch(() => undefined);
    }
  }

  /** The week's top `depth` entries (highest first; ties by pair id, descending), rebuilding the board if needed. */
  async top(period: Period, depth: number = CP_RANKING_DEPTH): Promise<CpBoardEntry[]> {
    const limit = Math.min(Math.max(depth, 0), CP_RANKING_DEPTH);
    const keys = cpBoardKeys(period);
    const built = await this.boards.read(keys, { limit, radius: 0 });
    if (built) return built.top.map((e) => ({ rank: e.rank, pairId: e.userId, coins: e.score }));
    const deadline = this.now() + (this.options.waitForBuildMs ?? 1_000);
    const token = randomUUID();
    for (;;) {
      const lock = await this.boards.begin(keys, token, this.options.lockMs ?? 10_000);
      if (lock === 'mine' && (await this.rebuild(period, keys, token))) {
        const view = await this.boards.read(keys, { limit, radius: 0 });
        if (view) return view.top.map((e) => ({ rank: e.rank, pairId: e.userId, coins: e.score }));
      } else if (lock === 'built') {
        const view = await this.boards.read(keys, { limit, radius: 0 });
        if (view) return view.top.map((e) => ({ rank: e.rank, pairId: e.userId, coins: e.score }));
      }
      if (this.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    // Redis could not be built in time: PostgreSQL's answer, directly.
    const totals = (await this.records.weeklyTotals(new Date(period.startsAt), new Date(period.endsAt))).sort(byRank);
    return totals.slice(0, limit).map(([pairId, coins], i) => ({ rank: i + 1, pairId, coins }));
  }

  /** Drops the week's board so the next read rebuilds it from PostgreSQL. */
  async invalidate(period: Period): Promise<void> {
    await this.boards.invalidate([cpBoardKeys(period).marker]);
  }

  private async rebuild(period: Period, keys: BoardKeys, token: string): Promise<boolean> {
    const totals = await this.records.weeklyTotals(new Date(period.startsAt), new Date(period.endsAt));
    const ttlMs = Math.max(keptUntil(period) - this.now(), 60_000);
    if (!(await this.boards.fill(keys, token, totals, ttlMs))) return false;
    if (!(await this.boards.finish(keys, token, ttlMs))) return false;
    this.options.logger?.info({ period: period.id, pairs: totals.length }, 'weekly CP board rebuilt from PostgreSQL');
    return true;
  }
}
