import { DailyRewardClaimRecord } from './daily-reward-claim.entity';
import { LedgerEntry } from './ledger-entry.entity';
import { Notification } from './notification.entity';
import { User } from './user.entity';
import { Wallet } from './wallet.entity';

export { DailyRewardClaimRecord, LedgerEntry, Notification, User, Wallet };
export type { Currency } from './ledger-entry.entity';

export const entities = [User, Wallet, LedgerEntry, DailyRewardClaimRecord, Notification];
