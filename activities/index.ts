import { createDailyRewardActivities, type DailyRewardActivityDeps } from './daily-reward';
import { createGiftFraudActivities, type GiftFraudActivityDeps } from './gift-fraud';
import { createOtpActivities, type OtpActivityDeps } from './otp';

export type ActivityDeps = DailyRewardActivityDeps & OtpActivityDeps & GiftFraudActivityDeps;

/** Every activity the worker registers, bound to its I/O dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDailyRewardActivities(deps),
    ...createOtpActivities(deps),
    ...createGiftFraudActivities(deps),
  };
}
