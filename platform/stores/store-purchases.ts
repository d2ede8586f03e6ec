/**
 * What the recharge and voided-purchase activities need from an app store: read a one-time
 * purchase, consume it once credited, and page through refunds and chargebacks. One attempt per
 * call; retrying is the caller's job (Temporal's activity retry policy). Implementation: Google
 * Play's Developer API (`google-play.ts`).
 */
export interface StorePurchases {
  getProductPurchase(productId: string, purchaseToken: string, options?: { signal?: AbortSignal }): Promise<ProductPurchase>;
  consumeProductPurchase(productId: string, purchaseToken: string, options?: { signal?: AbortSignal }): Promise<void>;
  listVoidedPurchases(query: VoidedPurchasesQuery, options?: { signal?: AbortSignal }): Promise<VoidedPurchasesPage>;
}

/** Google's `purchaseState`. */
export const PurchaseState = { Purchased: 0, Canceled: 1, Pending: 2 } as const;
/** Google's `consumptionState`. */
export const ConsumptionState = { NotConsumed: 0, Consumed: 1 } as const;
/** Google's `acknowledgementState`. */
export const AcknowledgementState = { NotAcknowledged: 0, Acknowledged: 1 } as const;

/**
 * A one-time product purchase as Google sends it (`androidpublisher#productPurchase`): int64
 * fields are decimal strings, int32 fields numbers. Fields Google may omit stay optional,
 * except `quantity`, which Google documents as 1 when absent.
 */
export interface ProductPurchase {
  kind: string;
  purchaseTimeMillis: string;
  purchaseState: 0 | 1 | 2;
  consumptionState: 0 | 1;
  acknowledgementState: 0 | 1;
  orderId?: string;
  /** Set only for test (0), promo (1) and rewarded (2) purchases; absent for a real payment. */
  purchaseType?: number;
  quantity: number;
  /** What the app passed to the billing flow: for us, the buyer's account key. The caller decides. */
  obfuscatedExternalAccountId?: string;
  obfuscatedExternalProfileId?: string;
  regionCode?: string;
}

export interface VoidedPurchasesQuery {
  /** Voided at or after this time (Google keeps 30 days). */
  startTimeMillis: number;
  /** `tokenPagination.nextPageToken` of the previous page. */
  pageToken?: string;
  /** At most 1000 (Google's default and maximum). */
  maxResults?: number;
}

/** A refunded, cancelled or charged-back purchase (`androidpublisher#voidedPurchase`). */
export interface VoidedPurchase {
  kind: string;
  purchaseToken: string;
  orderId?: string;
  purchaseTimeMillis: string;
  voidedTimeMillis: string;
  /** 0 user, 1 developer, 2 Google. */
  voidedSource: number;
  /** 0 other, 1 remorse, 2 not received, 3 defective, 4 accidental purchase, 5 fraud, 6 friendly fraud, 7 chargeback, ... */
  voidedReason: number;
  /** Only for a quantity-based partial refund. */
  voidedQuantity?: number;
}

export interface VoidedPurchasesPage {
  voidedPurchases: VoidedPurchase[];
  tokenPagination?: { nextPageToken: string };
}

/** Why the store refused: stable codes callers branch on. */
export type StoreRefusalReason =
  /** 400 on a read: the token is malformed or not one of this app's. */
  | 'INVALID_PURCHASE_TOKEN'
  /** 400 on a consume: already consumed, or not in a consumable state. */
  | 'NOT_CONSUMABLE'
  /** 400 on another request (a bad voided-list query). */
  | 'INVALID_REQUEST'
  | 'PURCHASE_NOT_FOUND'
  /** 410: the purchase no longer exists at the store. */
  | 'PURCHASE_GONE';

/** A permanent answer about this purchase or request: retrying will not change it. */
export class StoreRefusal extends Error {
  override name = 'StoreRefusal';

  constructor(
    readonly reason: StoreRefusalReason,
    readonly status: number,
    /** The store's own reason (Google's `error.errors[0].reason`), for logs and support. */
    readonly providerReason?: string,
  ) {
    super(`store refused the request: ${reason} (${status}${providerReason ? `, ${providerReason}` : ''})`);
  }
}

/** The store is down, slow, overloaded or refused our credentials: worth another attempt later (by Temporal). */
export class TransientStoreError extends Error {
  override name = 'TransientStoreError';
}
