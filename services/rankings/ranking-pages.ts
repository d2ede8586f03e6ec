import type { RoomDirectory } from '../../db/repositories/rooms';
import type { UserDirectory } from '../../db/repositories/users';
import { AppError, ErrorCode } from '../../domain/errors';
import { choosePeriod, type PeriodKind } from '../../domain/economy/ranking-periods';
import { boardName, RANKING_AROUND_RADIUS, type Board } from '../../domain/economy/rankings';
import type { GiftRankings, RankedEntry } from './gift-rankings';

export interface RankingPageEntry extends RankedEntry {
  displayName: string | null;
}

/** What a ranking screen shows: the board, its period, the top, the viewer's place and neighbours. */
export interface RankingPage {
  board: string;
  period: { kind: PeriodKind; id: string; startsAt: string; endsAt: string };
  top: RankingPageEntry[];
  me: { rank: number; score: number } | null;
  around: RankingPageEntry[];
}

/** Ranking pages for the API: the period a query names, the board, and display names in one batch. */
export class RankingPages {
  private readonly clock: () => number;

  constructor(private readonly deps: { rankings: GiftRankings; users: UserDirectory; rooms: RoomDirectory; clock?: () => number }) {
    this.clock = deps.clock ?? Date.now;
  }

  async page(board: Board, query: { period: PeriodKind; at?: string; limit: number }, viewerId: string): Promise<RankingPage> {
    const chosen = choosePeriod(query.period, query.at, this.clock());
    if (!chosen.ok) throw new AppError(ErrorCode.ValidationFailed, 'the request is not valid', [{ path: 'at', message: chosen.problem }]);
    if (board.kind === 'room' && !(await this.deps.rooms.findById(board.roomId))) {
      throw new AppError(ErrorCode.RoomNotFound, 'no such room');
    }
    const { period } = chosen;
    const view = await this.deps.rankings.view(board, period, { limit: query.limit, userId: viewerId, radius: RANKING_AROUND_RADIUS });
    const names = await this.deps.users.displayNames([...view.top, ...view.around].map((e) => e.userId));
    const named = (e: RankedEntry): RankingPageEntry => ({ ...e, displayName: names.get(e.userId) ?? null });
    return {
      board: boardName(board),
      period: { kind: period.kind, id: period.id, startsAt: new Date(period.startsAt).toISOString(), endsAt: new Date(period.endsAt).toISOString() },
      top: view.top.map(named),
      me: view.me,
      around: view.around.map(named),
    };
  }
}
