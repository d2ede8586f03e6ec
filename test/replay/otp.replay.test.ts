import { Worker } from '@temporalio/worker';
import { loadHistories } from './histories';
import { workflowBundle } from '../support/time-skipping';

/**
 * Replays recorded phone OTP histories against today's workflow code (see daily-reward.replay.test.ts).
 * `otp.before-patch.*` were recorded before OTP_COMMIT_AFTER_SUCCESS (runs open at its deploy
 * replay through the unpatched branch); the others with it.
 */
const histories = loadHistories('otp.');

it('has recorded histories for the main paths of the OTP flow, before and after the commit-after-success patch', () => {
  expect(histories.map((h) => h.workflowId).sort()).toEqual([
    'otp.attempts-exhausted',
    'otp.before-patch.attempts-exhausted',
    'otp.before-patch.hourly-cap',
    'otp.before-patch.verified',
    'otp.hourly-cap',
    'otp.sign-in-retried',
    'otp.sms-provider-down',
    'otp.sms-rejected',
    'otp.verified',
  ]);
});

it.each(histories.map((h) => [h.workflowId, h] as const))('replays %s without nondeterminism', async (_id, recorded) => {
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: recorded.workflowId }, recorded.history, recorded.workflowId),
  ).resolves.toBeUndefined();
});
