import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { Ledger } from '../../db/repositories/ledger';
import { decodeCursor, pageLimit, toPage, type Page } from '../../db/repositories/pagination';
import { AppError, ErrorCode } from '../../domain/errors';
import { quoteExchange, type ExchangeRate } from '../../domain/economy/exchange';
import { fingerprint, type ReplayableRequests, type StoredResponse } from '../idempotency/replayable-requests';

export interface WalletView {
  coins: number;
  /** Diamonds that can be exchanged now. */
  diamonds: number;
  /** Diamonds from gifts still in their hold (or held for review); they settle later. */
  diamondsPending: number;
  /** Of those, held for review by anti-fraud. */
  diamondsHeld: number;
  /** Coins owed after a refunded purchase; recovered from the next credits. Gifting waits for 0. */
  coinsOwed: number;
}

export interface WalletTransaction {
  id: string;
  kind: string;
  currency: 'coins' | 'diamonds' | 'coins_owed';
  amount: number;
  balanceAfter: number;
  /** What caused it: the gift send, purchase order, claim date... as the entry recorded it. */
  cause: Record<string, unknown>;
  createdAt: string;
}

interface EntryRow {
  id: string;
  currency: WalletTransaction['currency'];
  amount: string;
  balance_after: string;
  reason: string;
  metadata: Record<string, unknown>;
  created_at: Date;
}

/** The signed-in user's money: balances, history, and exchanging diamonds for coins. */
export class WalletService {
  private readonly ledger: Ledger;

  constructor(
    private readonly deps: { dataSource: DataSource; requests: ReplayableRequests; exchangeRate: ExchangeRate },
  ) {
    this.ledger = new Ledger(deps.dataSource);
  }

  async view(userId: string): Promise<WalletView> {
    const rows = (await this.deps.dataSource.query(
      `SELECT w.coins, w.diamonds, w.coins_owed,
              COALESCE((SELECT SUM(diamonds) FROM gift_receipts WHERE receiver_id = $1 AND state IN ('pending', 'held')), 0) AS pending,
              COALESCE((SELECT SUM(diamonds) FROM gift_receipts WHERE receiver_id = $1 AND state = 'held'), 0) AS held
         FROM wallets w WHERE w.user_id = $1`,
      [userId],
    )) as { coins: string; diamonds: string; coins_owed: string; pending: string; held: string }[];
    const row = rows[0];
    if (!row) throw new AppError(ErrorCode.UserNotFound, 'the signed-in user has no wallet');
    return {
      coins: Number(row.coins),
      diamonds: Number(row.diamonds),
      diamondsPending: Number(row.pending),
      diamondsHeld: Number(row.held),
      coinsOwed: Number(row.coins_owed),
    };
  }

  /** Newest first, keyset-paginated by entry id. */
  async transactions(userId: string, page: { cursor?: string; limit: number; currency?: WalletTransaction['currency'] }): Promise<Page<WalletTransaction>> {
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, ['bigint']);
    const rows = (await this.deps.dataSource.query(
      `SELECT id, currency, amount, balance_after, reason, metadata, created_at FROM ledger_entries
        WHERE user_id = $1 AND ($2::bigint IS NULL OR id < $2) AND ($3::text IS NULL OR currency = $3)
        ORDER BY id DESC LIMIT $4`,
      [userId, after?.[0] ?? null, page.currency ?? null, limit + 1],
    )) as EntryRow[];
    return toPage(rows, limit, (r) => [String(r.id)], (r) => ({
      id: String(r.id),
      kind: r.reason,
      currency: r.currency,
      amount: Number(r.amount),
      balanceAfter: Number(r.balance_after),
      cause: r.metadata,
      createdAt: r.created_at.toISOString(),
    }));
  }

  /** Diamonds to coins at the configured rate, once per Idempotency-Key. */
  async exchange(userId: string, diamonds: number, idempotencyKey: string): Promise<StoredResponse & { replayed: boolean }> {
    const print = fingerprint('POST /v1/wallet/exchanges', { diamonds });
    return this.deps.requests.run({ userId, key: idempotencyKey, fingerprint: print }, async (tx) => {
      const quote = quoteExchange(diamonds, this.deps.exchangeRate);
      // Ledger keys are at most 200 characters; a client's key may be 255.
      const exchangeId = `${userId}:${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}`;
      const metadata = { diamonds: quote.diamonds, coins: quote.coins, idempotencyKey };
      const debit = await this.ledger.post(
        { userId, currency: 'diamonds', amount: -quote.diamonds, reason: 'exchange', idempotencyKey: `exchange:${exchangeId}:diamonds`, metadata },
        tx,
      );
      const credit = await this.ledger.creditCoins({ userId, amount: quote.coins, reason: 'exchange', idempotencyKey: `exchange:${exchangeId}:coins`, metadata }, tx);
      return {
        status: 201,
        body: { diamonds: quote.diamonds, coins: quote.coins, diamondBalance: debit.balanceAfter, coinBalance: credit.balanceAfter, coinsRecovered: credit.recovered },
      };
    });
  }
}
