import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createStatusRecheckActivities, type RecheckStatusInput, type RecheckStatusResult, type StatusRecheckActivities } from '../../activities/status-recheck';
import { statusRecheckSchedule } from '../../workflows/status-recheck/schedule';
import type { StatusRecheckInput } from '../../workflows/status-recheck/workflow';
import { HISTORIES_DIR, historyToFile } from '../replay/histories';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createTimeSkippingEnv, workflowBundle } from '../support/time-skipping';
import { RecordingPublisher } from '../status/status-fixtures';

/**
 * The scheduled levels-and-medals re-check on the time-skipping server: the window it asks for,
 * retries through an outage, a refusal failing the run, the summary support reads, and one run
 * with the real activity over PostgreSQL awarding a medal whose event was lost.
 */
let env: TestWorkflowEnvironment;
let stack: RealStack;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  stack = await connectRealStack('status-recheck-flow');
});

afterAll(async () => {
  await env?.teardown();
  await stack?.close();
});

const INPUT: StatusRecheckInput = { lookbackMinutes: 120, maxUsers: 500 };
const RESULT = { levelUpsAnnounced: 1, usersChecked: 7, medalsAwarded: 2, medalsAnnounced: 0 };

async function runRecheck(activities: StatusRecheckActivities, record?: string): Promise<{ result: RecheckStatusResult; details: string; startedAt: number }> {
  const taskQueue = `status-recheck-ts-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities });
  const startedAt = (await env.currentTimeMs()) as number;
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(statusRecheckSchedule.workflowType, {
      taskQueue,
      workflowId: `${statusRecheckSchedule.workflowIdPrefix}-${randomUUID()}`,
      args: [INPUT],
    });
    try {
      const result = (await handle.result()) as RecheckStatusResult;
      const { currentDetails } = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
      return { result, details: currentDetails, startedAt };
    } finally {
      if (record && process.env.AURA_RECORD_HISTORIES === '1') writeFileSync(join(HISTORIES_DIR, `${record}.json`), historyToFile(await handle.fetchHistory()));
    }
  });
}

function fake(outcomes: ('ok' | 'down' | 'invalid')[], calls: RecheckStatusInput[]): StatusRecheckActivities {
  return {
    recheckStatus: async (input) => {
      calls.push(input);
      const outcome = outcomes.shift() ?? 'ok';
      if (outcome === 'down') throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      if (outcome === 'invalid') throw ApplicationFailure.create({ type: 'VALIDATION_FAILED', message: 'invalid window', nonRetryable: true });
      return { ...RESULT, asOf: input.asOf };
    },
  };
}

it('re-checks the window that ends at the run and reaches back the lookback, and says what it did', async () => {
  const calls: RecheckStatusInput[] = [];
  const { result, details, startedAt } = await runRecheck(fake([], calls), 'status-recheck.ok');
  expect(calls).toHaveLength(1);
  const { since, asOf, maxUsers } = calls[0]!;
  expect(maxUsers).toBe(500);
  expect(Date.parse(asOf) - Date.parse(since)).toBe(120 * 60_000);
  expect(Date.parse(asOf)).toBeGreaterThanOrEqual(startedAt - 1_000);
  expect(result).toEqual({ ...RESULT, asOf });
  expect(details).toBe(`re-check as of ${asOf}: 7 user(s), 2 medal(s) awarded, 0 medal notice(s) and 1 level-up(s) re-sent`);
});

it('retries through a database outage with the same window', async () => {
  const calls: RecheckStatusInput[] = [];
  await runRecheck(fake(['down', 'down'], calls));
  expect(calls).toHaveLength(3);
  expect(new Set(calls.map((c) => `${c.since}/${c.asOf}`)).size).toBe(1);
});

it('fails the run without retrying when the activity refuses its input', async () => {
  const calls: RecheckStatusInput[] = [];
  await expect(runRecheck(fake(['invalid'], calls))).rejects.toBeInstanceOf(WorkflowFailedError);
  expect(calls).toHaveLength(1);
});

it('with the real activity, awards a medal whose progress event was lost', async () => {
  const user = await stack.newUser();
  // A gift whose progress event was lost: the counter moved and the ledger shows the user active, nothing more.
  await stack.ledger.creditCoins({ userId: user.id, amount: 500, reason: 'recharge', idempotencyKey: `test-recharge:${randomUUID()}` });
  await stack.dataSource.query(`UPDATE users SET gifts_sent = 1 WHERE id = $1`, [user.id]);
  const activities = createStatusRecheckActivities({ dataSource: stack.dataSource, events: new RecordingPublisher() });
  // The time-skipping server's clock is the run's window: ask with a wide lookback around now.
  const wide: StatusRecheckActivities = {
    recheckStatus: (input) => activities.recheckStatus({ ...input, since: new Date(Date.now() - 3_600_000).toISOString(), asOf: new Date(Date.now() + 60_000).toISOString() }),
  };
  const { result } = await runRecheck(wide);
  expect(result.medalsAwarded).toBeGreaterThanOrEqual(1);
  const held = (await stack.dataSource.query(`SELECT medal_id FROM user_medals WHERE user_id = $1`, [user.id])) as { medal_id: string }[];
  expect(held.map((h) => h.medal_id)).toEqual(['first-gift']);
  const [reward] = (await stack.dataSource.query(`SELECT amount FROM ledger_entries WHERE idempotency_key = $1`, [`medal:${user.id}:first-gift`])) as { amount: string }[];
  expect(reward?.amount).toBe('10');
});
