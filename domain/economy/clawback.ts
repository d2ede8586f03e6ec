/**
 * Which open gifts a voided purchase takes back. Coins spent after a purchase are taken to come
 * from it first, so the buyer's gifts sent since the purchase are reversed oldest first for as
 * long as their coins still fit within the purchase. A receipt is reversed whole or not at all;
 * the first that does not fit ends the run (later, smaller gifts are not picked around it: they
 * were paid after it, so they came from other coins). What the reversals do not cover is clawed
 * back from the balance, and what the balance cannot cover becomes coins owed.
 */
export interface OpenSentReceipt {
  id: string;
  coins: number;
  /** Epoch ms. */
  createdAt: number;
}

export function receiptsFundedByPurchase<T extends OpenSentReceipt>(receipts: readonly T[], purchaseCoins: number): T[] {
  const oldestFirst = [...receipts].sort((a, b) => a.createdAt - b.createdAt || compareIds(a.id, b.id));
  const picked: T[] = [];
  let sum = 0;
  for (const receipt of oldestFirst) {
    if (sum + receipt.coins > purchaseCoins) break;
    sum += receipt.coins;
    picked.push(receipt);
  }
  return picked;
}

/** Receipt ids are bigint identities carried as decimal strings. */
function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
