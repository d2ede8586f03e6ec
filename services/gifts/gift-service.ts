import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { RoomLiveState } from '../../db/live/room-live-state';
import { LiveStateRefusal } from '../../db/live/room-live-state';
import { AppError, ErrorCode } from '../../domain/errors';
import { giftTotals, offerTo, type CatalogGift, type GiftTarget } from '../../domain/economy/gifts';
import type { LevelUp } from '../../domain/levels/levels';
import { LevelTotals } from '../../db/repositories/level-totals';
import { fingerprint, type ReplayableRequests, type StoredResponse } from '../idempotency/replayable-requests';

/** Reads the catalog (cache-first); the send trusts its price and value for this gift. */
export interface GiftCatalogReader {
  gift(id: string): Promise<CatalogGift | null>;
}

/** A committed send, as what happens after the commit (events, rankings) sees it. */
export interface CommittedGift {
  sendId: string;
  roomId: string;
  senderId: string;
  at: Date;
  gift: CatalogGift;
  quantity: number;
  totalCoins: number;
  receivers: { userId: string; receiptId: string; coins: number; diamonds: number }[];
  /** Wealth (sender) and charm (receivers) levels this send raised, recorded in its transaction. */
  levelUps?: LevelUp[];
}

/** Told once per committed send (never for a replay); must not throw (the gift is already sent). */
export interface GiftCommitListener {
  giftCommitted(gift: CommittedGift): void | Promise<void>;
}

export interface GiftSettings {
  holdMs: number;
  maxReceivers: number;
  senderDailyCapCoins: number;
  pairDailyCapCoins: number;
}

export interface SendGift {
  senderId: string;
  roomId: string;
  giftId: string;
  quantity: number;
  to: GiftTarget;
  idempotencyKey: string;
}

export interface GiftServiceDeps {
  dataSource: DataSource;
  live: RoomLiveState;
  catalog: GiftCatalogReader;
  requests: ReplayableRequests;
  settings: GiftSettings;
  listeners?: GiftCommitListener[];
  /** Counts refusals by code (metrics). */
  onRefused?: (code: string) => void;
  onListenerError?: (err: unknown) => void;
  clock?: () => number;
}

interface SenderRow {
  coins: string;
  coins_owed: string;
  region: string | null;
  vip_tier: number;
  blocked: string[];
}

/**
 * Sending a gift in a room. The sender's debit, the gift record and one receipt per receiver
 * commit in one PostgreSQL transaction with the Idempotency-Key's record, or nothing does.
 * Receivers' diamonds are pending receipts, not wallet credits: the send locks only the
 * sender's wallet, so a thousand senders gifting one host do not queue on the host's row (the
 * settlement flow credits diamonds in batches when the hold ends).
 */
export class GiftService {
  private readonly clock: () => number;
  private readonly levels = new LevelTotals();

  constructor(private readonly deps: GiftServiceDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  async send(request: SendGift): Promise<StoredResponse & { replayed: boolean }> {
    const { to, ...rest } = request;
    const replayable = {
      userId: request.senderId,
      key: request.idempotencyKey,
      fingerprint: fingerprint('POST /v1/rooms/:id/gifts', { roomId: rest.roomId, giftId: rest.giftId, quantity: rest.quantity, to }),
    };
    let committed: (CommittedGift & { coinBalance: number }) | null = null;
    try {
      // The catalog (memory) and the live room (Redis) are read before the transaction opens, so
      // no pooled connection waits on them. A refusal here is checked against the key: a replay
      // answers what the first request got, even if a receiver has left since.
      let gift: CatalogGift;
      let receivers: string[];
      try {
        const found = await this.deps.catalog.gift(request.giftId);
        if (!found) throw new AppError(ErrorCode.GiftNotFound, 'no such gift');
        gift = found;
        receivers = await this.receivers(request);
      } catch (err) {
        const earlier = err instanceof AppError ? await this.deps.requests.earlierAnswer(replayable) : null;
        if (earlier) return earlier;
        throw err;
      }
      const response = await this.deps.requests.run(replayable, async (tx) => {
        committed = await this.commit(request, gift, receivers, tx);
        return { status: 201, body: view(committed) };
      });
      if (committed && !response.replayed) this.announce(committed);
      return response;
    } catch (err) {
      if (err instanceof AppError) this.deps.onRefused?.(err.code);
      throw err;
    }
  }

  /**
   * The transaction, after the key's check: lock the sender's wallet (with who blocks whom),
   * count the caps, debit + send + receipts in one statement, then the level totals (the
   * sender's coins spent, each receiver's diamonds received) last, so the receivers' user rows
   * are held only for the commit that follows.
   */
  private async commit(request: SendGift, gift: CatalogGift, receivers: string[], tx: EntityManager): Promise<CommittedGift & { coinBalance: number }> {
    const { senderId, roomId, quantity } = request;
    // The sender's wallet row lock: their sends apply one at a time, and the caps below read
    // totals no concurrent send of theirs can change.
    const [sender] = (await tx.query(
      `SELECT w.coins, w.coins_owed, u.region, u.vip_tier,
              ARRAY(SELECT blocked_id::text FROM user_blocks WHERE blocker_id = $1 AND blocked_id = ANY($2::uuid[])
                    UNION SELECT blocker_id::text FROM user_blocks WHERE blocked_id = $1 AND blocker_id = ANY($2::uuid[])) AS blocked
         FROM wallets w JOIN users u ON u.id = w.user_id WHERE w.user_id = $1 FOR UPDATE OF w`,
      [senderId, receivers],
    )) as SenderRow[];
    if (!sender) throw new AppError(ErrorCode.UserNotFound, 'the sender has no wallet');
    const blocked = new Set(sender.blocked);
    if ('users' in request.to && blocked.size > 0) {
      throw new AppError(ErrorCode.GiftBlocked, 'you cannot send gifts to a user who blocked you or whom you blocked', { userIds: [...blocked] });
    }
    const kept = receivers.filter((id) => !blocked.has(id));
    if (kept.length === 0) throw new AppError(ErrorCode.GiftNoReceivers, 'nobody here can receive this gift');
    if (Number(sender.coins_owed) > 0) {
      throw new AppError(ErrorCode.CoinsOwed, 'a refunded purchase left coins owed; gifting resumes once they are repaid', {
        coinsOwed: Number(sender.coins_owed),
      });
    }
    const offer = offerTo(gift, { region: sender.region, vipTier: sender.vip_tier });
    const totals = giftTotals(offer, quantity, kept.length);
    const coins = Number(sender.coins);
    if (coins < totals.totalCoins) {
      throw new AppError(ErrorCode.InsufficientFunds, 'not enough coins for this gift', { needed: totals.totalCoins, balance: coins });
    }
    const now = new Date(this.clock());
    await this.applyCaps(tx, senderId, kept, totals.totalCoins, totals.coinsPerReceiver, now);

    // The debit is an ordinary ledger insert (the triggers compute its balance under the lock we
    // hold and refuse a negative one) with a key no earlier post can have: the send id is new.
    const sendId = randomUUID();
    const metadata = { sendId, giftId: gift.id, roomId, quantity, receivers: kept.length };
    const receipts = (await tx.query(
      `WITH debit AS (
         INSERT INTO ledger_entries (user_id, currency, amount, balance_after, reason, idempotency_key, metadata)
         VALUES ($1, 'coins', $2, 0, 'gift_sent', $3, $4) RETURNING id),
       send AS (
         INSERT INTO gift_sends (id, sender_id, room_id, gift_id, quantity, unit_price_coins, unit_diamonds, receiver_count, total_coins, debit_entry_id, created_at)
         SELECT $5, $1, $6, $7, $8, $9, $10, $11, $12, debit.id, $13 FROM debit RETURNING id)
       INSERT INTO gift_receipts (send_id, sender_id, receiver_id, room_id, coins, diamonds, hold_until, created_at)
       SELECT send.id, $1, t.r, $6, $14, $15, $16, $13 FROM send, unnest($17::uuid[]) WITH ORDINALITY AS t(r, n) ORDER BY t.n
       RETURNING id, receiver_id`,
      [
        senderId, -totals.totalCoins, `gift:${sendId}`, metadata,
        sendId, roomId, gift.id, quantity, offer.unitPriceCoins, offer.unitDiamonds, kept.length, totals.totalCoins, now,
        totals.coinsPerReceiver, totals.diamondsPerReceiver, new Date(now.getTime() + this.deps.settings.holdMs), kept,
      ],
    )) as { id: string; receiver_id: string }[];
    if (receipts.length !== kept.length) throw new Error(`gift ${sendId}: ${receipts.length} receipts written for ${kept.length} receivers`);
    // Totals count what committed, so a replay (which commits nothing) adds nothing. Counted at
    // the send, pending diamonds included; a reversal takes a receipt back out (GiftReceipts).
    const levelUps = await this.levels.apply(
      tx,
      [
        { userId: senderId, coinsSpent: totals.totalCoins, giftsSent: quantity * kept.length },
        ...kept.map((userId) => ({ userId, diamondsReceived: totals.diamondsPerReceiver })),
      ],
      now,
    );
    const receiptOf = new Map(receipts.map((r) => [r.receiver_id, String(r.id)]));
    return {
      sendId,
      roomId,
      senderId,
      at: now,
      gift,
      quantity,
      totalCoins: totals.totalCoins,
      receivers: kept.map((userId) => ({ userId, receiptId: receiptOf.get(userId)!, coins: totals.coinsPerReceiver, diamonds: totals.diamondsPerReceiver })),
      coinBalance: coins - totals.totalCoins,
      levelUps,
    };
  }

  /** The receivers as the live room has them now; refusals name what is wrong. */
  private async receivers(request: SendGift): Promise<string[]> {
    const { to, senderId, roomId } = request;
    if ('users' in to && to.users.includes(senderId)) throw new AppError(ErrorCode.GiftToSelf, 'you cannot send a gift to yourself');
    let found: { receivers: string[]; missing: string[] };
    try {
      found = await this.deps.live.giftTargets(roomId, senderId, to, this.deps.settings.maxReceivers);
    } catch (err) {
      if (err instanceof LiveStateRefusal) {
        if (err.code === 'NOT_IN_ROOM') throw new AppError(ErrorCode.NotInRoom, 'join the room to send gifts in it');
        if (err.code === 'ROOM_NOT_LIVE') throw new AppError(ErrorCode.RoomNotFound, 'no such open room');
      }
      throw err;
    }
    if (found.missing.length > 0) {
      throw new AppError(ErrorCode.GiftReceiverNotInRoom, 'a receiver is not in this room', { userIds: found.missing });
    }
    if (found.receivers.length > this.deps.settings.maxReceivers) {
      throw new AppError(ErrorCode.GiftTooManyReceivers, `a gift reaches at most ${this.deps.settings.maxReceivers} people`, {
        maxReceivers: this.deps.settings.maxReceivers,
      });
    }
    return [...new Set(found.receivers)];
  }

  /** Anti-fraud caps per UTC day: the sender's total, and each sender-receiver pair's. */
  private async applyCaps(tx: EntityManager, senderId: string, receivers: string[], totalCoins: number, perReceiver: number, now: Date): Promise<void> {
    const day = now.toISOString().slice(0, 10);
    const { senderDailyCapCoins, pairDailyCapCoins } = this.deps.settings;
    const [counted] = (await tx.query(
      `WITH daily AS (
         INSERT INTO gift_daily_totals (sender_id, day, coins) VALUES ($1, $2, $3)
         ON CONFLICT (sender_id, day) DO UPDATE SET coins = gift_daily_totals.coins + EXCLUDED.coins
         RETURNING coins),
       pairs AS (
         INSERT INTO gift_pair_daily_totals (sender_id, receiver_id, day, coins, gifts)
         SELECT $1, r, $2, $4, 1 FROM unnest($5::uuid[]) AS t(r)
         ON CONFLICT (sender_id, receiver_id, day) DO UPDATE
           SET coins = gift_pair_daily_totals.coins + EXCLUDED.coins, gifts = gift_pair_daily_totals.gifts + 1
         RETURNING receiver_id, coins)
       SELECT (SELECT coins FROM daily) AS daily, ARRAY(SELECT receiver_id::text FROM pairs WHERE coins > $6) AS over`,
      [senderId, day, totalCoins, perReceiver, receivers, pairDailyCapCoins],
    )) as { daily: string; over: string[] }[];
    if (Number(counted!.daily) > senderDailyCapCoins) {
      throw new AppError(ErrorCode.GiftSenderDailyCap, `gifts are capped at ${senderDailyCapCoins} coins a day`, {
        capCoins: senderDailyCapCoins,
        usedCoins: Number(counted!.daily) - totalCoins,
      });
    }
    if (counted!.over.length > 0) {
      throw new AppError(ErrorCode.GiftPairDailyCap, `gifts to one person are capped at ${pairDailyCapCoins} coins a day`, {
        capCoins: pairDailyCapCoins,
        userIds: counted!.over,
      });
    }
  }

  private announce(gift: CommittedGift): void {
    for (const listener of this.deps.listeners ?? []) {
      try {
        void Promise.resolve(listener.giftCommitted(gift)).catch((err: unknown) => this.deps.onListenerError?.(err));
      } catch (err) {
        this.deps.onListenerError?.(err);
      }
    }
  }
}

function view(gift: CommittedGift & { coinBalance: number }) {
  return {
    sendId: gift.sendId,
    roomId: gift.roomId,
    giftId: gift.gift.id,
    quantity: gift.quantity,
    totalCoins: gift.totalCoins,
    coinBalance: gift.coinBalance,
    receivers: gift.receivers.map((r) => ({ userId: r.userId, coins: r.coins, diamondsPending: r.diamonds })),
    createdAt: gift.at.toISOString(),
  };
}
