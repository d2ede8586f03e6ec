import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, Unique } from 'typeorm';

/** The record of each claimed day; the streak itself lives in the user's workflow. */
@Entity({ name: 'daily_reward_claims' })
@Unique('uq_daily_reward_claims_user_date', ['userId', 'claimDate'])
export class DailyRewardClaimRecord {
  @PrimaryGeneratedColumn('identity', { type: 'bigint' })
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  /** The claimed day in the user's time zone. */
  @Column({ name: 'claim_date', type: 'date' })
  claimDate: string;

  @Column({ name: 'cycle_day', type: 'smallint' })
  cycleDay: number;

  @Column({ type: 'integer' })
  coins: number;

  @Column({ type: 'integer' })
  streak: number;

  @Column({ name: 'ledger_entry_id', type: 'bigint' })
  ledgerEntryId: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
