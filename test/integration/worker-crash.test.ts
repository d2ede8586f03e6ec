import { DailyRewardFlows } from '../../services/daily-reward/flow-client';
import { DEFAULT_DAILY_REWARD_POLICY } from '../../domain/daily-reward/cycle';
import { runEntryPoint, type ChildService } from '../support/node-process';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * A worker process killed in the middle of the flow (right after the credit committed, before
 * Temporal heard the activity finished) loses nothing and credits nothing twice: a restarted
 * worker retries the activity, which finds its idempotency key already in the ledger.
 */
let stack: RealStack;
const workers: ChildService[] = [];

beforeAll(async () => {
  stack = await connectRealStack('worker-crash');
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await stack?.close();
});

function startWorkerProcess(env: Record<string, string> = {}): ChildService {
  const worker = runEntryPoint('workers/main.ts', { TEMPORAL_TASK_QUEUE: stack.taskQueue, LOG_LEVEL: 'info', ...env });
  workers.push(worker);
  return worker;
}

it('credits exactly once when the worker is killed after the credit commits and another worker takes over', async () => {
  const user = await stack.newUser();
  const flows = new DailyRewardFlows(stack.temporal, stack.taskQueue, DEFAULT_DAILY_REWARD_POLICY);

  const doomed = startWorkerProcess({ AURA_FAULT_CRASH_AFTER_CREDIT: '1' });
  await doomed.waitFor(/worker ready/);
  const claim = flows.claim({ id: user.id, timeZone: 'UTC' });

  const death = await doomed.exited;
  expect(death.signal).toBe('SIGKILL');
  // The effect is durable although Temporal never heard that the activity finished.
  const committed = await stack.dataSource.query(`SELECT count(*)::int AS n FROM ledger_entries WHERE user_id = $1`, [user.id]);
  expect(committed).toEqual([{ n: 1 }]);

  const successor = startWorkerProcess();
  await successor.waitFor(/worker ready/);
  // The activity times out on the dead worker (30 s) and is retried on the new one.
  const result = await claim;
  expect(result).toMatchObject({ day: 1, coins: 10, coinBalance: 10 });

  const entries = await stack.dataSource.query(`SELECT amount::int, idempotency_key FROM ledger_entries WHERE user_id = $1`, [user.id]);
  expect(entries).toEqual([{ amount: 10, idempotency_key: `daily-reward:${user.id}:${result.date}` }]);
  expect(await stack.ledger.balances(user.id)).toEqual({ coins: 10, diamonds: 0 });
  const claims = await stack.dataSource.query(`SELECT count(*)::int AS n FROM daily_reward_claims WHERE user_id = $1`, [user.id]);
  expect(claims).toEqual([{ n: 1 }]);
}, 120_000);
