import { Worker } from '@temporalio/worker';
import { loadHistories } from './histories';
import { workflowBundle } from '../support/time-skipping';

/**
 * Replays recorded histories of the `vip:<userId>` flow against today's code (recorded by
 * test/workflows/vip.workflow.test.ts with AURA_RECORD_HISTORIES=1): a change that would break
 * running memberships (their timers, reminders, expiry) fails here.
 */
const histories = [...loadHistories('vip.'), ...loadHistories('vip-expiry-sweep.')];

it('has recorded histories for the main paths of the flow', () => {
  expect(histories.map((h) => h.workflowId).sort()).toEqual([
    'vip-expiry-sweep.resumed',
    'vip.activity-retried',
    'vip.continued-as-new',
    'vip.expired',
    'vip.purchase-wins-race',
    'vip.renewed',
    'vip.upgraded',
  ]);
});

it.each(histories.map((h) => [h.workflowId, h] as const))('replays %s without nondeterminism', async (_id, recorded) => {
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: recorded.workflowId }, recorded.history, recorded.workflowId),
  ).resolves.toBeUndefined();
});
