import { Worker } from '@temporalio/worker';
import { loadHistories } from './histories';
import { workflowBundle } from '../support/time-skipping';

/** Replays recorded anti-fraud scan histories against today's workflow code (see daily-reward.replay.test.ts). */
const histories = loadHistories('gift-fraud-scan.');

it('has a recorded history of a scan', () => {
  expect(histories.map((h) => h.workflowId)).toEqual(['gift-fraud-scan.flagged']);
});

it.each(histories.map((h) => [h.workflowId, h] as const))('replays %s without nondeterminism', async (_id, recorded) => {
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: recorded.workflowId }, recorded.history, recorded.workflowId),
  ).resolves.toBeUndefined();
});
