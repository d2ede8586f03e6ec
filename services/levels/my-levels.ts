import type { DataSource } from 'typeorm';
import { LevelTotals } from '../../db/repositories/level-totals';
import { AppError, ErrorCode } from '../../domain/errors';
import { progressOf, type LevelProgress } from '../../domain/levels/levels';

export interface MyLevels {
  wealth: LevelProgress;
  charm: LevelProgress;
  giftsSent: number;
}

/** GET /v1/me/levels: each track's level, total, next threshold and progress. */
export async function myLevels(dataSource: DataSource, userId: string): Promise<MyLevels> {
  const totals = await new LevelTotals().of(dataSource.manager, userId);
  if (!totals) throw new AppError(ErrorCode.UserNotFound, 'the signed-in user does not exist');
  // The same table the send stored users.wealth_level / charm_level by, so the two agree.
  return { wealth: progressOf('wealth', totals.coinsSpent), charm: progressOf('charm', totals.diamondsReceived), giftsSent: totals.giftsSent };
}
