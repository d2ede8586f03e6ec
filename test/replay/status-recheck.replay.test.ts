import { Worker } from '@temporalio/worker';
import { loadHistories } from './histories';
import { workflowBundle } from '../support/time-skipping';

/** Replays recorded levels-and-medals re-check histories against today's workflow code (see daily-reward.replay.test.ts). */
const histories = loadHistories('status-recheck.');

it('has a recorded history of a re-check', () => {
  expect(histories.map((h) => h.workflowId)).toEqual(['status-recheck.ok']);
});

it.each(histories.map((h) => [h.workflowId, h] as const))('replays %s without nondeterminism', async (_id, recorded) => {
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: recorded.workflowId }, recorded.history, recorded.workflowId),
  ).resolves.toBeUndefined();
});
