// The workflow bundle's entry: every workflow type the worker registers.
export { dailyRewardWorkflow } from './daily-reward/workflow';
export { otpWorkflow } from './otp/workflow';
export { giftFraudScanWorkflow } from './gift-fraud/workflow';
export { giftSettlementDispatchWorkflow, giftSettlementWorkflow } from './gift-settlement/workflow';
export { rechargeWorkflow } from './recharge/workflow';
export { voidedPurchasesWorkflow } from './recharge/voided';
export { statusRecheckWorkflow } from './status-recheck/workflow';
export { referralWorkflow } from './referral/workflow';
export { vipWorkflow } from './vip/workflow';
export { vipExpirySweepWorkflow } from './vip/sweep';
export { cpProposalWorkflow } from './cp-proposal/workflow';
