import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { DataSource } from 'typeorm';
import { StorePurchaseRecords, type PurchaseRecord, type ShownPrice } from '../../db/repositories/store-purchases';
import { rechargeCreditKey, rechargeWorkflowId } from '../../domain/economy/recharge';
import { AppError, ErrorCode } from '../../domain/errors';
import { FlowKind, SearchAttribute } from '../../domain/flows';
import type { PhoneSecrets } from '../../platform/crypto/phone-secrets';
import { translateTemporalError } from '../../platform/temporal-errors';
import { rechargeOutcomeUpdate, type RechargeInput } from '../../workflows/recharge/definitions';
import type { rechargeWorkflow } from '../../workflows/recharge/workflow';

export type RechargeView =
  | { status: 'pending'; rechargeId: string; productId: string }
  | {
      status: 'credited' | 'voided';
      rechargeId: string;
      productId: string;
      orderId: string;
      coins: number;
      bonusCoins: number;
      /** The balance right after this credit (a replay answers the same number). */
      coinBalance: number;
    };

export interface PackageView {
  productId: string;
  coins: number;
  bonusCoins: number;
  price: ShownPrice | null;
}

/** Starting a flow is one RPC; it answers within this or the request fails as unavailable. */
const START_TIMEOUT_MS = 5_000;

/**
 * Store recharges for the API: registers a purchase token (kept encrypted, looked up by its hash),
 * starts its flow (one per token) and waits a few seconds for the outcome. A purchase already
 * decided is answered from PostgreSQL without asking Temporal, so a replay answers the first answer.
 */
export class RechargeService {
  private readonly records: StorePurchaseRecords;

  constructor(
    private readonly deps: { dataSource: DataSource; temporal: Client; taskQueue: string; secrets: PhoneSecrets; waitMs: number },
  ) {
    this.records = new StorePurchaseRecords(deps.dataSource);
  }

  async packages(region: string | null): Promise<PackageView[]> {
    const packages = await this.records.packages(region);
    return packages.map(({ productId, coins, bonusCoins, price }) => ({ productId, coins, bonusCoins, price }));
  }

  async rechargeGooglePlay(userId: string, productId: string, purchaseToken: string): Promise<RechargeView> {
    const pkg = await this.records.package(productId);
    if (!pkg?.enabled) throw new AppError(ErrorCode.ProductUnknown, 'this coin package is not sold');
    const tokenHash = createHash('sha256').update(purchaseToken).digest('hex');
    const record =
      (await this.records.byTokenHash('google-play', tokenHash)) ??
      (await this.records.register({ store: 'google-play', tokenHash, tokenCiphertext: this.deps.secrets.encrypt(purchaseToken), userId, productId }));
    if (record.userId !== userId) throw new AppError(ErrorCode.PurchaseOtherAccount, 'this purchase belongs to another account');
    if (record.productId !== productId) throw new AppError(ErrorCode.PurchaseInvalid, 'this purchase token is for another product');
    if (record.state !== 'verifying') return this.view(record);

    await this.start(record);
    let waitFailure: unknown;
    try {
      await this.deps.temporal.withDeadline(Date.now() + this.deps.waitMs, () =>
        this.deps.temporal.workflow.getHandle(rechargeWorkflowId(tokenHash)).executeUpdate(rechargeOutcomeUpdate),
      );
    } catch (err) {
      // A refusal is stored before the flow reports it: read below, like a credit.
      waitFailure = translateTemporalError(err);
    }
    const now = await this.records.byId(record.id);
    if (now && now.state !== 'verifying') return this.view(now);
    if (waitFailure instanceof AppError && waitFailure.code !== ErrorCode.DependencyUnavailable && waitFailure.code !== ErrorCode.NotFound) throw waitFailure;
    // Still verifying: the store is slow or down, and the flow goes on without us.
    return { status: 'pending', rechargeId: record.id, productId: record.productId };
  }

  /** The caller's own recharge; another user's is not found. */
  async get(userId: string, rechargeId: string): Promise<RechargeView> {
    const record = await this.records.byId(rechargeId);
    if (!record || record.userId !== userId) throw new AppError(ErrorCode.NotFound, 'no such recharge');
    return this.view(record);
  }

  private async start(record: PurchaseRecord): Promise<void> {
    const input: RechargeInput = { purchaseId: record.id, userId: record.userId, productId: record.productId };
    try {
      await this.deps.temporal.withDeadline(Date.now() + START_TIMEOUT_MS, () =>
        this.deps.temporal.workflow.start<typeof rechargeWorkflow>('rechargeWorkflow', {
          workflowId: rechargeWorkflowId(record.tokenHash),
          taskQueue: this.deps.taskQueue,
          args: [input],
          // A replay joins the running flow; a flow that finished decided the purchase (its row
          // says how); one that failed or was terminated may be started again.
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
          typedSearchAttributes: new TypedSearchAttributes([
            { key: SearchAttribute.UserId, value: record.userId },
            { key: SearchAttribute.FlowKind, value: FlowKind.StoreRecharge },
          ]),
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw translateTemporalError(err);
    }
  }

  private async view(record: PurchaseRecord): Promise<RechargeView> {
    if (record.state === 'refused') {
      throw new AppError((record.refusalCode ?? ErrorCode.PurchaseInvalid) as ErrorCode, refusalMessages[record.refusalCode ?? ''] ?? 'the purchase was refused');
    }
    if (record.state === 'verifying' || !record.orderId) return { status: 'pending', rechargeId: record.id, productId: record.productId };
    const coinBalance = await this.records.balanceAfterCredit(rechargeCreditKey(record.store, record.orderId));
    return {
      status: record.state === 'voided' ? 'voided' : 'credited',
      rechargeId: record.id,
      productId: record.productId,
      orderId: record.orderId,
      coins: record.coins ?? 0,
      bonusCoins: record.bonusCoins ?? 0,
      coinBalance: coinBalance ?? 0,
    };
  }
}

const refusalMessages: Record<string, string> = {
  [ErrorCode.ProductUnknown]: 'this coin package is not sold',
  [ErrorCode.PurchaseInvalid]: 'Google Play does not know this purchase for this app and product',
  [ErrorCode.PurchaseNotCompleted]: 'the purchase is not completed (pending or canceled)',
  [ErrorCode.PurchaseOtherAccount]: 'the purchase was made for another account',
  [ErrorCode.PurchaseAlreadyConsumed]: 'the purchase was already used',
  [ErrorCode.StoreUnavailable]: 'the store could not confirm the purchase in time',
};
