import { AppError, ErrorCode } from '../errors';

export interface ExchangeRate {
  /** Diamonds are exchanged in lots of this many... */
  diamondsPerLot: number;
  /** ...each worth this many coins. */
  coinsPerLot: number;
  minDiamonds: number;
}

/** Coins for exchanging `diamonds`; whole lots only, at least the minimum. */
export function quoteExchange(diamonds: number, rate: ExchangeRate): { diamonds: number; coins: number } {
  if (!Number.isSafeInteger(diamonds) || diamonds <= 0 || diamonds % rate.diamondsPerLot !== 0) {
    throw new AppError(ErrorCode.ExchangeAmountInvalid, `exchange whole lots of ${rate.diamondsPerLot} diamonds`, { diamondsPerLot: rate.diamondsPerLot });
  }
  if (diamonds < rate.minDiamonds) {
    throw new AppError(ErrorCode.ExchangeBelowMinimum, `exchange at least ${rate.minDiamonds} diamonds`, { minDiamonds: rate.minDiamonds });
  }
  return { diamonds, coins: (diamonds / rate.diamondsPerLot) * rate.coinsPerLot };
}
