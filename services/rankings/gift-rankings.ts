import { randomUUID } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import { boardKeys, type RankingBoards, type BoardIncrement, type BoardKeys, type BoardView, type RankedEntry } from '../../db/live/ranking-boards';
import { byRank, type BoardTotals, type GiftRankingTotals } from '../../db/repositories/gift-ranking-totals';
import { keptUntil, type Period } from '../../domain/economy/ranking-periods';
import { boardHasPeriod, boardName, rankingChanges, RANKING_TOP_MAX, type Board, type RankedReceipt } from '../../domain/economy/rankings';
import type { Logger } from '../../platform/logging';

export type { BoardView, RankedEntry } from '../../db/live/ranking-boards';

export interface GiftRankingsOptions {
  clock?: () => number;
  registry?: Registry;
  logger?: Logger;
  /** How long a rebuild holds its lock (PostgreSQL's statement timeout is 5 s). */
  lockMs?: number;
  /** How long a reader that lost the rebuild lock waits for the board before reading PostgreSQL itself. */
  waitForBuildMs?: number;
  /** How often markers of boards a failed write left wrong are retried. */
  staleRetryMs?: number;
}

const POLL_MS = 20;

function counter(registry: Registry | undefined, name: string, help: string, labelNames: string[]): Counter<string> {
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Counter<string>;
  return new Counter({ name, help, labelNames, registers: registry ? [registry] : [] });
}

/**
 * Gift rankings: wealth (coins spent), charm (diamonds received) and room contribution (coins
 * spent in a room), per UTC day, ISO week and month, as Redis sorted sets that PostgreSQL's
 * gift_receipts can always rebuild (see db/live/ranking-boards.ts for the keys and their states).
 *
 * Writes (`record`, `subtract`) are on the gift send's hot path: one pipelined round trip, and they
 * never throw. When one fails, the boards it touched may be wrong: their markers are dropped as
 * soon as Redis answers again (retried from an in-process set), so the next read rebuilds them.
 *
 * Reads rebuild a board whose marker is missing, one reader at a time (the marker is the lock);
 * the others wait briefly for it, then read PostgreSQL themselves.
 *
 * Rebuild versus concurrent increments: the lock is taken before PostgreSQL is read, and from
 * then on increments go to the rebuild's side set, which also receives PostgreSQL's totals; the
 * side set replaces the board at the end. So an increment is never lost. The residual window is
 * a double count: a receipt committed before the rebuild's query started but recorded after the
 * lock was taken (i.e. its `record` call ran within a few milliseconds of the lock) is counted
 * both by the query and by its increment. Likewise a reversal in that window is subtracted twice.
 * The window is the gap between one Redis round trip and the query's snapshot; the next rebuild
 * (at the latest when the keys expire) corrects it.
 *
 * Ties: equal scores are ordered by user id, descending (Redis's ZREVRANGE order), so a page is
 * stable between reads.
 */
export class GiftRankings {
  private readonly clock: () => number;
  private readonly lockMs: number;
  private readonly waitForBuildMs: number;
  private readonly staleRetryMs: number;
  /** Markers of boards a failed write may have left wrong, to drop once Redis answers (value: a failure count, see dropStaleMarkers). */
  private readonly stale = new Map<string, number>();
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly writeFailures: Counter<string>;
  private readonly rebuilds: Counter<string>;

  constructor(
    private readonly boards: RankingBoards,
    private readonly totals: GiftRankingTotals,
    private readonly options: GiftRankingsOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
    this.lockMs = options.lockMs ?? 10_000;
    this.waitForBuildMs = options.waitForBuildMs ?? 1_000;
    this.staleRetryMs = options.staleRetryMs ?? 1_000;
    this.writeFailures = counter(options.registry, 'aura_ranking_write_failures_total', 'Ranking writes that failed (the boards they touched are rebuilt)', ['op']);
    this.rebuilds = counter(options.registry, 'aura_ranking_rebuilds_total', 'Ranking boards read from PostgreSQL, by how (rebuilt into Redis, or read directly by a reader that could not wait)', ['how']);
  }

  /** After a gift send commits: adds its receipts to every board they count in. Never throws. */
  record(receipts: readonly RankedReceipt[]): Promise<void> {
    return this.write(receipts, 1, 'record');
  }

  /** After receipts are reversed (clawback, rejected review): takes them off every board. Never throws. */
  subtract(receipts: readonly RankedReceipt[]): Promise<void> {
    return this.write(receipts, -1, 'subtract');
  }

  /** The top `limit` (at most 100). */
  async top(board: Board, period: Period, limit: number = RANKING_TOP_MAX): Promise<RankedEntry[]> {
    return (await this.view(board, period, { limit })).top;
  }

  /** A user's rank (1-based) and score, or null when they are not on the board. */
  async rankOf(board: Board, period: Period, userId: string): Promise<{ rank: number; score: number } | null> {
    return (await this.view(board, period, { limit: 0, userId, radius: 0 })).me;
  }

  /** The entries from `radius` above the user to `radius` below (the user included); empty when not on the board. */
  async around(board: Board, period: Period, userId: string, radius: number): Promise<RankedEntry[]> {
    return (await this.view(board, period, { limit: 0, userId, radius })).around;
  }

  /** Top, me and around in one read (what the ranking screen shows). */
  async view(board: Board, period: Period, options: { limit: number; userId?: string; radius?: number }): Promise<BoardView> {
    if (!boardHasPeriod(board, period.kind)) throw new Error(`the ${board.kind} board has no ${period.kind} period`);
    const query = { limit: Math.min(Math.max(options.limit, 0), RANKING_TOP_MAX), userId: options.userId, radius: Math.max(options.radius ?? 0, 0) };
    const keys = boardKeys(board, period);
    await this.dropStaleMarkers();
    const built = await this.boards.read(keys, query);
    if (built) return built;

    const deadline = this.clock() + this.waitForBuildMs;
    const token = randomUUID();
    for (;;) {
      const lock = await this.boards.begin(keys, token, this.lockMs);
      if (lock === 'mine') {
        // Read back what the board now holds: PostgreSQL's totals plus increments that landed meanwhile.
        if (await this.rebuild(board, period, keys, token)) {
          const view = await this.boards.read(keys, query);
          if (view) return view;
        }
      } else if (lock === 'built') {
        const view = await this.boards.read(keys, query);
        if (view) return view;
      }
      if (this.clock() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    this.rebuilds.inc({ how: 'direct' });
    return viewOf(await this.totals.totals(board, period), query);
  }

  /** Stops retrying stale markers (process shutdown). */
  close(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private async write(receipts: readonly RankedReceipt[], sign: 1 | -1, op: string): Promise<void> {
    const now = this.clock();
    const increments: BoardIncrement[] = [];
    for (const change of rankingChanges(receipts, sign)) {
      const ttlMs = keptUntil(change.period) - now;
      if (ttlMs <= 0) continue; // a board nobody keeps any more
      increments.push({ keys: boardKeys(change.board, change.period), deltas: change.deltas, ttlMs });
    }
    if (increments.length === 0) return;
    try {
      await this.dropStaleMarkers();
      await this.boards.apply(increments);
    } catch (err) {
      this.writeFailures.inc({ op });
      const wasClean = this.stale.size === 0;
      for (const { keys } of increments) this.stale.set(keys.marker, (this.stale.get(keys.marker) ?? 0) + 1);
      if (wasClean) this.options.logger?.warn({ err, op }, 'ranking write failed: the boards it touched will be rebuilt from PostgreSQL once Redis answers');
      this.scheduleRetry();
    }
  }

  /** Rebuilds a board from PostgreSQL under the lock `token` holds; false if the lock was lost meanwhile. */
  private async rebuild(board: Board, period: Period, keys: BoardKeys, token: string): Promise<boolean> {
    const totals = await this.totals.totals(board, period);
    const ttlMs = Math.max(keptUntil(period) - this.clock(), 60_000);
    if (!(await this.boards.fill(keys, token, totals, ttlMs))) return false;
    if (!(await this.boards.finish(keys, token, ttlMs))) return false;
    this.rebuilds.inc({ how: 'rebuilt' });
    this.options.logger?.info({ board: boardName(board), period: period.id, members: totals.length }, 'ranking board rebuilt from PostgreSQL');
    return true;
  }

  private async dropStaleMarkers(): Promise<void> {
    if (this.stale.size === 0) return;
    const seen = [...this.stale];
    await this.boards.invalidate(seen.map(([marker]) => marker));
    // A write that failed again meanwhile may have failed after the DEL: keep its marker for the next round.
    for (const [marker, failures] of seen) if (this.stale.get(marker) === failures) this.stale.delete(marker);
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.dropStaleMarkers().catch(() => this.scheduleRetry());
    }, this.staleRetryMs);
    this.retryTimer.unref();
  }
}

type ViewQuery = { limit: number; userId?: string; radius: number };

/** The same view, computed from PostgreSQL's totals (a reader that could not wait for a rebuild). */
function viewOf(totals: BoardTotals, query: ViewQuery): BoardView {
  const sorted = [...totals].sort(byRank);
  const entry = (i: number): RankedEntry => ({ rank: i + 1, userId: sorted[i]![0], score: sorted[i]![1] });
  const top = sorted.slice(0, query.limit).map((_, i) => entry(i));
  const index = query.userId === undefined ? -1 : sorted.findIndex(([member]) => member === query.userId);
  if (index < 0) return { top, me: null, around: [] };
  const first = Math.max(0, index - query.radius);
  const around = sorted.slice(first, index + query.radius + 1).map((_, i) => entry(first + i));
  return { top, me: { rank: index + 1, score: sorted[index]![1] }, around };
}
