import { periodAt, type Period, type PeriodKind } from './ranking-periods';

/**
 * Gift rankings: what each board counts, over which periods, and what a set of gift receipts
 * adds to them. Pure; the boards themselves live in Redis and are rebuilt from gift_receipts.
 *
 * - wealth: coins a user spent on gifts (sum of receipt coins by sender), daily/weekly/monthly;
 * - charm: diamonds a user received (sum of receipt diamonds by receiver), daily/weekly/monthly;
 * - room contribution: coins a user spent on gifts in one room, daily/weekly.
 * Reversed receipts (clawbacks, rejected reviews) count for nothing.
 */
export type Board = { kind: 'wealth' } | { kind: 'charm' } | { kind: 'room'; roomId: string };

export const BOARD_PERIODS: { wealth: readonly PeriodKind[]; charm: readonly PeriodKind[]; room: readonly PeriodKind[] } = {
  wealth: ['daily', 'weekly', 'monthly'],
  charm: ['daily', 'weekly', 'monthly'],
  room: ['daily', 'weekly'],
};

/** Entries a ranking page shows at most, and how many neighbours either side of "me". */
export const RANKING_TOP_MAX = 100;
export const RANKING_AROUND_RADIUS = 5;

/** `wealth`, `charm` or `room:<roomId>`: the board's name in keys and answers. */
export function boardName(board: Board): string {
  return board.kind === 'room' ? `room:${board.roomId}` : board.kind;
}

export function boardHasPeriod(board: Board, kind: PeriodKind): boolean {
  return BOARD_PERIODS[board.kind].includes(kind);
}

/** What one gift receipt counts for (its row in gift_receipts). */
export interface RankedReceipt {
  senderId: string;
  receiverId: string;
  /** Null for a gift given outside any room (a CP ring): it counts on no room's board. */
  roomId: string | null;
  coins: number;
  diamonds: number;
  /** The receipt's created_at: the periods it counts in. */
  at: Date | number;
}

/** The changes to one board in one period: member → signed score change. */
export interface BoardChange {
  board: Board;
  period: Period;
  deltas: Map<string, number>;
}

/**
 * What receipts add to every board they touch (sign -1: what their reversal takes away), merged
 * per board, period and member so a burst of gifts is one increment per member and board.
 * Zero amounts (a gift worth no diamonds) change nothing and are left out.
 */
export function rankingChanges(receipts: readonly RankedReceipt[], sign: 1 | -1 = 1): BoardChange[] {
  const changes = new Map<string, BoardChange>();
  const add = (board: Board, kind: PeriodKind, atMs: number, member: string, amount: number) => {
    if (amount === 0) return;
    const period = periodAt(kind, atMs);
    const key = `${boardName(board)}|${period.id}`;
    let change = changes.get(key);
    if (!change) changes.set(key, (change = { board, period, deltas: new Map() }));
    change.deltas.set(member, (change.deltas.get(member) ?? 0) + sign * amount);
  };
  for (const r of receipts) {
    const atMs = typeof r.at === 'number' ? r.at : r.at.getTime();
    for (const kind of BOARD_PERIODS.wealth) add({ kind: 'wealth' }, kind, atMs, r.senderId, r.coins);
    for (const kind of BOARD_PERIODS.charm) add({ kind: 'charm' }, kind, atMs, r.receiverId, r.diamonds);
    if (r.roomId === null) continue;
    const room: Board = { kind: 'room', roomId: r.roomId };
    for (const kind of BOARD_PERIODS.room) add(room, kind, atMs, r.senderId, r.coins);
  }
  return [...changes.values()];
}
