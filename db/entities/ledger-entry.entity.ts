import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { bigintAsNumber } from './columns';

export type Currency = 'coins' | 'diamonds' | 'coins_owed';

/** Append-only: the database refuses updates and deletes. One effect per idempotency key. */
@Entity({ name: 'ledger_entries' })
export class LedgerEntry {
  @PrimaryGeneratedColumn('identity', { type: 'bigint' })
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @Column({ type: 'varchar', length: 16 })
  currency: Currency;

  /** Signed: credits are positive, debits negative. */
  @Column({ type: 'bigint', transformer: bigintAsNumber })
  amount: number;

  /** Set by the database from the wallet, under the wallet's row lock. */
  @Column({ name: 'balance_after', type: 'bigint', transformer: bigintAsNumber })
  balanceAfter: number;

  @Column({ type: 'varchar', length: 64 })
  reason: string;

  @Column({ name: 'idempotency_key', type: 'varchar', length: 200, unique: true })
  idempotencyKey: string;

  @Column({ type: 'jsonb', default: {} })
  metadata: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
