import { cooldownEndsAt, cpLedgerKeys, cpProposalWorkflowId, isRingGift, orderedPair, summarizeCpProposal } from './rules';

describe('CP rules', () => {
  it('names the flow and the ledger keys after the proposal and the pair', () => {
    expect(cpProposalWorkflowId('p1')).toBe('cp-proposal:p1');
    expect(cpLedgerKeys.escrow('p1')).toBe('cp:p1:escrow');
    expect(cpLedgerKeys.refund('p1')).toBe('cp:p1:refund');
    expect(cpLedgerKeys.breakupFee('x')).toBe('cp:x:breakup-fee');
  });

  it('orders a pair as cp_pairs keeps it', () => {
    expect(orderedPair('b', 'a')).toEqual({ userA: 'a', userB: 'b' });
    expect(orderedPair('a', 'b')).toEqual({ userA: 'a', userB: 'b' });
  });

  it('takes rings from the CP category only', () => {
    expect(isRingGift({ categoryId: 'cp' })).toBe(true);
    expect(isRingGift({ categoryId: 'popular' })).toBe(false);
  });

  it('ends a cooldown the given number of days after the pair ended', () => {
    const ended = new Date('2026-03-01T10:00:00Z');
    const now = Date.parse('2026-03-05T10:00:00Z');
    expect(cooldownEndsAt(ended, 7, now)).toEqual(new Date('2026-03-08T10:00:00Z'));
    expect(cooldownEndsAt(ended, 4, now)).toBeNull(); // ended exactly now
    expect(cooldownEndsAt(ended, 0, now)).toBeNull();
    expect(cooldownEndsAt(null, 7, now)).toBeNull();
  });

  it('summarises a proposal without personal data', () => {
    const base = { coins: 520, ringGiftId: 'cp-ring', expiresAt: '2026-03-02T10:00:00.000Z' };
    expect(summarizeCpProposal({ ...base, state: 'pending' })).toBe('cp proposal, cp-ring (520 coins in escrow): waiting for an answer until 2026-03-02T10:00:00.000Z');
    expect(summarizeCpProposal({ ...base, state: 'cancelled', reason: 'PARTNER_TAKEN' })).toContain('cancelled (PARTNER_TAKEN), escrow refunded');
    expect(summarizeCpProposal({ ...base, state: 'accepted' })).toContain('the pair formed');
  });
});
