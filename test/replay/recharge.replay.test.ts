import { Worker } from '@temporalio/worker';
import { loadHistories } from './histories';
import { workflowBundle } from '../support/time-skipping';

/**
 * Replays recorded histories of the recharge flow against today's code (recorded by
 * test/workflows/recharge.workflow.test.ts with AURA_RECORD_HISTORIES=1): a change that would
 * break purchases still being verified or consumed fails here.
 */
const histories = loadHistories('recharge.');

it('has recorded histories for the main paths of the flow', () => {
  expect(histories.map((h) => h.workflowId).sort()).toEqual(['recharge.credited', 'recharge.refused', 'recharge.store-down-then-credited', 'recharge.voided-purchases']);
});

it.each(histories.map((h) => [h.workflowId, h] as const))('replays %s without nondeterminism', async (_id, recorded) => {
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: recorded.workflowId }, recorded.history, recorded.workflowId),
  ).resolves.toBeUndefined();
});
