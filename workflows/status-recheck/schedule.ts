import { FlowKind } from '../../domain/flows';

/**
 * The Temporal Schedule that runs the levels-and-medals re-check, for `workers/schedules.ts` to
 * create idempotently at worker start. A run still going when the next is due makes the next
 * skip (the windows overlap, so nothing is missed).
 */
export const statusRecheckSchedule = {
  scheduleId: 'status-recheck',
  workflowType: 'statusRecheckWorkflow',
  /** Each run's workflow id is this plus the schedule's timestamp. */
  workflowIdPrefix: 'status-recheck',
  flowKind: FlowKind.StatusRecheck,
} as const;
