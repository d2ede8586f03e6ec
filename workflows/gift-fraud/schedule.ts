import { FlowKind } from '../../domain/flows';
import type { GiftFraudScanInput } from './workflow';

/**
 * The Temporal Schedule that runs the anti-fraud scan, for `workers/schedules.ts` to create
 * idempotently at worker start. A run that is still going when the next is due makes the next
 * one skip (the scan's window overlaps the previous one anyway).
 */
export const giftFraudScanSchedule = {
  scheduleId: 'gift-fraud-scan',
  workflowType: 'giftFraudScanWorkflow',
  /** Each run's workflow id is this plus the schedule's timestamp. */
  workflowIdPrefix: 'gift-fraud-scan',
  intervalSeconds: 60,
  overlap: 'SKIP',
  flowKind: FlowKind.GiftFraudScan,
  args: [{}] as [GiftFraudScanInput],
} as const;
