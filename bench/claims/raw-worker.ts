import { NativeConnection, Worker } from '@temporalio/worker';
import { workerTuning } from '../../workers/create-worker';

/** The worker for raw-workflows.ts, tuned like the application's worker (same `workerTuning`). */
async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const taskQueue = process.env.BENCH_RAW_TASK_QUEUE ?? 'bench-raw';
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    namespace: 'default',
    taskQueue,
    workflowsPath: require.resolve('./raw-workflows'),
    activities: { noop: async () => undefined },
    ...workerTuning(),
  });
  await worker.run(); // stops on SIGINT/SIGTERM by itself
  await connection.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
