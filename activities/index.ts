import { createCpActivities, type CpActivityDeps } from './cp';
import { createDailyRewardActivities, type DailyRewardActivityDeps } from './daily-reward';
import { createGiftFraudActivities, type GiftFraudActivityDeps } from './gift-fraud';
import { createGiftSettlementActivities, type GiftSettlementActivityDeps } from './gift-settlement';
import { createOtpActivities, type OtpActivityDeps } from './otp';
import { createRechargeActivities, type RechargeActivityDeps } from './recharge';
import { createReferralActivities, type ReferralActivityDeps } from './referral';
import { createStatusRecheckActivities, type StatusRecheckActivityDeps } from './status-recheck';
import { createVipActivities, type VipActivityDeps } from './vip';

export type ActivityDeps = DailyRewardActivityDeps & OtpActivityDeps & GiftFraudActivityDeps & GiftSettlementActivityDeps & RechargeActivityDeps & StatusRecheckActivityDeps & ReferralActivityDeps & VipActivityDeps & CpActivityDeps;

/** Every activity the worker registers, bound to its I/O dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDailyRewardActivities(deps),
    ...createOtpActivities(deps),
    ...createGiftFraudActivities(deps),
    ...createGiftSettlementActivities(deps),
    ...createRechargeActivities(deps),
    ...createStatusRecheckActivities(deps),
    ...createReferralActivities(deps),
    ...createVipActivities(deps),
    ...createCpActivities(deps),
  };
}
