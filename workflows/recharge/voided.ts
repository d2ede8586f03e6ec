import { proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { RechargeActivities, VoidedResume } from '../../activities/recharge';
import { STANDARD_ACTIVITY_OPTIONS } from '../activity-options';

export interface VoidedPurchasesInput {
  /** Pages of Google's voided list per activity run. */
  pagesPerRun?: number;
  /** Voids per page: Google's maximum, 1000, unless told. */
  pageSize?: number;
}

export interface VoidedPurchasesSummary {
  seen: number;
  clawedBack: number;
  runs: number;
}

const { syncVoidedPurchases } = proxyActivities<RechargeActivities>({
  ...STANDARD_ACTIVITY_OPTIONS,
  // Up to 20 pages and their clawbacks per run; it heartbeats after each page.
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '1 minute',
});

/** At most this many activity runs per scheduled run; the next run goes on from the cursor. */
const MAX_RUNS = 10;

/**
 * Started by the `google-play-voided-purchases` Schedule: reads Google's voided purchases since
 * the cursor kept in PostgreSQL and claws back each refunded or charged-back purchase we credited.
 */
export async function voidedPurchasesWorkflow(input: VoidedPurchasesInput = {}): Promise<VoidedPurchasesSummary> {
  const summary: VoidedPurchasesSummary = { seen: 0, clawedBack: 0, runs: 0 };
  let resume: VoidedResume | undefined;
  for (;;) {
    const run = await syncVoidedPurchases({ pagesPerRun: input.pagesPerRun, pageSize: input.pageSize, resume });
    summary.seen += run.seen;
    summary.clawedBack += run.clawedBack;
    summary.runs += 1;
    setCurrentDetails(`voided purchases: ${summary.seen} seen, ${summary.clawedBack} clawed back`);
    if (!run.resume || summary.runs >= MAX_RUNS) return summary;
    resume = run.resume;
  }
}
