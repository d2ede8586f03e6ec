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
