import { Worker } from '@temporalio/worker';
import { loadHistories } from './histories';
import { workflowBundle } from '../support/time-skipping';

/** Replays recorded phone OTP histories against today's workflow code (see daily-reward.replay.test.ts). */
const histories = loadHistories('otp.');

it('has recorded histories for the main paths of the OTP flow', () => {
  expect(histories.map((h) => h.workflowId).sort()).toEqual(['otp.attempts-exhausted', 'otp.hourly-cap', 'otp.verified']);
});

it.each(histories.map((h) => [h.workflowId, h] as const))('replays %s without nondeterminism', async (_id, recorded) => {
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: recorded.workflowId }, recorded.history, recorded.workflowId),
  ).resolves.toBeUndefined();
});
