import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { GiftFraudActivities, ScanGiftFraudInput, ScanGiftFraudResult } from '../../activities/gift-fraud';
import { DEFAULT_FRAUD_RULES } from '../../domain/economy/fraud';
import { giftFraudScanSchedule } from '../../workflows/gift-fraud/schedule';
import { HISTORIES_DIR, historyToFile } from '../replay/histories';
import { createTimeSkippingEnv, workflowBundle } from '../support/time-skipping';

/**
 * The scheduled anti-fraud scan's workflow on the time-skipping server, with a fake scan
 * activity: the window it asks for, its retries through an outage, a permanent refusal failing
 * the run, and the one-line details support staff read.
 */
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
});

afterAll(async () => {
  await env?.teardown();
});

const RESULT: ScanGiftFraudResult = {
  asOf: '',
  findings: 2,
  newFlags: 1,
  updatedFlags: 2,
  heldReceipts: 5,
  newFlagsByKind: { 'round-trip': 1, 'shared-device': 0 },
};

async function runScan(
  outcomes: ('ok' | 'down' | 'invalid')[],
  args: unknown[] = giftFraudScanSchedule.args,
  record?: string,
): Promise<{ calls: ScanGiftFraudInput[]; run: Promise<{ result: ScanGiftFraudResult; details: string }>; startedAt: number }> {
  const taskQueue = `gift-fraud-ts-${randomUUID()}`;
  const calls: ScanGiftFraudInput[] = [];
  const activities: GiftFraudActivities = {
    scanGiftFraud: async (input) => {
      calls.push(input);
      const outcome = outcomes.shift() ?? 'ok';
      if (outcome === 'down') throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      if (outcome === 'invalid') throw ApplicationFailure.create({ type: 'VALIDATION_FAILED', message: 'invalid fraud scan', nonRetryable: true });
      return { ...RESULT, asOf: input.asOf };
    },
  };
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities });
  const workflowId = `${giftFraudScanSchedule.workflowIdPrefix}-${randomUUID()}`;
  const startedAt = (await env.currentTimeMs()) as number;
  const run = worker.runUntil(async () => {
    const handle = await env.client.workflow.start(giftFraudScanSchedule.workflowType, { taskQueue, workflowId, args });
    try {
      const result = (await handle.result()) as ScanGiftFraudResult;
      // The one line support staff see in the Web UI (the SDK's metadata query; a finished run replays for it).
      const { currentDetails } = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
      return { result, details: currentDetails };
    } finally {
      if (record && process.env.AURA_RECORD_HISTORIES === '1') writeFileSync(join(HISTORIES_DIR, `${record}.json`), historyToFile(await handle.fetchHistory()));
    }
  });
  return { calls, run, startedAt };
}

it('scans the window that ends at the run and reaches back the rules\' hours, and says what it found', async () => {
  const { calls, run, startedAt } = await runScan([], giftFraudScanSchedule.args, 'gift-fraud-scan.flagged');
  const { result, details } = await run;
  expect(calls).toHaveLength(1);
  const { since, asOf, rules } = calls[0]!;
  expect(rules).toEqual(DEFAULT_FRAUD_RULES);
  expect(Date.parse(asOf) - Date.parse(since)).toBe(DEFAULT_FRAUD_RULES.windowHours * 3_600_000);
  expect(Date.parse(asOf)).toBeGreaterThanOrEqual(startedAt - 1_000);
  expect(result).toEqual({ ...RESULT, asOf });
  expect(details).toBe(`scan as of ${asOf}: 2 pattern(s), 1 new flag(s), 5 receipt(s) held`);
});

it('passes its own thresholds through, merged over the defaults', async () => {
  const { calls, run } = await runScan([], [{ rules: { windowHours: 6, roundTripMinCoinsEachWay: 50 } }]);
  await run;
  expect(calls[0]!.rules).toEqual({ ...DEFAULT_FRAUD_RULES, windowHours: 6, roundTripMinCoinsEachWay: 50 });
  expect(Date.parse(calls[0]!.asOf) - Date.parse(calls[0]!.since)).toBe(6 * 3_600_000);
});

it('retries the scan through a database outage with the same window', async () => {
  const { calls, run } = await runScan(['down', 'down']);
  await run;
  expect(calls).toHaveLength(3);
  expect(new Set(calls.map((c) => `${c.since}/${c.asOf}`)).size).toBe(1);
});

it('fails the run, without retrying, when the scan refuses its input', async () => {
  const { calls, run } = await runScan(['invalid']);
  await expect(run).rejects.toBeInstanceOf(WorkflowFailedError);
  expect(calls).toHaveLength(1);
});
