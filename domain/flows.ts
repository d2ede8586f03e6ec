import { defineSearchAttributeKey } from '@temporalio/common';

/**
 * Search attributes every flow carries, defined once and registered on every Temporal
 * server the project starts. They are shown unencoded in the Web UI: never personal data.
 */
export const SearchAttribute = {
  UserId: defineSearchAttributeKey('UserId', 'KEYWORD'),
  FlowKind: defineSearchAttributeKey('FlowKind', 'KEYWORD'),
} as const;

/** `name=Type` pairs, as `temporal server start-dev --search-attribute` takes them. */
export const searchAttributeRegistrations = ['UserId=Keyword', 'FlowKind=Keyword'] as const;

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
} as const;
export type FlowKind = (typeof FlowKind)[keyof typeof FlowKind];

/** One task queue for now; a capability that needs its own scaling gets its own queue. */
export const DEFAULT_TASK_QUEUE = 'aura-main';
