import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger as PinoLogger } from 'pino';
import { createActivities, type ActivityDeps } from '../activities';

export interface WorkerSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  /** A prebuilt bundle (production); without it the workflows are bundled from source. */
  workflowBundlePath?: string;
}

export const WORKFLOWS_PATH = require.resolve('../workflows');

/** Capacity settings, shared with the benchmark's raw worker so both are measured alike. */
export function workerTuning(): Pick<
  WorkerOptions,
  'maxConcurrentActivityTaskExecutions' | 'maxConcurrentLocalActivityExecutions' | 'maxCachedWorkflows' | 'shutdownGraceTime'
> {
  return {
    // Bounded so one slow dependency can't pile up unbounded work in this process.
    maxConcurrentActivityTaskExecutions: 100,
    maxConcurrentLocalActivityExecutions: 100,
    // Entity flows (one per user) are small and come back daily; one evicted from the cache is
    // replayed from its whole history (up to 100 claims) on its next claim. A few MB for 2,000.
    maxCachedWorkflows: 2_000,
    shutdownGraceTime: '10 seconds',
  };
}

/** The worker: every workflow and activity, polling one task queue. */
export async function createAuraWorker(
  settings: WorkerSettings,
  deps: ActivityDeps,
  logger?: PinoLogger,
): Promise<{ worker: Worker; connection: NativeConnection }> {
  const connection = await NativeConnection.connect({ address: settings.address });
  const workflowSource: Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'> = settings.workflowBundlePath
    ? { workflowBundle: { codePath: settings.workflowBundlePath } }
    : { workflowsPath: WORKFLOWS_PATH };
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    ...workflowSource,
    activities: createActivities(deps),
    ...workerTuning(),
  });
  logger?.info({ taskQueue: settings.taskQueue }, 'worker ready');
  return { worker, connection };
}
