import { ErrorCode } from '../errors';

/**
 * Store recharges: the rules shared by the API, the recharge flow and its activities.
 */

export type StoreName = 'google-play';
export type PurchaseRecordState = 'verifying' | 'credited' | 'consumed' | 'refused' | 'voided';

/**
 * A Google Play purchase token as the app hands it over: an opaque string Google documents
 * only loosely; in practice letters, digits, dots, underscores and dashes, well under 1000
 * characters. Anything else is refused before it is stored or sent to Google.
 */
export const PURCHASE_TOKEN_PATTERN = /^[A-Za-z0-9._-]{10,1000}$/;
/** A Play Console product id. */
export const PRODUCT_ID_PATTERN = /^[a-z0-9][a-z0-9._]{0,63}$/;

/** Why a purchase was refused: permanent answers, stored so a replay answers the same. */
export const RECHARGE_REFUSALS = [
  ErrorCode.ProductUnknown,
  ErrorCode.PurchaseInvalid,
  ErrorCode.PurchaseNotCompleted,
  ErrorCode.PurchaseOtherAccount,
  ErrorCode.PurchaseAlreadyConsumed,
  ErrorCode.StoreUnavailable,
] as const;
export type RechargeRefusal = (typeof RECHARGE_REFUSALS)[number];

export function isRechargeRefusal(code: unknown): code is RechargeRefusal {
  return (RECHARGE_REFUSALS as readonly unknown[]).includes(code);
}

/** `recharge:<first 32 hex of the token's SHA-256>`: one flow per purchase, no secret in the id. */
export function rechargeWorkflowId(tokenHash: string): string {
  return `recharge:${tokenHash.slice(0, 32)}`;
}

/** The credit's ledger key: once per store order, whatever token or retry brings it. */
export function rechargeCreditKey(store: StoreName, orderId: string): string {
  return `recharge:${store}:${orderId}`;
}

/** The clawback's ledger key after the store voided the order. */
export function voidClawbackKey(store: StoreName, orderId: string): string {
  return `void:${store}:${orderId}`;
}

/**
 * How long the flow keeps asking a store that is down before giving up: Google refunds a
 * purchase nobody acknowledged within 3 days, so past that there is nothing left to credit.
 */
export const VERIFY_PATIENCE_MS = 3 * 24 * 3_600_000 - 3_600_000;

/** The wait before the n-th (1-based) round of attempts after a failed round: 1 min, doubling, at most 1 h. */
export function retryRoundWaitMs(round: number): number {
  return Math.min(60_000 * 2 ** Math.max(0, round - 1), 3_600_000);
}

/** What a purchase is worth: the package times the quantity bought. */
export function rechargeCoins(pkg: { coins: number; bonusCoins: number }, quantity: number): { coins: number; bonusCoins: number } {
  return { coins: pkg.coins * quantity, bonusCoins: pkg.bonusCoins * quantity };
}
