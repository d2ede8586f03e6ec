import { proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { VipActivities } from '../../activities/vip';
import { STANDARD_ACTIVITY_OPTIONS } from '../activity-options';
import type { ResumeOverdueVipInput } from '../../activities/vip';

export type VipExpirySweepInput = ResumeOverdueVipInput;

const { resumeOverdueVipFlows } = proxyActivities<VipActivities>({ ...STANDARD_ACTIVITY_OPTIONS, startToCloseTimeout: '2 minutes', heartbeatTimeout: '30 seconds' });

/**
 * One run of the `vip-expiry-sweep` Schedule: VIP memberships still on record past their expiry
 * (their flow never heard of the purchase) are handed back to their `vip:<userId>` flow, which
 * expires them. Normally it finds nothing.
 */
export async function vipExpirySweepWorkflow(input: VipExpirySweepInput): Promise<{ overdue: number; signalled: number }> {
  const result = await resumeOverdueVipFlows(input);
  setCurrentDetails(`overdue ${result.overdue}, signalled ${result.signalled}`);
  return result;
}
