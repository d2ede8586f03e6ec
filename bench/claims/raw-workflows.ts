import { condition, defineUpdate, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';

/**
 * The Temporal server's own ceiling, measured beside the claim path: workflows that do nothing
 * but what the server must record. Run by raw-worker.ts on its own task queue.
 */
export interface RawActivities {
  noop(): Promise<void>;
}

const { noop } = proxyActivities<RawActivities>({ startToCloseTimeout: '30 seconds' });
const local = proxyLocalActivities<RawActivities>({ startToCloseTimeout: '30 seconds' });

export const noopUpdate = defineUpdate<void>('noop');

/** Starts and completes in its first workflow task. */
export async function emptyWorkflow(): Promise<void> {
  // nothing: one workflow task, then completion
}

/** The claim's shape without our code: Update-with-Start, one activity inside the update, done. */
export async function noopUpdateWorkflow(options: { localActivity: boolean }): Promise<void> {
  let done = false;
  setHandler(noopUpdate, async () => {
    await (options.localActivity ? local.noop() : noop());
    done = true;
  });
  await condition(() => done);
}
