import type { DataSource } from 'typeorm';
import type { Config } from '../../config';
import type { RoomLiveState } from '../../db/live/room-live-state';
import { ReplayableRequests } from '../idempotency/replayable-requests';
import { GiftService, type GiftCatalogReader, type GiftCommitListener } from '../gifts/gift-service';
import { WalletService } from './wallet-service';

export { WalletService } from './wallet-service';

/** The money side of the API: wallets and exchanges, and sending gifts in rooms. */
export function createEconomyServices(deps: {
  config: Config;
  dataSource: DataSource;
  live: RoomLiveState;
  catalog: GiftCatalogReader;
  listeners?: GiftCommitListener[];
  onRefused?: (code: string) => void;
  onListenerError?: (err: unknown) => void;
}): { wallet: WalletService; gifts: GiftService } {
  const { config } = deps;
  const requests = new ReplayableRequests(deps.dataSource);
  const wallet = new WalletService({
    dataSource: deps.dataSource,
    requests,
    exchangeRate: {
      diamondsPerLot: config.EXCHANGE_DIAMONDS_PER_LOT,
      coinsPerLot: config.EXCHANGE_COINS_PER_LOT,
      minDiamonds: config.EXCHANGE_MIN_DIAMONDS,
    },
  });
  const gifts = new GiftService({
    dataSource: deps.dataSource,
    live: deps.live,
    catalog: deps.catalog,
    requests,
    settings: {
      holdMs: config.GIFT_SETTLEMENT_HOLD_HOURS * 3_600_000,
      maxReceivers: config.GIFT_MAX_RECEIVERS,
      senderDailyCapCoins: config.GIFT_SENDER_DAILY_CAP_COINS,
      pairDailyCapCoins: config.GIFT_PAIR_DAILY_CAP_COINS,
    },
    ...(deps.listeners ? { listeners: deps.listeners } : {}),
    ...(deps.onRefused ? { onRefused: deps.onRefused } : {}),
    ...(deps.onListenerError ? { onListenerError: deps.onListenerError } : {}),
  });
  return { wallet, gifts };
}
