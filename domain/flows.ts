import { defineSearchAttributeKey } from '@temporalio/common';

/**
 * Search attributes every flow carries, defined once and registered on every Temporal
 * server the project starts. They are shown unencoded in the Web UI: never personal data.
 */
export const SearchAttribute = {
  UserId: defineSearchAttributeKey('UserId', 'KEYWORD'),
  FlowKind: defineSearchAttributeKey('FlowKind', 'KEYWORD'),
  /** When a user's VIP ends (their `vip:<userId>` flow keeps it current): support searches by it. */
  VipExpiresAt: defineSearchAttributeKey('VipExpiresAt', 'DATETIME'),
} as const;

/** `name=Type` pairs, as `temporal server start-dev --search-attribute` takes them. */
export const searchAttributeRegistrations = ['UserId=Keyword', 'FlowKind=Keyword', 'VipExpiresAt=Datetime'] as const;

export const FlowKind = {
  DailyReward: 'daily-reward',
  PhoneOtp: 'phone-otp',
  GiftFraudScan: 'gift-fraud-scan',
  /** One flow per receiver and UTC day of receipt: pending diamonds → available. */
  GiftSettlement: 'gift-settlement',
  /** The scheduled run that starts the day's settlement flows. */
  GiftSettlementDispatch: 'gift-settlement-dispatch',
  StoreRecharge: 'store-recharge',
  StoreVoidedPurchases: 'store-voided-purchases',
  /** One flow per user (`vip:<userId>`): the VIP expiry timer and its reminders. */
  Vip: 'vip',
  /** The scheduled repair: VIP flows that missed an expiry (a lost purchase signal) are signalled again. */
  VipExpirySweep: 'vip-expiry-sweep',
  /** One flow per referred user (`referral:<refereeId>`): milestones within a window, each paid once. */
  Referral: 'referral',
  /** One flow per CP proposal (`cp-proposal:<proposalId>`): the ring's coins held until answered. */
  CpProposal: 'cp-proposal',
  /** The scheduled re-check of levels and medals (level-ups and awards a lost event left behind). */
  StatusRecheck: 'status-recheck',
} as const;
export type FlowKind = (typeof FlowKind)[keyof typeof FlowKind];

/** One task queue for now; a capability that needs its own scaling gets its own queue. */
export const DEFAULT_TASK_QUEUE = 'aura-main';
