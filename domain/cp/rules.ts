/**
 * CP (couple) rules shared by the API, the cp-proposal flow and its activities. Pure.
 *
 * - A proposal escrows the ring's price from the proposer (`cp_escrow`, key cp:<id>:escrow).
 * - Accepted: the pair forms and the escrowed coins become a gift from the proposer to the
 *   addressee (a gift_sends row whose debit is the escrow entry, and a pending receipt).
 * - Declined, expired, withdrawn or cancelled: the coins come back (`cp_refund`, key
 *   cp:<id>:refund), exactly once.
 * - Break-up: whoever ends the pair pays the fee (`cp_breakup_fee`, key cp:<pairId>:breakup-fee;
 *   none when the fee is 0), and neither partner may pair again for the cooldown after it ended.
 */

export const CP_RING_CATEGORY = 'cp';
export const CP_DEFAULT_RING_GIFT = 'cp-ring';

export const CP_PROPOSAL_STATES = ['pending', 'accepted', 'declined', 'expired', 'withdrawn', 'cancelled'] as const;
export type CpProposalState = (typeof CP_PROPOSAL_STATES)[number];
/** A proposal closed without a pair: its escrow was refunded. */
export type CpRefundedState = Exclude<CpProposalState, 'pending' | 'accepted'>;

export function cpProposalWorkflowId(proposalId: string): string {
  return `cp-proposal:${proposalId}`;
}

export const cpLedgerKeys = {
  escrow: (proposalId: string) => `cp:${proposalId}:escrow`,
  refund: (proposalId: string) => `cp:${proposalId}:refund`,
  breakupFee: (pairId: string) => `cp:${pairId}:breakup-fee`,
};

/** A pair's two users in the order cp_pairs keeps them (user_a < user_b). */
export function orderedPair(one: string, other: string): { userA: string; userB: string } {
  return one < other ? { userA: one, userB: other } : { userA: other, userB: one };
}

/** A gift may be a ring when it is in the CP category of the catalog. */
export function isRingGift(gift: { categoryId: string }): boolean {
  return gift.categoryId === CP_RING_CATEGORY;
}

const DAY_MS = 86_400_000;

/** When a user who last left a pair at `endedAt` may pair again (null: now). */
export function cooldownEndsAt(endedAt: Date | null, cooldownDays: number, nowMs: number): Date | null {
  if (!endedAt || cooldownDays <= 0) return null;
  const ends = endedAt.getTime() + cooldownDays * DAY_MS;
  return ends > nowMs ? new Date(ends) : null;
}

/** The flow's one-line summary for support (states and amounts, no names). */
export function summarizeCpProposal(p: { state: CpProposalState | 'accepting' | 'refunding'; coins: number; ringGiftId: string; expiresAt: string; reason?: string | null }): string {
  const head = `cp proposal, ${p.ringGiftId} (${p.coins} coins in escrow)`;
  switch (p.state) {
    case 'pending':
      return `${head}: waiting for an answer until ${p.expiresAt}`;
    case 'accepting':
      return `${head}: accepted, forming the pair`;
    case 'refunding':
      return `${head}: closing, refunding the escrow${p.reason ? ` (${p.reason})` : ''}`;
    case 'accepted':
      return `${head}: accepted, the pair formed and the coins became a gift`;
    default:
      return `${head}: ${p.state}${p.reason ? ` (${p.reason})` : ''}, escrow refunded`;
  }
}
