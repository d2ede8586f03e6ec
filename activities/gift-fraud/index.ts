import type { DataSource } from 'typeorm';
import { GiftFraudRecords } from '../../db/repositories/gift-fraud';
import {
  DEFAULT_FRAUD_RULES,
  findRoundTrips,
  findSharedDevices,
  validateFraudRules,
  type FraudKind,
  type FraudRules,
} from '../../domain/economy/fraud';
import { AppError, ErrorCode } from '../../domain/errors';
import type { GiftMetrics } from '../../platform/metrics';
import { asActivity } from '../failures';

export interface ScanGiftFraudInput {
  /** ISO instants: receipts created after `since`, up to and including `asOf`. */
  since: string;
  asOf: string;
  /** Thresholds; missing ones take DEFAULT_FRAUD_RULES. */
  rules?: Partial<FraudRules>;
}

export interface ScanGiftFraudResult {
  asOf: string;
  /** Patterns the rules found (new or already flagged). */
  findings: number;
  newFlags: number;
  /** Flags that gained receipts (new ones included). */
  updatedFlags: number;
  heldReceipts: number;
  newFlagsByKind: Record<FraudKind, number>;
}

export interface GiftFraudActivityDeps {
  dataSource: DataSource;
  /** Where new flags are counted (`aura_gift_fraud_flags_total`); optional in processes that don't scrape. */
  giftMetrics?: Pick<GiftMetrics, 'giftFraudFlags'>;
}

export type GiftFraudActivities = ReturnType<typeof createGiftFraudActivities>;

/** Scans serialize on this advisory lock: two runs never race to open the same flag. */
const SCAN_LOCK_KEY = 'gift-fraud-scan';

export function createGiftFraudActivities({ dataSource, giftMetrics }: GiftFraudActivityDeps) {
  const records = new GiftFraudRecords(dataSource);

  return {
    /**
     * Applies the anti-fraud rules to the receipts of [since, asOf] and, in one transaction,
     * opens or extends a flag per pattern and moves its pending receipts to held (the settlement
     * flow never settles held receipts). Receipts already settled are not clawed back: the flag's
     * evidence counts them and staff decide. At-least-once safe: a receipt joins at most one
     * flag of each kind, so a rerun (or the next minute's scan) adds nothing twice.
     */
    async scanGiftFraud(input: ScanGiftFraudInput): Promise<ScanGiftFraudResult> {
      return asActivity(async () => {
        const rules: FraudRules = { ...DEFAULT_FRAUD_RULES, ...input.rules };
        const problems = validateFraudRules(rules);
        const since = new Date(input.since);
        const asOf = new Date(input.asOf);
        if (Number.isNaN(since.getTime()) || Number.isNaN(asOf.getTime()) || since >= asOf) problems.push('since must be an instant before asOf');
        if (problems.length) throw new AppError(ErrorCode.ValidationFailed, `invalid fraud scan: ${problems.join('; ')}`);
        const window = { since: since.getTime(), asOf: asOf.getTime() };
        const devicesSince = new Date(asOf.getTime() - rules.deviceLookbackDays * 86_400_000);

        const outcome = await dataSource.transaction(async (tx) => {
          await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [SCAN_LOCK_KEY]);
          const { receipts, devicesBySender } = await records.scanCandidates({ since, asOf, devicesSince }, tx);
          const findings = [...findRoundTrips(receipts, window, rules), ...findSharedDevices(receipts, devicesBySender, window, rules)];
          const newFlagsByKind: Record<FraudKind, number> = { 'round-trip': 0, 'shared-device': 0 };
          let updatedFlags = 0;
          let heldReceipts = 0;
          for (const finding of findings) {
            const recorded = await records.recordFinding(tx, finding);
            if (!recorded) continue;
            updatedFlags += 1;
            heldReceipts += recorded.held.length;
            if (recorded.created) newFlagsByKind[finding.kind] += 1;
          }
          return { findings: findings.length, updatedFlags, heldReceipts, newFlagsByKind };
        });
        // Counted after the commit, so a rolled-back scan counts nothing.
        for (const [kind, n] of Object.entries(outcome.newFlagsByKind)) if (n > 0) giftMetrics?.giftFraudFlags.inc({ kind }, n);
        const newFlags = outcome.newFlagsByKind['round-trip'] + outcome.newFlagsByKind['shared-device'];
        return { asOf: asOf.toISOString(), ...outcome, newFlags };
      });
    },
  };
}
