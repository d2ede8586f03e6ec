import { cpEffects, proposeDirect, RING } from '../support/cp';
import { fundCoins, ledgerDisagreements } from '../support/economy';
import { runEntryPoint, type ChildService } from '../support/node-process';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { CpRecords } from '../../db/repositories/cp';
import { CpProposalFlows } from '../../services/cp/proposal-flows';

/**
 * A worker process killed in the middle of a CP proposal (right after the accept's transaction
 * committed: pair, gift and receipt written, before Temporal heard the activity finished) loses
 * nothing and does nothing twice: another worker retries the activity, which finds the proposal
 * accepted and answers the same pair; the escrow was debited once and never refunded.
 */
let stack: RealStack;
const workers: ChildService[] = [];

beforeAll(async () => {
  stack = await connectRealStack('cp-worker-crash');
});

// Each test's workers go with it: a survivor would take the next test's tasks before the doomed one.
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});

afterAll(async () => {
  await stack?.close();
});

function startWorkerProcess(env: Record<string, string> = {}): ChildService {
  const worker = runEntryPoint('workers/main.ts', { TEMPORAL_TASK_QUEUE: stack.taskQueue, LOG_LEVEL: 'info', CP_SWEEP_SECONDS: '0', ...env });
  workers.push(worker);
  return worker;
}

it('forms one pair and one gift when the worker dies right after the accept commits and another takes over', async () => {
  const [a, b] = [await stack.newUser(), await stack.newUser()];
  await fundCoins(stack, a.id, 1_000);
  // The answer waits past the dead worker's activity timeout (30 s) for the retry.
  const flows = new CpProposalFlows(stack.temporal, stack.taskQueue, 90_000);
  const proposal = await proposeDirect(stack.dataSource, a.id, b.id);
  await flows.start(proposal);

  const doomed = startWorkerProcess({ AURA_FAULT_CRASH_AFTER_CP_COMMIT: '1' });
  await doomed.waitFor(/worker ready/);
  const answer = flows.answer(proposal.id, 'accept', b.id);

  const death = await doomed.exited;
  expect(death.signal).toBe('SIGKILL');
  // The effect is durable although Temporal never heard that the activity finished.
  const committed = await cpEffects(stack.dataSource, [a.id, b.id]);
  expect(committed.pairs).toHaveLength(1);
  expect(committed.ringReceipts).toHaveLength(1);

  const successor = startWorkerProcess();
  await successor.waitFor(/worker ready/);
  expect(await answer).toMatchObject({ state: 'accepted', pairId: committed.pairs[0]!.id });

  const after = await cpEffects(stack.dataSource, [a.id, b.id]);
  expect(after.pairs).toEqual(committed.pairs);
  expect(after.ringReceipts).toEqual([{ sender_id: a.id, receiver_id: b.id, coins: RING.coins, diamonds: RING.diamonds, state: 'pending', room_id: null }]);
  expect(after.entries).toEqual([{ reason: 'cp_escrow', n: 1, total: -RING.coins }]);
  expect(await new CpRecords(stack.dataSource).proposal(proposal.id)).toMatchObject({ state: 'accepted', pairId: committed.pairs[0]!.id });
  expect(await stack.ledger.balances(a.id)).toEqual({ coins: 1_000 - RING.coins, diamonds: 0 });
  expect(await ledgerDisagreements(stack.dataSource, [a.id, b.id])).toEqual([]);
}, 150_000);

it('refunds once when the worker dies right after the refund commits', async () => {
  const [a, b] = [await stack.newUser(), await stack.newUser()];
  await fundCoins(stack, a.id, 1_000);
  const flows = new CpProposalFlows(stack.temporal, stack.taskQueue, 90_000);
  const proposal = await proposeDirect(stack.dataSource, a.id, b.id);
  await flows.start(proposal);

  const doomed = startWorkerProcess({ AURA_FAULT_CRASH_AFTER_CP_COMMIT: '1' });
  await doomed.waitFor(/worker ready/);
  const answer = flows.answer(proposal.id, 'decline', b.id);
  expect((await doomed.exited).signal).toBe('SIGKILL');
  expect((await cpEffects(stack.dataSource, [a.id])).entries).toEqual([
    { reason: 'cp_escrow', n: 1, total: -RING.coins },
    { reason: 'cp_refund', n: 1, total: RING.coins },
  ]);

  const successor = startWorkerProcess();
  await successor.waitFor(/worker ready/);
  expect(await answer).toMatchObject({ state: 'declined' });
  expect((await cpEffects(stack.dataSource, [a.id])).entries).toEqual([
    { reason: 'cp_escrow', n: 1, total: -RING.coins },
    { reason: 'cp_refund', n: 1, total: RING.coins },
  ]);
  expect(await stack.ledger.balances(a.id)).toEqual({ coins: 1_000, diamonds: 0 });
  expect(await ledgerDisagreements(stack.dataSource, [a.id, b.id])).toEqual([]);
}, 150_000);
