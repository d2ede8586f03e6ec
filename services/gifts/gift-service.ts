import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { RoomLiveState } from '../../db/live/room-live-state';
import { LiveStateRefusal } from '../../db/live/room-live-state';
import { Ledger } from '../../db/repositories/ledger';
import { AppError, ErrorCode } from '../../domain/errors';
import { giftTotals, offerTo, type CatalogGift, type GiftTarget } from '../../domain/economy/gifts';
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
  status: string;
}

/**
 * Sending a gift in a room. The sender's debit, the gift record and one receipt per receiver
 * commit in one PostgreSQL transaction with the Idempotency-Key's record, or nothing does.
 * Receivers' diamonds are pending receipts, not wallet credits: the send locks only the
 * sender's wallet, so a thousand senders gifting one host do not queue on the host's row (the
 * settlement flow credits diamonds in batches when the hold ends).
 */
export class GiftService {
  private readonly ledger: Ledger;
  private readonly clock: () => number;

  constructor(private readonly deps: GiftServiceDeps) {
    this.ledger = new Ledger(deps.dataSource);
    this.clock = deps.clock ?? Date.now;
  }

  async send(request: SendGift): Promise<StoredResponse & { replayed: boolean }> {
    const { to, ...rest } = request;
    const print = fingerprint('POST /v1/rooms/:id/gifts', { roomId: rest.roomId, giftId: rest.giftId, quantity: rest.quantity, to });
    let committed: (CommittedGift & { coinBalance: number }) | null = null;
    try {
      const response = await this.deps.requests.run({ userId: request.senderId, key: request.idempotencyKey, fingerprint: print }, async (tx) => {
        committed = await this.commit(request, tx);
        return { status: 201, body: view(committed) };
      });
      if (committed && !response.replayed) this.announce(committed);
      return response;
    } catch (err) {
      if (err instanceof AppError) this.deps.onRefused?.(err.code);
      throw err;
    }
  }

  private async commit(request: SendGift, tx: EntityManager): Promise<CommittedGift & { coinBalance: number }> {
    const { senderId, roomId, quantity } = request;
    const gift = await this.deps.catalog.gift(request.giftId);
    if (!gift) throw new AppError(ErrorCode.GiftNotFound, 'no such gift');
    const receivers = await this.receivers(request);
    const blocked = await this.blockedAmong(tx, senderId, receivers);
    const kept = 'users' in request.to ? receivers : receivers.filter((id) => !blocked.has(id));
    if ('users' in request.to && blocked.size > 0) {
      throw new AppError(ErrorCode.GiftBlocked, 'you cannot send gifts to a user who blocked you or whom you blocked', { userIds: [...blocked] });
    }
    if (kept.length === 0) throw new AppError(ErrorCode.GiftNoReceivers, 'nobody here can receive this gift');

    // The sender's wallet row lock: their sends apply one at a time, and the caps below read
    // totals no concurrent send of theirs can change.
    const [sender] = (await tx.query(
      `SELECT w.coins, w.coins_owed, u.region, u.vip_tier, u.status
         FROM wallets w JOIN users u ON u.id = w.user_id WHERE w.user_id = $1 FOR UPDATE OF w`,
      [senderId],
    )) as SenderRow[];
    if (!sender) throw new AppError(ErrorCode.UserNotFound, 'the sender has no wallet');
    if (Number(sender.coins_owed) > 0) {
      throw new AppError(ErrorCode.CoinsOwed, 'a refunded purchase left coins owed; gifting resumes once they are repaid', {
        coinsOwed: Number(sender.coins_owed),
      });
    }
    const offer = offerTo(gift, { region: sender.region, vipTier: sender.vip_tier });
    const totals = giftTotals(offer, quantity, kept.length);
    if (Number(sender.coins) < totals.totalCoins) {
      throw new AppError(ErrorCode.InsufficientFunds, 'not enough coins for this gift', { needed: totals.totalCoins, balance: Number(sender.coins) });
    }
    const now = new Date(this.clock());
    await this.applyCaps(tx, senderId, kept, totals.totalCoins, totals.coinsPerReceiver, now);

    const sendId = randomUUID();
    const debit = await this.ledger.post(
      {
        userId: senderId,
        currency: 'coins',
        amount: -totals.totalCoins,
        reason: 'gift_sent',
        idempotencyKey: `gift:${sendId}`,
        metadata: { sendId, giftId: gift.id, roomId, quantity, receivers: kept.length },
      },
      tx,
    );
    await tx.query(
      `INSERT INTO gift_sends (id, sender_id, room_id, gift_id, quantity, unit_price_coins, unit_diamonds, receiver_count, total_coins, debit_entry_id, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [sendId, senderId, roomId, gift.id, quantity, offer.unitPriceCoins, offer.unitDiamonds, kept.length, totals.totalCoins, debit.entryId, now],
    );
    const receipts = (await tx.query(
      `INSERT INTO gift_receipts (send_id, sender_id, receiver_id, room_id, coins, diamonds, hold_until, created_at)
       SELECT $1, $2, r, $3, $4, $5, $6, $7 FROM unnest($8::uuid[]) WITH ORDINALITY AS t(r, n) ORDER BY n
       RETURNING id, receiver_id`,
      [sendId, senderId, roomId, totals.coinsPerReceiver, totals.diamondsPerReceiver, new Date(now.getTime() + this.deps.settings.holdMs), now, kept],
    )) as { id: string; receiver_id: string }[];
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
      coinBalance: debit.balanceAfter,
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

  private async blockedAmong(tx: EntityManager, senderId: string, receivers: string[]): Promise<Set<string>> {
    if (receivers.length === 0) return new Set();
    const rows = (await tx.query(
      `SELECT blocked_id AS other FROM user_blocks WHERE blocker_id = $1 AND blocked_id = ANY($2::uuid[])
       UNION
       SELECT blocker_id AS other FROM user_blocks WHERE blocked_id = $1 AND blocker_id = ANY($2::uuid[])`,
      [senderId, receivers],
    )) as { other: string }[];
    return new Set(rows.map((r) => r.other));
  }

  /** Anti-fraud caps per UTC day: the sender's total, and each sender-receiver pair's. */
  private async applyCaps(tx: EntityManager, senderId: string, receivers: string[], totalCoins: number, perReceiver: number, now: Date): Promise<void> {
    const day = now.toISOString().slice(0, 10);
    const { senderDailyCapCoins, pairDailyCapCoins } = this.deps.settings;
    const [daily] = (await tx.query(
      `INSERT INTO gift_daily_totals (sender_id, day, coins) VALUES ($1, $2, $3)
       ON CONFLICT (sender_id, day) DO UPDATE SET coins = gift_daily_totals.coins + EXCLUDED.coins
       RETURNING coins`,
      [senderId, day, totalCoins],
    )) as { coins: string }[];
    if (Number(daily!.coins) > senderDailyCapCoins) {
      throw new AppError(ErrorCode.GiftSenderDailyCap, `gifts are capped at ${senderDailyCapCoins} coins a day`, {
        capCoins: senderDailyCapCoins,
        usedCoins: Number(daily!.coins) - totalCoins,
      });
    }
    const pairs = (await tx.query(
      `INSERT INTO gift_pair_daily_totals (sender_id, receiver_id, day, coins, gifts)
       SELECT $1, r, $2, $3, 1 FROM unnest($4::uuid[]) AS t(r)
       ON CONFLICT (sender_id, receiver_id, day) DO UPDATE
         SET coins = gift_pair_daily_totals.coins + EXCLUDED.coins, gifts = gift_pair_daily_totals.gifts + 1
       RETURNING receiver_id, coins`,
      [senderId, day, perReceiver, receivers],
    )) as { receiver_id: string; coins: string }[];
    const over = pairs.filter((p) => Number(p.coins) > pairDailyCapCoins).map((p) => p.receiver_id);
    if (over.length > 0) {
      throw new AppError(ErrorCode.GiftPairDailyCap, `gifts to one person are capped at ${pairDailyCapCoins} coins a day`, {
        capCoins: pairDailyCapCoins,
        userIds: over,
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
