import { proxyActivities, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { GiftFraudActivities, ScanGiftFraudResult } from '../../activities/gift-fraud';
import { DEFAULT_FRAUD_RULES, scanWindow, summarizeScan, type FraudRules } from '../../domain/economy/fraud';
import { STANDARD_ACTIVITY_OPTIONS } from '../activity-options';

export interface GiftFraudScanInput {
  /** Thresholds; missing ones take DEFAULT_FRAUD_RULES. */
  rules?: Partial<FraudRules>;
}

const { scanGiftFraud } = proxyActivities<GiftFraudActivities>(STANDARD_ACTIVITY_OPTIONS);

/**
 * One anti-fraud scan, started every minute by the `gift-fraud-scan` Schedule: the window ends
 * at the run's start (the schedule's nominal time when there is one) and reaches back
 * `windowHours`. The scan itself is one idempotent activity; this only sequences it.
 */
export async function giftFraudScanWorkflow(input: GiftFraudScanInput = {}): Promise<ScanGiftFraudResult> {
  const rules: FraudRules = { ...DEFAULT_FRAUD_RULES, ...input.rules };
  // Workflow time is deterministic (the first task's time), so a replay asks for the same window.
  const window = scanWindow(workflowInfo().startTime.getTime(), rules);
  const result = await scanGiftFraud({ since: new Date(window.since).toISOString(), asOf: new Date(window.asOf).toISOString(), rules });
  setCurrentDetails(summarizeScan(result));
  return result;
}
