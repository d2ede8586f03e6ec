import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { Ledger } from '../../db/repositories/ledger';
import { VipRecords } from '../../db/repositories/vip';
import { AppError, ErrorCode } from '../../domain/errors';
import type { VipChangedEvent } from '../../domain/events';
import { pendingReminders, type VipPolicy } from '../../domain/vip/flow';
import { activeTier, decidePurchase, type PurchaseKind, type VipTier } from '../../domain/vip/membership';
import type { UserEventPublisher } from '../../platform/events/publisher';
import type { Logger } from '../../platform/logging';
import { fingerprint, type ReplayableRequests, type StoredResponse } from '../idempotency/replayable-requests';
import type { ProgressEvents } from '../progress';
import type { VipTimer } from './flow-client';

export interface VipServiceDeps {
  dataSource: DataSource;
  requests: ReplayableRequests;
  /** Moves the user's `vip:<userId>` timer after a purchase commits. */
  timer: VipTimer;
  policy: VipPolicy;
  progress?: ProgressEvents;
  events?: UserEventPublisher;
  logger?: Pick<Logger, 'warn'>;
  clock?: () => number;
}

export interface BuyVip {
  userId: string;
  tier: number;
  periods: number;
  idempotencyKey: string;
}

/** A committed purchase as the API answers it (and replays it). */
export interface VipPurchaseView {
  purchase: {
    id: string;
    seq: number;
    kind: PurchaseKind;
    tier: number;
    periods: number;
    priceCoins: number;
    /** Upgrades: the old tier's remaining time, as time of the new tier (ms). */
    convertedMs: number;
    expiresAt: string;
    createdAt: string;
  };
  vip: { tier: number; expiresAt: string };
  coinBalance: number;
}

/** A tier as the app reads it: perks are flags, the daily reward a multiplier. */
export function tierView(t: VipTier) {
  const { dailyRewardPercent, ...flags } = t.perks;
  return { level: t.level, name: t.name, priceCoins: t.priceCoins, periodDays: 30, perks: { ...flags, dailyRewardMultiplier: dailyRewardPercent / 100 } };
}

/**
 * VIP: tiers, a user's membership, and buying (new, renewal, upgrade) from the wallet. A
 * purchase is one transaction: the buyer's wallet and user rows locked, the `vip_purchase`
 * ledger debit, the new tier and expiry on the user, the `vip_purchases` row and the
 * Idempotency-Key's record. After the commit the flow's timer moves (best effort: the purchase
 * stands either way), the user's socket hears `vip.changed`, and progress hears `vip-bought`.
 */
export class VipService {
  private readonly records: VipRecords;
  private readonly ledger: Ledger;
  private readonly clock: () => number;

  constructor(private readonly deps: VipServiceDeps) {
    this.records = new VipRecords(deps.dataSource);
    this.ledger = new Ledger(deps.dataSource);
    this.clock = deps.clock ?? Date.now;
  }

  async tiers(): Promise<ReturnType<typeof tierView>[]> {
    return (await this.records.tiers()).map(tierView);
  }

  /** The caller's VIP: the tier in force now (none once its expiry has passed) and the reminders to come. */
  async membership(userId: string) {
    const m = await this.records.membership(userId);
    if (!m) throw new AppError(ErrorCode.UserNotFound, 'the signed-in user does not exist');
    const now = this.clock();
    const level = activeTier(m, now);
    const tier = level === 0 ? null : await this.records.tier(level);
    return {
      active: tier !== null,
      tier: tier ? tierView(tier) : null,
      expiresAt: tier && m.expiresAt !== null ? new Date(m.expiresAt).toISOString() : null,
      pendingReminders: tier
        ? pendingReminders(m.expiresAt, now, this.deps.policy).map((r) => ({ leadHours: r.leadHours, at: new Date(r.at).toISOString() }))
        : [],
    };
  }

  /** The daily reward multiplier of the tier in force (percent; 100 without VIP). */
  dailyRewardPercent(userId: string): Promise<number> {
    return this.records.dailyRewardPercent(userId);
  }

  async purchase(request: BuyVip): Promise<StoredResponse & { replayed: boolean }> {
    const replayable = {
      userId: request.userId,
      key: request.idempotencyKey,
      fingerprint: fingerprint('POST /v1/me/vip/purchases', { tier: request.tier, periods: request.periods }),
    };
    const response = await this.deps.requests.run(replayable, async (tx) => ({ status: 201, body: await this.commit(request, tx) }));
    const view = response.body as VipPurchaseView;
    // A replay signals again: a signal lost after the first commit is repaired by the client's retry.
    const signalled = await this.deps.timer.purchased(request.userId, {
      seq: view.purchase.seq,
      tier: view.vip.tier,
      expiresAt: Date.parse(view.vip.expiresAt),
    });
    if (!signalled) this.deps.logger?.warn({ userId: request.userId, purchaseId: view.purchase.id }, 'the vip flow did not take the purchase in time; the expiry sweep repairs it');
    if (!response.replayed) this.announce(request.userId, view);
    return response;
  }

  private async commit(request: BuyVip, tx: EntityManager): Promise<VipPurchaseView> {
    const buyer = await this.records.lockBuyer(request.userId, tx);
    if (!buyer) throw new AppError(ErrorCode.UserNotFound, 'the buyer has no wallet');
    if (buyer.coinsOwed > 0) {
      throw new AppError(ErrorCode.CoinsOwed, 'a refunded purchase left coins owed; purchases resume once they are repaid', { coinsOwed: buyer.coinsOwed });
    }
    const target = await this.records.tier(request.tier, tx);
    if (!target || !target.enabled) throw new AppError(ErrorCode.VipTierNotFound, 'no such VIP tier on sale', { tier: request.tier });
    const now = this.clock();
    const currentLevel = activeTier(buyer, now);
    const currentTier = currentLevel === 0 ? null : await this.records.tier(currentLevel, tx);
    const decision = decidePurchase({ current: buyer, currentTier, target, periods: request.periods, now });
    if (!decision.ok) {
      if (decision.reason === 'DOWNGRADE_WHILE_ACTIVE') {
        throw new AppError(ErrorCode.VipDowngradeWhileActive, `your tier ${decision.currentTier} runs until ${new Date(decision.expiresAt).toISOString()}; buy a lower tier after it ends`, {
          currentTier: decision.currentTier,
          expiresAt: new Date(decision.expiresAt).toISOString(),
        });
      }
      throw new AppError(ErrorCode.VipTermTooLong, 'a VIP term may reach at most two years ahead', { latestExpiry: new Date(decision.latestExpiry).toISOString() });
    }
    if (buyer.coins < decision.priceCoins) {
      throw new AppError(ErrorCode.InsufficientFunds, 'not enough coins for this VIP tier', { needed: decision.priceCoins, balance: buyer.coins });
    }
    const id = randomUUID();
    const seq = buyer.seq + 1;
    const debit = await this.ledger.post(
      {
        userId: request.userId,
        currency: 'coins',
        amount: -decision.priceCoins,
        reason: 'vip_purchase',
        idempotencyKey: `vip_purchase:${id}`,
        metadata: { purchaseId: id, kind: decision.kind, tier: target.level, periods: request.periods },
      },
      tx,
    );
    const createdAt = new Date(now);
    const expiresAt = new Date(decision.expiresAt);
    await this.records.recordPurchase(
      {
        id,
        userId: request.userId,
        seq,
        kind: decision.kind,
        tier: target.level,
        periods: request.periods,
        priceCoins: decision.priceCoins,
        previous: { tier: buyer.tier, expiresAt: buyer.expiresAt },
        convertedMs: decision.convertedMs,
        expiresAt,
        ledgerEntryId: debit.entryId,
        createdAt,
      },
      tx,
    );
    return {
      purchase: {
        id,
        seq,
        kind: decision.kind,
        tier: target.level,
        periods: request.periods,
        priceCoins: decision.priceCoins,
        convertedMs: decision.convertedMs,
        expiresAt: expiresAt.toISOString(),
        createdAt: createdAt.toISOString(),
      },
      vip: { tier: target.level, expiresAt: expiresAt.toISOString() },
      coinBalance: debit.balanceAfter,
    };
  }

  /** After the commit, never failing the purchase: the socket event and progress. */
  private announce(userId: string, view: VipPurchaseView): void {
    const { purchase } = view;
    this.deps.progress?.emit({ kind: 'vip-bought', userId, at: new Date(purchase.createdAt), tier: purchase.tier, expiresAt: new Date(purchase.expiresAt) });
    if (!this.deps.events) return;
    const event: VipChangedEvent = {
      id: `vip_purchase:${purchase.id}`,
      type: 'vip.changed',
      at: new Date().toISOString(),
      data: { purchaseId: purchase.id, kind: purchase.kind, tier: purchase.tier, expiresAt: purchase.expiresAt },
    };
    this.deps.events.publishToUser(userId, event).catch((err: unknown) => this.deps.logger?.warn({ err, userId }, 'telling the user about their VIP failed'));
  }
}
