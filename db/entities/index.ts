import { DailyRewardClaimRecord } from './daily-reward-claim.entity';
import { LedgerEntry } from './ledger-entry.entity';
import { Notification } from './notification.entity';
import { RoomMessageRecord } from './room-message.entity';
import { RoomRecord } from './room.entity';
import { User } from './user.entity';
import { Wallet } from './wallet.entity';

export { DailyRewardClaimRecord, LedgerEntry, Notification, RoomMessageRecord, RoomRecord, User, Wallet };
export type { Currency } from './ledger-entry.entity';
export type { RoomMessageKind } from './room-message.entity';
export type { RoomClosedReason } from './room.entity';

export const entities = [User, Wallet, LedgerEntry, DailyRewardClaimRecord, Notification, RoomRecord, RoomMessageRecord];
