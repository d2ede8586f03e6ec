import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createCpActivities, type CpActivities } from '../../activities/cp';
import { CpRecords } from '../../db/repositories/cp';
import { cpProposalWorkflowId } from '../../domain/cp/rules';
import { CpProposalFlows } from '../../services/cp/proposal-flows';
import { cpProposalStatusQuery, type CpProposalOutcome } from '../../workflows/cp-proposal/definitions';
import { HISTORIES_DIR, historyToFile } from '../replay/histories';
import { cpEffects, proposeDirect, RING } from '../support/cp';
import { fundCoins, ledgerDisagreements } from '../support/economy';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createTimeSkippingEnv, workflowBundle } from '../support/time-skipping';

/**
 * The cp-proposal flow on the time-skipping test server with its real activities over the real
 * PostgreSQL (and Redis for the weekly board): accept, decline, withdraw, expiry, two proposals
 * racing for one person, and activities that fail after or before their commit. Every test
 * ends by checking each wallet against its ledger.
 */
let env: TestWorkflowEnvironment;
let stack: RealStack;
let records: CpRecords;

beforeAll(async () => {
  [env, stack] = await Promise.all([createTimeSkippingEnv(), connectRealStack('cp-wf')]);
  records = new CpRecords(stack.dataSource);
});

afterAll(async () => {
  await env?.teardown();
  await stack?.close();
});

async function recordHistory(name: string, workflowId: string, client: Client = env.client): Promise<void> {
  if (process.env.AURA_RECORD_HISTORIES !== '1') return;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), historyToFile(history));
}

interface Scenario {
  flows: CpProposalFlows;
  /** The client of the server the scenario runs on. */
  client: Client;
  /** Funded users (1,000 coins each). */
  users(n: number): Promise<string[]>;
  /** Commits a proposal (escrow + row) and starts its flow. */
  propose(from: string, to: string, ttlMs?: number): Promise<string>;
  result(proposalId: string): Promise<CpProposalOutcome>;
}

/**
 * `server: 'dev'` runs the scenario on the shared Temporal dev server (real time) instead of the
 * time-skipping test server: for races of updates and signals, whose interleavings the Java test
 * server does not always follow as the real server does (it once left a flow with no task).
 */
async function withScenario(
  options: { wrap?: (real: CpActivities) => CpActivities; server?: 'time-skipping' | 'dev' },
  body: (s: Scenario) => Promise<void>,
): Promise<void> {
  const onDevServer = options.server === 'dev';
  const devConnection = onDevServer ? await NativeConnection.connect({ address: stack.config.TEMPORAL_ADDRESS }) : null;
  const client = onDevServer ? stack.temporal : env.client;
  const now = async () => (onDevServer ? Date.now() : env.currentTimeMs());
  const taskQueue = `cp-wf-${randomUUID()}`;
  const real = createCpActivities({ dataSource: stack.dataSource, redis: stack.redis, temporal: client, cp: { holdMs: 72 * 3_600_000, cooldownDays: 7 } });
  const worker = await Worker.create({
    connection: devConnection ?? env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: options.wrap ? options.wrap(real) : real,
  });
  const flows = new CpProposalFlows(client, taskQueue, 60_000);
  const everyone: string[] = [];
  const started: string[] = [];
  const scenario: Scenario = {
    flows,
    client,
    async users(n) {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const user = await stack.newUser();
        await fundCoins(stack, user.id, 1_000);
        ids.push(user.id);
      }
      everyone.push(...ids);
      return ids;
    },
    async propose(from, to, ttlMs) {
      // The test server's clock (ahead of ours once a test skipped time) is the flow's clock.
      const p = await proposeDirect(stack.dataSource, from, to, { ttlMs, now: new Date(await now()) });
      await flows.start(p);
      started.push(p.id);
      return p.id;
    },
    result: (id) => client.workflow.getHandle(cpProposalWorkflowId(id)).result() as Promise<CpProposalOutcome>,
  };
  const finish = async () => {
    for (const id of started) await client.workflow.getHandle(cpProposalWorkflowId(id)).terminate('test finished').catch(() => undefined);
  };
  try {
    await worker.runUntil(body(scenario).finally(finish));
  } finally {
    await devConnection?.close();
  }
  expect(await ledgerDisagreements(stack.dataSource, everyone)).toEqual([]);
}

const balance = async (userId: string) => (await stack.ledger.balances(userId))!.coins;

describe('cp-proposal flow (time-skipping, real PostgreSQL)', () => {
  // Tests that skip time come first: the Java test server keeps time-skipping locked after an
  // update its validator rejected (the later tests send some), so a timer would then run in real time.
  it('expired: refunded once at the TTL, and an accept after it is refused', async () => {
    await withScenario({}, async (s) => {
      const [a, b] = await s.users(2);
      const id = await s.propose(a!, b!, 24 * 3_600_000);
      const handle = env.client.workflow.getHandle(cpProposalWorkflowId(id));
      await env.sleep(23 * 3_600_000);
      expect(await handle.query(cpProposalStatusQuery)).toMatchObject({ state: 'pending', outcome: null });
      expect(await balance(a!)).toBe(1_000 - RING.coins);
      expect(await s.result(id)).toMatchObject({ state: 'expired', refundEntryId: expect.any(String) });
      await recordHistory('cp-proposal.expired', cpProposalWorkflowId(id));
      expect((await cpEffects(stack.dataSource, [a!, b!])).entries).toEqual([
        { reason: 'cp_escrow', n: 1, total: -RING.coins },
        { reason: 'cp_refund', n: 1, total: RING.coins },
      ]);
      expect(await records.proposal(id)).toMatchObject({ state: 'expired' });
      await expect(s.flows.answer(id, 'accept', b!)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });

  it('a refund whose activity fails (database down) is retried, over rounds, and refunds once', async () => {
    let calls = 0;
    await withScenario(
      {
        wrap: (real) => ({
          ...real,
          async refundProposal(input) {
            calls += 1;
            // A first round of 4 attempts fails before anything commits; then one fails after its commit.
            if (calls <= 4) throw new Error('connect ECONNREFUSED (PostgreSQL down)');
            const result = await real.refundProposal(input);
            if (calls === 5) throw new Error('the answer was lost after the commit');
            return result;
          },
        }),
      },
      async (s) => {
        const [a, b] = await s.users(2);
        const id = await s.propose(a!, b!);
        const decline = s.flows.answer(id, 'decline', b!);
        expect(await s.result(id)).toMatchObject({ state: 'declined' });
        await decline.catch(() => undefined); // the answer may give up waiting while the flow sleeps between rounds
        expect(calls).toBe(6);
        const handle = env.client.workflow.getHandle(cpProposalWorkflowId(id));
        expect(await handle.query(cpProposalStatusQuery)).toMatchObject({ failedRounds: 1 });
        expect((await cpEffects(stack.dataSource, [a!])).entries).toEqual([
          { reason: 'cp_escrow', n: 1, total: -RING.coins },
          { reason: 'cp_refund', n: 1, total: RING.coins },
        ]);
      },
    );
  });

  it('accepted: the pair forms once, the escrow becomes a pending gift receipt for the addressee, nothing is refunded', async () => {
    await withScenario({}, async (s) => {
      const [a, b] = await s.users(2);
      const id = await s.propose(a!, b!);
      expect(await balance(a!)).toBe(1_000 - RING.coins);

      const outcome = await s.flows.answer(id, 'accept', b!);
      expect(outcome).toMatchObject({ state: 'accepted', pairId: expect.any(String), sendId: expect.any(String) });
      expect(await s.result(id)).toEqual(outcome);
      await recordHistory('cp-proposal.accepted', cpProposalWorkflowId(id));

      const effects = await cpEffects(stack.dataSource, [a!, b!]);
      expect(effects.entries).toEqual([{ reason: 'cp_escrow', n: 1, total: -RING.coins }]);
      expect(effects.pairs).toEqual([expect.objectContaining({ id: (outcome as { pairId: string }).pairId, intimacy: RING.coins, ended_at: null })]);
      expect(effects.ringReceipts).toEqual([{ sender_id: a, receiver_id: b, coins: RING.coins, diamonds: RING.diamonds, state: 'pending', room_id: null }]);
      expect(await records.proposal(id)).toMatchObject({ state: 'accepted', pairId: (outcome as { pairId: string }).pairId });
      expect(await balance(a!)).toBe(1_000 - RING.coins);
      expect(await balance(b!)).toBe(1_000); // diamonds arrive when the receipt settles, like any gift

      const notices = (await stack.dataSource.query(`SELECT user_id, kind FROM notifications WHERE idempotency_key LIKE $1`, [`cp:${id}:%`])) as { user_id: string; kind: string }[];
      expect(notices).toHaveLength(3);
      expect(notices).toEqual(expect.arrayContaining([
        { user_id: b, kind: 'cp_proposal' },
        { user_id: a, kind: 'cp_answer' },
        { user_id: b, kind: 'cp_answer' },
      ]));
      // The flow has ended: a late answer finds no flow (the API answers from PostgreSQL first).
      await expect(s.flows.answer(id, 'decline', b!)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });

  it('declined: the escrow is refunded once, and a second answer is refused', async () => {
    await withScenario({}, async (s) => {
      const [a, b] = await s.users(2);
      const id = await s.propose(a!, b!);
      await expect(s.flows.answer(id, 'accept', a!)).rejects.toMatchObject({ code: 'FORBIDDEN' });
      const outcome = await s.flows.answer(id, 'decline', b!);
      expect(outcome).toMatchObject({ state: 'declined', reason: null });
      await expect(s.flows.answer(id, 'accept', b!)).rejects.toMatchObject({ code: 'CP_PROPOSAL_CLOSED' });
      expect(await s.result(id)).toEqual(outcome);
      await recordHistory('cp-proposal.declined', cpProposalWorkflowId(id));
      const effects = await cpEffects(stack.dataSource, [a!, b!]);
      expect(effects.entries).toEqual([
        { reason: 'cp_escrow', n: 1, total: -RING.coins },
        { reason: 'cp_refund', n: 1, total: RING.coins },
      ]);
      expect(effects.pairs).toEqual([]);
      expect(await balance(a!)).toBe(1_000);
    });
  });

  it('withdrawn by the proposer: refunded once', async () => {
    await withScenario({}, async (s) => {
      const [a, b] = await s.users(2);
      const id = await s.propose(a!, b!);
      await expect(s.flows.answer(id, 'withdraw', b!)).rejects.toMatchObject({ code: 'FORBIDDEN' });
      expect(await s.flows.answer(id, 'withdraw', a!)).toMatchObject({ state: 'withdrawn' });
      expect((await cpEffects(stack.dataSource, [a!])).entries).toEqual([
        { reason: 'cp_escrow', n: 1, total: -RING.coins },
        { reason: 'cp_refund', n: 1, total: RING.coins },
      ]);
    });
  });


  it('two proposals racing for one person (on the dev server): one pair forms, the other is refused PARTNER_TAKEN or cancelled, and refunded once', async () => {
    await withScenario({ server: 'dev' }, async (s) => {
      const [a, b, c] = await s.users(3);
      const first = await s.propose(a!, c!);
      const second = await s.propose(b!, c!);
      const answers = await Promise.allSettled([s.flows.answer(first, 'accept', c!), s.flows.answer(second, 'accept', c!)]);
      expect(answers.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const refused = answers.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(['PARTNER_TAKEN', 'CP_PROPOSAL_CLOSED']).toContain((refused.reason as { code: string }).code);
      const results = await Promise.all([s.result(first), s.result(second)]);
      const loser = results[0]!.state === 'accepted' ? second : first;
      expect(results.map((r) => r.state).sort()).toEqual(['accepted', 'cancelled']);
      expect(results.find((r) => r.state === 'cancelled')).toMatchObject({ reason: 'PARTNER_TAKEN' });
      await recordHistory('cp-proposal.partner-taken', cpProposalWorkflowId(loser), s.client);

      const effects = await cpEffects(stack.dataSource, [a!, b!, c!]);
      expect(effects.pairs.filter((p) => p.ended_at === null)).toHaveLength(1);
      expect(effects.entries).toEqual([
        { reason: 'cp_escrow', n: 2, total: -2 * RING.coins },
        { reason: 'cp_refund', n: 1, total: RING.coins },
      ]);
      expect(await records.proposal(loser)).toMatchObject({ state: 'cancelled', cancelReason: 'PARTNER_TAKEN' });
    });
  });

  it('a proposer paired elsewhere while their proposal waits: that proposal is cancelled and refunded', async () => {
    await withScenario({}, async (s) => {
      const [a, b, c] = await s.users(3);
      const waiting = await s.propose(a!, b!);
      const other = await s.propose(c!, a!);
      expect(await s.flows.answer(other, 'accept', a!)).toMatchObject({ state: 'accepted' });
      // The accepted flow signals the waiting one, which refunds without anyone answering it.
      expect(await s.result(waiting)).toMatchObject({ state: 'cancelled', reason: 'PARTNER_TAKEN' });
      expect(await balance(a!)).toBe(1_000);
      await expect(s.flows.answer(waiting, 'accept', b!)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });

  it('an accept whose activity fails after its commit is retried and forms one pair with one gift', async () => {
    let calls = 0;
    await withScenario(
      {
        wrap: (real) => ({
          ...real,
          async acceptProposal(input) {
            calls += 1;
            const result = await real.acceptProposal(input);
            if (calls === 1) throw new Error('the worker lost the answer after the commit');
            return result;
          },
        }),
      },
      async (s) => {
        const [a, b] = await s.users(2);
        const id = await s.propose(a!, b!);
        expect(await s.flows.answer(id, 'accept', b!)).toMatchObject({ state: 'accepted' });
        expect(calls).toBe(2);
        const effects = await cpEffects(stack.dataSource, [a!, b!]);
        expect(effects.pairs).toHaveLength(1);
        expect(effects.ringReceipts).toHaveLength(1);
        expect(effects.entries).toEqual([{ reason: 'cp_escrow', n: 1, total: -RING.coins }]);
      },
    );
  });


});
