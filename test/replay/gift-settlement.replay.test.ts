import { Worker } from '@temporalio/worker';
import { loadHistories } from './histories';
import { workflowBundle } from '../support/time-skipping';

/**
 * Replays recorded histories of the gift-settlement workflow against today's code, so a change
 * that would break the flows sleeping through their hold fails here. Re-record with
 * `AURA_RECORD_HISTORIES=1 npx jest test/workflows/gift-settlement` after an intended change
 * (and version it with patched(): flows sleep for days, so old runs are always open).
 */
const histories = loadHistories('gift-settlement.');

it('has recorded histories for the main paths of the flow', () => {
  expect(histories.map((h) => h.workflowId).sort()).toEqual([
    'gift-settlement.clawback-during-hold',
    'gift-settlement.database-failures',
    'gift-settlement.held-not-settled',
    'gift-settlement.hold-lengthened',
    'gift-settlement.hold-passes',
    'gift-settlement.released',
    'gift-settlement.worker-lost-after-commit',
  ]);
});

it.each(histories.map((h) => [h.workflowId, h] as const))('replays %s without nondeterminism', async (_id, recorded) => {
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: recorded.workflowId }, recorded.history, recorded.workflowId),
  ).resolves.toBeUndefined();
});
