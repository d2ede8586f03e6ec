import type { DataSource, EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '../../domain/errors';
import type { Currency } from '../entities';

export interface LedgerPosting {
  userId: string;
  currency: Currency;
  /** Signed integer: credits positive, debits negative. */
  amount: number;
  reason: string;
  idempotencyKey: string;
  metadata?: Record<string, unknown>;
}

export interface PostedEntry {
  entryId: string;
  balanceAfter: number;
  /** False when the key had been posted before: nothing changed this time. */
  applied: boolean;
}

const PG_UNIQUE_VIOLATION = '23505';
const PG_CHECK_VIOLATION = '23514';
const PG_FOREIGN_KEY_VIOLATION = '23503';

/**
 * The only writer of money. Posting is idempotent by key; the database computes balances
 * and refuses anything that would make one negative.
 */
export class Ledger {
  constructor(private readonly dataSource: DataSource) {}

  /** Opens a wallet with zero balances; a no-op if it exists. */
  async openWallet(userId: string, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await manager.query(`INSERT INTO wallets (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING`, [userId]);
  }

  /**
   * Posts one entry, at most once per idempotency key. A replayed key returns the original
   * entry with applied=false, even when replaying it now would overdraw (the effect happened).
   * `manager` must be inside a transaction; without one the post runs in its own.
   */
  async post(posting: LedgerPosting, manager?: EntityManager): Promise<PostedEntry> {
    if (!Number.isSafeInteger(posting.amount) || posting.amount === 0) {
      throw new AppError(ErrorCode.ValidationFailed, 'amount must be a non-zero integer');
    }
    if (!manager) return this.dataSource.transaction((tx) => this.postInTransaction(posting, tx));
    return this.postInTransaction(posting, manager);
  }

  private async postInTransaction(posting: LedgerPosting, tx: EntityManager): Promise<PostedEntry> {
    // Postgres runs the BEFORE trigger and CHECKs before it detects the key conflict, so a
    // replay must be recognised before inserting, not only through ON CONFLICT.
    const prior = await this.findByKey(posting.idempotencyKey, tx);
    if (prior) return replayOf(prior, posting);

    let rows: { id: string; balance_after: string }[];
    await tx.query('SAVEPOINT ledger_post');
    try {
      // balance_after is computed by the ledger_entries_balance_after trigger.
      rows = await tx.query(
        `INSERT INTO ledger_entries (user_id, currency, amount, balance_after, reason, idempotency_key, metadata)
         VALUES ($1, $2, $3, 0, $4, $5, $6)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id, balance_after`,
        [posting.userId, posting.currency, posting.amount, posting.reason, posting.idempotencyKey, posting.metadata ?? {}],
      );
      await tx.query('RELEASE SAVEPOINT ledger_post');
    } catch (err) {
      await tx.query('ROLLBACK TO SAVEPOINT ledger_post');
      // A concurrent post of the same key may have committed while we waited on the wallet lock.
      const raced = await this.findByKey(posting.idempotencyKey, tx);
      if (raced) return replayOf(raced, posting);
      throw translateLedgerError(err);
    }
    const inserted = rows[0];
    if (inserted) return { entryId: String(inserted.id), balanceAfter: Number(inserted.balance_after), applied: true };
    const concurrent = await this.findByKey(posting.idempotencyKey, tx);
    if (!concurrent) throw new Error(`ledger entry ${posting.idempotencyKey} conflicted but is not visible`);
    return replayOf(concurrent, posting);
  }

  /**
   * Credits coins and, in the same transaction, pays down what the user owes after a refund
   * (`coins_owed`): the credit lands, then as much of it as is owed goes straight back out.
   * Every coin credit (rewards, recharges, exchanges) must come through here so a debt is
   * recovered from the next credits. A replayed key changes nothing, recovery included.
   */
  async creditCoins(posting: Omit<LedgerPosting, 'currency'>, manager?: EntityManager): Promise<PostedEntry & { recovered: number }> {
    if (posting.amount <= 0) throw new AppError(ErrorCode.ValidationFailed, 'a credit is positive');
    if (!manager) return this.dataSource.transaction((tx) => this.creditCoins(posting, tx));
    const credit = await this.post({ ...posting, currency: 'coins' }, manager);
    if (!credit.applied) return { ...credit, recovered: 0 };
    const owed = await this.owed(posting.userId, manager);
    const recovered = Math.min(owed, posting.amount);
    if (recovered === 0) return { ...credit, recovered: 0 };
    const recovery = { reason: 'debt_recovery', metadata: { creditKey: posting.idempotencyKey } };
    const paid = await this.post({ ...recovery, userId: posting.userId, currency: 'coins', amount: -recovered, idempotencyKey: `${posting.idempotencyKey}:recovery` }, manager);
    await this.post({ ...recovery, userId: posting.userId, currency: 'coins_owed', amount: -recovered, idempotencyKey: `${posting.idempotencyKey}:recovery-owed` }, manager);
    return { ...credit, balanceAfter: paid.balanceAfter, recovered };
  }

  /**
   * Takes back `amount` coins after a refund without ever going negative: what the user still
   * holds is debited, the rest is recorded as owed. Keys: `<key>` and `<key>:owed`.
   */
  async clawbackCoins(
    claim: { userId: string; amount: number; idempotencyKey: string; metadata?: Record<string, unknown> },
    manager: EntityManager,
  ): Promise<{ debited: number; owed: number; applied: boolean }> {
    if (!Number.isSafeInteger(claim.amount) || claim.amount <= 0) throw new AppError(ErrorCode.ValidationFailed, 'a clawback is positive');
    const prior = await this.findByKey(claim.idempotencyKey, manager);
    const priorOwed = await this.findByKey(`${claim.idempotencyKey}:owed`, manager);
    if (prior || priorOwed) {
      return { debited: prior ? -Number(prior.amount) : 0, owed: priorOwed ? Number(priorOwed.amount) : 0, applied: false };
    }
    const rows: { coins: string }[] = await manager.query(`SELECT coins FROM wallets WHERE user_id = $1 FOR UPDATE`, [claim.userId]);
    if (!rows[0]) throw new AppError(ErrorCode.UserNotFound, 'the user has no wallet');
    const debited = Math.min(Number(rows[0].coins), claim.amount);
    const owed = claim.amount - debited;
    const base = { userId: claim.userId, reason: 'clawback', metadata: claim.metadata };
    if (debited > 0) await this.post({ ...base, currency: 'coins', amount: -debited, idempotencyKey: claim.idempotencyKey }, manager);
    if (owed > 0) await this.post({ ...base, currency: 'coins_owed', amount: owed, idempotencyKey: `${claim.idempotencyKey}:owed` }, manager);
    return { debited, owed, applied: true };
  }

  async owed(userId: string, manager: EntityManager = this.dataSource.manager): Promise<number> {
    const rows: { coins_owed: string }[] = await manager.query(`SELECT coins_owed FROM wallets WHERE user_id = $1`, [userId]);
    return rows[0] ? Number(rows[0].coins_owed) : 0;
  }

  async balances(userId: string, manager: EntityManager = this.dataSource.manager): Promise<{ coins: number; diamonds: number } | null> {
    const rows: { coins: string; diamonds: string }[] = await manager.query(
      `SELECT coins, diamonds FROM wallets WHERE user_id = $1`,
      [userId],
    );
    const row = rows[0];
    return row ? { coins: Number(row.coins), diamonds: Number(row.diamonds) } : null;
  }

  private async findByKey(key: string, manager: EntityManager): Promise<StoredEntry | null> {
    const rows: StoredEntry[] = await manager.query(
      `SELECT id, user_id, currency, amount, balance_after FROM ledger_entries WHERE idempotency_key = $1`,
      [key],
    );
    return rows[0] ?? null;
  }
}

interface StoredEntry {
  id: string;
  user_id: string;
  currency: string;
  amount: string;
  balance_after: string;
}

function replayOf(stored: StoredEntry, posting: LedgerPosting): PostedEntry {
  if (stored.user_id !== posting.userId || stored.currency !== posting.currency || Number(stored.amount) !== posting.amount) {
    throw new AppError(ErrorCode.IdempotencyConflict, 'this idempotency key was already used for a different ledger entry');
  }
  return { entryId: String(stored.id), balanceAfter: Number(stored.balance_after), applied: false };
}

function translateLedgerError(err: unknown): unknown {
  const code = (err as { code?: string }).code;
  const constraint = (err as { constraint?: string }).constraint;
  if (code === PG_CHECK_VIOLATION && (constraint === 'ledger_balance_non_negative' || constraint?.endsWith('_non_negative'))) {
    return new AppError(ErrorCode.InsufficientFunds, 'insufficient balance');
  }
  if (code === PG_FOREIGN_KEY_VIOLATION) return new AppError(ErrorCode.UserNotFound, 'the user has no wallet');
  if (code === PG_UNIQUE_VIOLATION) return new AppError(ErrorCode.IdempotencyConflict, 'duplicate ledger entry');
  return err;
}
