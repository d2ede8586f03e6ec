import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { bigintAsNumber } from './columns';

/**
 * Balances are a cache of the ledger kept by database triggers: they change only
 * through a ledger entry, never go below zero, and always equal the sum of the entries.
 */
@Entity({ name: 'wallets' })
export class Wallet {
  @PrimaryColumn({ name: 'user_id', type: 'uuid' })
  userId: string;

  @Column({ type: 'bigint', default: 0, transformer: bigintAsNumber })
  coins: number;

  @Column({ type: 'bigint', default: 0, transformer: bigintAsNumber })
  diamonds: number;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
