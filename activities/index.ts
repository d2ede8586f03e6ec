import { createDailyRewardActivities, type DailyRewardActivityDeps } from './daily-reward';

export type ActivityDeps = DailyRewardActivityDeps;

/** Every activity the worker registers, bound to its I/O dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDailyRewardActivities(deps),
  };
}
