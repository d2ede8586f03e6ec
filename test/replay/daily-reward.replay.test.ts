import { Worker } from '@temporalio/worker';
import { loadHistories } from './histories';
import { workflowBundle } from '../support/time-skipping';

/**
 * Replays recorded histories of the daily-reward workflow against today's code. A change that
 * would make running workflows non-deterministic fails here instead of in production.
 * The first five were recorded before claims carried the profile's zone and coin table (claims
 * without arguments, states without `lastClaimAt`) and are kept as recorded: they are the runs
 * still open in production. The zone and table histories were recorded after.
 * Re-record with `AURA_RECORD_HISTORIES=1 npm test -- test/workflows` after an intended change
 * (and version the workflow with patched() if old runs are still open).
 */
const histories = loadHistories('daily-reward.');

it('has recorded histories for the main paths of the flow', () => {
  expect(histories.map((h) => h.workflowId).sort()).toEqual([
    'daily-reward.coin-table-changed',
    'daily-reward.continued-as-new',
    'daily-reward.missed-day-resets',
    'daily-reward.reminder-re-aimed',
    'daily-reward.reminder-sent',
    'daily-reward.same-day-claim-rejected',
    'daily-reward.seven-day-cycle-wraps',
    'daily-reward.zone-flipped',
  ]);
});

it.each(histories.map((h) => [h.workflowId, h] as const))('replays %s without nondeterminism', async (_id, recorded) => {
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: recorded.workflowId }, recorded.history, recorded.workflowId),
  ).resolves.toBeUndefined();
});
