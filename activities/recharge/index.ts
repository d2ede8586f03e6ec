import { createHash } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ProgressEvents } from '../../services/progress';
import type { DataSource, EntityManager } from 'typeorm';
import { Ledger } from '../../db/repositories/ledger';
import { StorePurchaseRecords, type PurchaseRecord } from '../../db/repositories/store-purchases';
import { rechargeCoins, rechargeCreditKey, voidClawbackKey, type RechargeRefusal } from '../../domain/economy/recharge';
import { ErrorCode } from '../../domain/errors';
import type { PhoneSecrets } from '../../platform/crypto/phone-secrets';
import { ConsumptionState, PurchaseState, StoreRefusal, TransientStoreError, type StorePurchases } from '../../platform/stores/store-purchases';
import { asActivity } from '../failures';

/**
 * Takes a voided purchase's coins back without ever driving a balance negative. The settlement
 * helper's `GiftClawbacks` (services/economy/clawback.ts) has this shape: it also reverses the
 * buyer's gifts still in their hold. Until it is wired, `ledgerClawbacks` takes the coins back
 * through `Ledger.clawbackCoins` alone (debit what is there, record the rest as owed).
 */
export interface PurchaseClawbacks {
  clawbackPurchase(
    input: { userId: string; coins: number; purchasedAt: Date | string; idempotencyKey: string; metadata?: Record<string, unknown> },
    tx: EntityManager,
  ): Promise<{ applied: boolean; debited: number; owed: number; reversed?: readonly unknown[] }>;
  /** Called after the commit with what a clawback reversed (rankings). */
  notify?(reversed: readonly never[]): Promise<void>;
}

export function ledgerClawbacks(dataSource: DataSource): PurchaseClawbacks {
  const ledger = new Ledger(dataSource);
  return {
    async clawbackPurchase(input, tx) {
      const result = await ledger.clawbackCoins(
        { userId: input.userId, amount: input.coins, idempotencyKey: input.idempotencyKey, metadata: { ...input.metadata, purchasedAt: new Date(input.purchasedAt).toISOString() } },
        tx,
      );
      return { ...result, reversed: [] };
    },
  };
}

export interface RechargeActivityDeps {
  dataSource: DataSource;
  /** Decrypts the stored purchase tokens (the same AES-256-GCM key as phone numbers). */
  secrets: PhoneSecrets;
  /** Google Play; absent when no service account is configured (every call is then retried later). */
  store?: StorePurchases;
  clawbacks?: PurchaseClawbacks;
  /** Told of each credited recharge (medals, referral milestones); after the commit, best effort. */
  progress?: ProgressEvents;
}

export interface VerifiedPurchase {
  orderId: string;
  quantity: number;
  coins: number;
  bonusCoins: number;
  /** The purchase was credited by an earlier attempt (the flow retried after a crash). */
  alreadyCredited: boolean;
}

export interface CreditedRecharge {
  ledgerEntryId: string;
  coins: number;
  bonusCoins: number;
  coinBalance: number;
  orderId: string;
  /** Coins of this credit that paid down coins owed. */
  recovered: number;
}

/** Where a run of the voided-purchases reader stopped, for the next run of the same flow. */
export interface VoidedResume {
  startTimeMillis: number;
  pageToken: string;
  latestVoidedMillis: number;
}

export interface VoidedSyncResult {
  seen: number;
  clawedBack: number;
  /** More pages wait: the flow runs the activity again from here. */
  resume: VoidedResume | null;
}

export type RechargeActivities = ReturnType<typeof createRechargeActivities>;

const STORE: PurchaseRecord['store'] = 'google-play';
/** Voids can be listed a little after the time they carry: each run re-reads this much (idempotent). */
const VOID_OVERLAP_MS = 3_600_000;
/** Google keeps voided purchases for 30 days. */
const VOID_HISTORY_MS = 30 * 86_400_000;
const VOID_PAGES_PER_RUN = 20;

export function createRechargeActivities({ dataSource, secrets, store, clawbacks = ledgerClawbacks(dataSource), progress }: RechargeActivityDeps) {
  const records = new StorePurchaseRecords(dataSource);
  const ledger = new Ledger(dataSource);

  const googlePlay = (): StorePurchases => {
    if (!store) throw new TransientStoreError('Google Play is not configured (GOOGLE_PLAY_SERVICE_ACCOUNT_FILE)');
    return store;
  };
  const signal = () => Context.current().cancellationSignal;

  async function load(purchaseId: string): Promise<PurchaseRecord> {
    const record = await records.byId(purchaseId);
    if (!record) throw ApplicationFailure.create({ type: ErrorCode.NotFound, message: 'no such store purchase', nonRetryable: true });
    return record;
  }

  /** Records the refusal (a replay of the request answers it) and ends the attempt for good. */
  async function refuse(record: PurchaseRecord, code: RechargeRefusal, message: string): Promise<never> {
    await records.refuse(record.id, code);
    throw refusal(code, message);
  }

  return {
    /**
     * Asks Google about the purchase (purchases.products.get) and checks it: purchased, the
     * product we sell, bought from this account, not consumed yet (unless we credited it: then
     * this is a retry after a crash). Refusals are stored and thrown non-retryable with their
     * code; the store being down is thrown as is, for the retry policy.
     */
    async verifyPurchase(input: { purchaseId: string }): Promise<VerifiedPurchase> {
      return asActivity(async () => {
        const record = await load(input.purchaseId);
        if (record.state === 'refused') throw refusal(record.refusalCode as RechargeRefusal, 'the purchase was refused before');
        const credited = record.state !== 'verifying';
        if (credited && record.orderId && record.coins !== null && record.quantity !== null) {
          return { orderId: record.orderId, quantity: record.quantity, coins: record.coins, bonusCoins: record.bonusCoins ?? 0, alreadyCredited: true };
        }
        const pkg = await records.package(record.productId);
        if (!pkg?.enabled) return refuse(record, ErrorCode.ProductUnknown, 'this coin package is not sold');
        let purchase;
        try {
          purchase = await googlePlay().getProductPurchase(record.productId, secrets.decrypt(record.tokenCiphertext), { signal: signal() });
        } catch (err) {
          if (err instanceof StoreRefusal) return refuse(record, ErrorCode.PurchaseInvalid, 'Google Play does not know this purchase for this app and product');
          throw err;
        }
        if (purchase.purchaseState !== PurchaseState.Purchased) {
          return refuse(record, ErrorCode.PurchaseNotCompleted, purchase.purchaseState === PurchaseState.Pending ? 'the payment is still pending' : 'the purchase was canceled');
        }
        if (purchase.obfuscatedExternalAccountId !== record.userId) {
          return refuse(record, ErrorCode.PurchaseOtherAccount, 'the purchase was made for another account');
        }
        if (purchase.consumptionState === ConsumptionState.Consumed) {
          return refuse(record, ErrorCode.PurchaseAlreadyConsumed, 'the purchase was already used');
        }
        // Test purchases from license testers may carry no order id; the token hash stands in.
        const orderId = purchase.orderId ?? `token:${record.tokenHash.slice(0, 32)}`;
        const worth = rechargeCoins(pkg, purchase.quantity);
        await records.recordVerified(record.id, { orderId, quantity: purchase.quantity, ...worth, purchaseTime: new Date(Number(purchase.purchaseTimeMillis)) });
        return { orderId, quantity: purchase.quantity, ...worth, alreadyCredited: false };
      });
    },

    /**
     * Credits the purchase's coins once per order (`recharge:google-play:<orderId>`) and marks the
     * purchase credited, in one transaction. A retry finds both done and answers the same.
     */
    async creditRecharge(input: { purchaseId: string }): Promise<CreditedRecharge> {
      const credited = await asActivity(() =>
        dataSource.transaction(async (tx) => {
          const record = await records.byId(input.purchaseId, tx, { lock: true });
          if (!record) throw ApplicationFailure.create({ type: ErrorCode.NotFound, message: 'no such store purchase', nonRetryable: true });
          if (!record.orderId || record.coins === null || record.bonusCoins === null) throw new Error('the purchase was not verified before its credit');
          if (record.state === 'refused') throw refusal(record.refusalCode as RechargeRefusal, 'the purchase was refused');
          // creditCoins: a recharge also pays down coins owed after an earlier refund.
          const entry = await ledger.creditCoins(
            {
              userId: record.userId,
              amount: record.coins + record.bonusCoins,
              reason: 'recharge',
              idempotencyKey: rechargeCreditKey(STORE, record.orderId),
              metadata: { store: STORE, orderId: record.orderId, productId: record.productId, coins: record.coins, bonusCoins: record.bonusCoins },
            },
            tx,
          );
          if (record.state === 'verifying') await records.markCredited(record.id, entry.entryId, tx);
          const key = rechargeCreditKey(STORE, record.orderId);
          return {
            ledgerEntryId: record.ledgerEntryId ?? entry.entryId,
            coins: record.coins,
            bonusCoins: record.bonusCoins,
            coinBalance: (await records.balanceAfterCredit(key, tx)) ?? entry.balanceAfter,
            orderId: record.orderId,
            recovered: entry.recovered,
            userId: record.userId,
          };
        }),
      );
      const { userId, ...result } = credited;
      progress?.emit({ kind: 'recharged', userId, at: new Date(), purchaseId: input.purchaseId, coins: result.coins + result.bonusCoins });
      return result;
    },

    /**
     * Consumes the credited purchase at Google, so it can be bought again. A refusal means an
     * earlier attempt consumed it, or the purchase was refunded meanwhile (the voided-purchases
     * reader claws that back): either way nothing is left to do here.
     */
    async consumePurchase(input: { purchaseId: string }): Promise<{ consumed: boolean }> {
      return asActivity(async () => {
        const record = await load(input.purchaseId);
        if (record.state !== 'credited') return { consumed: record.state === 'consumed' };
        const token = secrets.decrypt(record.tokenCiphertext);
        try {
          await googlePlay().consumeProductPurchase(record.productId, token, { signal: signal() });
        } catch (err) {
          if (!(err instanceof StoreRefusal)) throw err;
          if (err.reason === 'NOT_CONSUMABLE') {
            const now = await googlePlay().getProductPurchase(record.productId, token, { signal: signal() });
            if (now.consumptionState !== ConsumptionState.Consumed && now.purchaseState === PurchaseState.Purchased) {
              throw new TransientStoreError('Google Play refused to consume a purchase that is neither consumed nor canceled');
            }
          }
        }
        await records.markConsumed(record.id);
        return { consumed: true };
      });
    },

    /** The store gave up on a purchase the flow could not verify in time. */
    async refuseRecharge(input: { purchaseId: string; code: RechargeRefusal }): Promise<void> {
      await records.refuse(input.purchaseId, input.code);
    },

    /**
     * Reads Google's voided purchases since the stored cursor, page by page, and claws back each
     * one we credited (`void:google-play:<orderId>`), marking the purchase voided in the same
     * transaction. Idempotent: a void seen twice changes nothing the second time.
     */
    async syncVoidedPurchases(input: { pagesPerRun?: number; pageSize?: number; resume?: VoidedResume } = {}): Promise<VoidedSyncResult> {
      return asActivity(async () => {
        const startTimeMillis = input.resume?.startTimeMillis ?? Math.max((await records.voidCursor(STORE)) ?? 0, Date.now() - VOID_HISTORY_MS);
        let pageToken = input.resume?.pageToken;
        let latest = input.resume?.latestVoidedMillis ?? 0;
        let pages = 0;
        let seen = 0;
        let clawedBack = 0;
        do {
          const page = await googlePlay().listVoidedPurchases({ startTimeMillis, pageToken, maxResults: input.pageSize ?? 1000 }, { signal: signal() });
          for (const voided of page.voidedPurchases) {
            seen += 1;
            latest = Math.max(latest, Number(voided.voidedTimeMillis));
            if (await clawBack(voided)) clawedBack += 1;
          }
          pages += 1;
          Context.current().heartbeat({ pages });
          pageToken = page.tokenPagination?.nextPageToken;
        } while (pageToken && pages < (input.pagesPerRun ?? VOID_PAGES_PER_RUN));
        // More pages: the flow's next run goes on from this page. The cursor moves only once
        // every page is handled, so a run cut short re-reads (idempotently) rather than skips.
        if (pageToken) return { seen, clawedBack, resume: { startTimeMillis, pageToken, latestVoidedMillis: latest } };
        if (latest > 0) await records.saveVoidCursor(STORE, Math.max(startTimeMillis, latest - VOID_OVERLAP_MS));
        return { seen, clawedBack, resume: null };
      });
    },
  };

  async function clawBack(voided: { purchaseToken: string; orderId?: string; voidedQuantity?: number; voidedReason: number; voidedSource: number }): Promise<boolean> {
    const outcome = await dataSource.transaction(async (tx) => {
      const record = voided.orderId
        ? await records.byOrderId(STORE, voided.orderId, tx, { lock: true })
        : await lockedByToken(tx, createHash('sha256').update(voided.purchaseToken).digest('hex'));
      if (!record || !record.orderId || record.coins === null || record.bonusCoins === null) return null;
      if (record.state !== 'credited' && record.state !== 'consumed') return null;
      const total = record.coins + record.bonusCoins;
      const quantity = record.quantity ?? 1;
      // A partial refund of a multi-quantity purchase takes back its share.
      const coins = voided.voidedQuantity && voided.voidedQuantity < quantity ? Math.floor((total * voided.voidedQuantity) / quantity) : total;
      const result = await clawbacks.clawbackPurchase(
        {
          userId: record.userId,
          coins,
          purchasedAt: record.creditedAt ?? record.createdAt,
          idempotencyKey: voidClawbackKey(STORE, record.orderId),
          metadata: { store: STORE, orderId: record.orderId, productId: record.productId, voidedReason: voided.voidedReason, voidedSource: voided.voidedSource },
        },
        tx,
      );
      await records.markVoided(record.id, tx);
      return result;
    });
    if (outcome?.applied && outcome.reversed?.length && clawbacks.notify) await clawbacks.notify(outcome.reversed as never[]);
    return outcome !== null;
  }

  async function lockedByToken(tx: EntityManager, tokenHash: string): Promise<PurchaseRecord | null> {
    const rows = (await tx.query(`SELECT id FROM store_purchases WHERE store = $1 AND token_hash = $2`, [STORE, tokenHash])) as { id: string }[];
    return rows[0] ? records.byId(rows[0].id, tx, { lock: true }) : null;
  }
}

function refusal(code: RechargeRefusal, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: code, message, nonRetryable: true });
}
