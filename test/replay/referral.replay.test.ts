import { Worker } from '@temporalio/worker';
import { loadHistories } from './histories';
import { workflowBundle } from '../support/time-skipping';

/**
 * Replays recorded histories of the referral flow against today's code (recorded by
 * test/workflows/referral.workflow.test.ts with AURA_RECORD_HISTORIES=1): a change that would
 * break referral flows still waiting out their window fails here.
 */
const histories = loadHistories('referral.');

it('has recorded histories for the main paths of the flow', () => {
  expect(histories.map((h) => h.workflowId).sort()).toEqual([
    'referral.expired',
    'referral.in-order',
    'referral.ledger-down',
    'referral.lost-nudge',
    'referral.out-of-order',
  ]);
});

it.each(histories.map((h) => [h.workflowId, h] as const))('replays %s without nondeterminism', async (_id, recorded) => {
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: recorded.workflowId }, recorded.history, recorded.workflowId),
  ).resolves.toBeUndefined();
});
