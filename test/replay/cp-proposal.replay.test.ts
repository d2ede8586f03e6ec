import { Worker } from '@temporalio/worker';
import { loadHistories } from './histories';
import { workflowBundle } from '../support/time-skipping';

/**
 * Replays recorded histories of the cp-proposal flow against today's code (recorded by
 * test/workflows/cp-proposal.workflow.test.ts with AURA_RECORD_HISTORIES=1): a change that would
 * break proposals still waiting for an answer, or holding escrow, fails here.
 */
const histories = loadHistories('cp-proposal.');

it('has recorded histories for the main paths of the flow', () => {
  expect(histories.map((h) => h.workflowId).sort()).toEqual(['cp-proposal.accepted', 'cp-proposal.declined', 'cp-proposal.expired', 'cp-proposal.partner-taken']);
});

it.each(histories.map((h) => [h.workflowId, h] as const))('replays %s without nondeterminism', async (_id, recorded) => {
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: recorded.workflowId }, recorded.history, recorded.workflowId),
  ).resolves.toBeUndefined();
});
