import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createReferralActivities, type ReferralActivities } from '../../activities/referral';
import { ReferralBoards } from '../../db/live/referral-boards';
import { ReferralRecords } from '../../db/repositories/referrals';
import { DEFAULT_REFERRAL_REWARDS, referralWorkflowId, type ReferralPolicy } from '../../domain/referrals/milestones';
import { RedisUserEventPublisher } from '../../platform/events/publisher';
import { ReferralLeaderboard } from '../../services/referrals/leaderboard';
import { referralNudgeSignal, referralStatusQuery, type ReferralInput, type ReferralStatus } from '../../workflows/referral/definitions';
import type { referralWorkflow } from '../../workflows/referral/workflow';
import { HISTORIES_DIR, historyToFile } from '../replay/histories';
import { ledgerDisagreements } from '../support/economy';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { createTimeSkippingEnv, workflowBundle } from '../support/time-skipping';

/**
 * The referral flow on the time-skipping test server with its real activities over PostgreSQL:
 * milestones measured on the records (sessions' refresh tokens, recharge entries, reward claims),
 * each paid once to both sides through the ledger, nudged or found by the periodic check, and
 * nothing after the window. Activity fakes that throw stand in for a ledger that is down.
 */
let env: TestWorkflowEnvironment;
let stack: RealStack;
let records: ReferralRecords;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const boardPrefix = `test-referral-wf-${randomUUID().slice(0, 8)}`;

const policy: ReferralPolicy = { checkEveryMs: 12 * HOUR, retryAfterMs: 60_000, rewards: DEFAULT_REFERRAL_REWARDS };

beforeAll(async () => {
  [env, stack] = await Promise.all([createTimeSkippingEnv(), connectRealStack('referral-wf')]);
  records = new ReferralRecords(stack.dataSource);
});

afterAll(async () => {
  const keys = await stack?.redis.keys(`${boardPrefix}:*`);
  if (keys?.length) await stack.redis.del(...keys);
  await env?.teardown();
  await stack?.close();
});

interface Scenario {
  /** The test server's clock when the flow started. */
  now: Date;
  referrerId: string;
  refereeId: string;
  windowEndsAt: Date;
  handle: WorkflowHandle<typeof referralWorkflow>;
  status(): Promise<ReferralStatus>;
  /** Waits (polling the query, without skipping time) until the flow's status satisfies `done`. */
  until(done: (s: ReferralStatus) => boolean): Promise<ReferralStatus>;
  /** A session of the referee with a refresh token at `at` (a day with a sign-in). */
  signInAt(at: Date): Promise<void>;
  recharge(): Promise<void>;
  streak(streak: number): Promise<void>;
  nudge(kind?: string): Promise<void>;
  payouts(): Promise<{ user_id: string; amount: string; idempotency_key: string }[]>;
}

async function recordHistory(name: string, workflowId: string): Promise<void> {
  if (process.env.AURA_RECORD_HISTORIES !== '1') return;
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), historyToFile(history));
}

async function withScenario(
  options: { wrap?: (real: ReferralActivities) => ReferralActivities; record?: string },
  body: (s: Scenario) => Promise<void>,
): Promise<void> {
  const taskQueue = `referral-ts-${randomUUID()}`;
  const leaderboard = new ReferralLeaderboard({ boards: new ReferralBoards(stack.redis), records, prefix: boardPrefix });
  const real = createReferralActivities({ dataSource: stack.dataSource, events: new RedisUserEventPublisher(stack.redis), referralLeaderboard: leaderboard });
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: options.wrap ? options.wrap(real) : real,
  });
  const [referrer, referee] = [await stack.newUser(), await stack.newUser()];
  // The flow's clock is the test server's, which earlier tests moved ahead: the window starts there.
  const serverNow = await env.currentTimeMs();
  const [row] = (await stack.dataSource.query(
    `INSERT INTO referrals (referee_id, referrer_id, invite_code, via, window_ends_at)
     VALUES ($1, $2, 'TESTCODE', 'sign-up', to_timestamp($3::double precision / 1000)) RETURNING window_ends_at`,
    [referee.id, referrer.id, serverNow + 30 * DAY],
  )) as [{ window_ends_at: Date }];
  const workflowId = referralWorkflowId(referee.id);
  const input: ReferralInput = { refereeId: referee.id, referrerId: referrer.id, windowEndsAt: row.window_ends_at.getTime(), policy };
  let ledgerSeq = 0;
  const handle = await env.client.workflow.start<typeof referralWorkflow>('referralWorkflow', { workflowId, taskQueue, args: [input] });
  const scenario: Scenario = {
    now: new Date(serverNow),
    referrerId: referrer.id,
    refereeId: referee.id,
    windowEndsAt: row.window_ends_at,
    handle,
    status: () => handle.query(referralStatusQuery),
    async until(done) {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const status = await handle.query(referralStatusQuery);
        if (done(status)) return status;
        if (Date.now() > deadline) {
          const events = (await handle.fetchHistory()).events ?? [];
          throw new Error(`flow status never matched: ${JSON.stringify(status)}; history: ${events.map((e) => `${String(e.eventType)}@${String(e.eventTime?.seconds)}`).join(' ')}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async signInAt(at) {
      const [session] = (await stack.dataSource.query(
        `INSERT INTO sessions (user_id, device_id, expires_at, created_at) VALUES ($1, $2, $3::timestamptz + interval '30 days', $3) RETURNING id`,
        [referee.id, `dev-${randomUUID()}`, at],
      )) as [{ id: string }];
      await stack.dataSource.query(`INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)`, [
        randomUUID().replace(/-/g, '').padEnd(64, '0'),
        session.id,
        at,
      ]);
    },
    async recharge() {
      await stack.ledger.creditCoins({ userId: referee.id, amount: 500, reason: 'recharge', idempotencyKey: `test-recharge:${referee.id}:${++ledgerSeq}` });
    },
    async streak(streak) {
      const entry = await stack.ledger.creditCoins({ userId: referee.id, amount: 10, reason: 'daily_reward', idempotencyKey: `test-claim:${referee.id}:${++ledgerSeq}` });
      await stack.dataSource.query(
        `INSERT INTO daily_reward_claims (user_id, claim_date, cycle_day, coins, streak, ledger_entry_id) VALUES ($1, current_date + $2::int, 7, 10, $3, $4)`,
        [referee.id, ledgerSeq, streak, entry.entryId],
      );
    },
    async nudge(kind = 'signed-in') {
      await handle.signal(referralNudgeSignal, { kind });
    },
    payouts: () =>
      stack.dataSource.query(
        `SELECT user_id, amount, idempotency_key FROM ledger_entries WHERE reason = 'referral_reward' AND user_id = ANY($1::uuid[]) ORDER BY id`,
        [[referrer.id, referee.id]],
      ),
  };
  const finish = async () => {
    if (options.record) await recordHistory(options.record, workflowId);
    await handle.terminate('test finished').catch(() => undefined);
  };
  await worker.runUntil(
    (async () => {
      await scenario.until((st) => st.checks >= 1); // the first look, at start
      await body(scenario);
    })().finally(finish),
  );
  expect(await ledgerDisagreements(stack.dataSource, [referrer.id, referee.id])).toEqual([]);
}

const days = (from: Date, n: number) => new Date(from.getTime() + n * DAY);

describe('referral flow (time-skipping, real PostgreSQL)', () => {
  it('pays each milestone reached in order once, to both sides, notifies both, and completes', async () => {
    await withScenario({ record: 'referral.in-order' }, async (s) => {
      const start = s.now;
      await s.signInAt(start);
      await s.signInAt(days(start, 1));
      await s.nudge();
      expect((await s.until((st) => st.checks >= 2)).paid).toEqual([]); // two days are not three
      await s.signInAt(days(start, 2));
      await s.nudge();
      await s.until((st) => st.paid.length === 1);
      await s.recharge();
      await s.nudge('recharged');
      await s.until((st) => st.paid.length === 2);
      await s.streak(7);
      await s.nudge('daily-claimed');
      expect(await s.handle.result()).toEqual({ ended: 'completed', paid: ['active-days', 'first-recharge', 'streak-7'] });

      const payouts = await s.payouts();
      expect(payouts.map((p) => p.idempotency_key).sort()).toEqual(
        ['active-days', 'first-recharge', 'streak-7'].flatMap((m) => [`referral:${s.refereeId}:${m}:referee`, `referral:${s.refereeId}:${m}:referrer`]).sort(),
      );
      const total = (userId: string) => payouts.filter((p) => p.user_id === userId).reduce((sum, p) => sum + Number(p.amount), 0);
      expect(total(s.referrerId)).toBe(100 + 300 + 200);
      expect(total(s.refereeId)).toBe(50 + 100 + 100);
      const notices: { user_id: string; kind: string }[] = await stack.dataSource.query(
        `SELECT user_id, kind FROM notifications WHERE user_id = ANY($1::uuid[]) AND kind = 'referral_payout'`,
        [[s.referrerId, s.refereeId]],
      );
      expect(notices.filter((n) => n.user_id === s.referrerId)).toHaveLength(3);
      expect(notices.filter((n) => n.user_id === s.refereeId)).toHaveLength(3);
      expect(await records.referee(s.refereeId)).toMatchObject({ ended: true });
      const [ended] = (await stack.dataSource.query(`SELECT end_reason, qualified_at FROM referrals WHERE referee_id = $1`, [s.refereeId])) as [
        { end_reason: string; qualified_at: Date | null },
      ];
      expect(ended.end_reason).toBe('completed');
      expect(ended.qualified_at).not.toBeNull();
      const memo = await s.handle.describe();
      expect(String((memo.memo as { summary?: string }).summary)).toMatch(/^referral: 3 of 3 milestones paid/);
    });
  });

  it('pays milestones reached out of order once each, however many nudges', async () => {
    await withScenario({ record: 'referral.out-of-order' }, async (s) => {
      await s.streak(8);
      await s.nudge('daily-claimed');
      await s.until((st) => st.paid.includes('streak-7'));
      await s.recharge();
      await s.recharge();
      const start = s.now;
      for (const d of [0, 1, 3, 3]) await s.signInAt(days(start, d));
      await Promise.all([s.nudge(), s.nudge('recharged'), s.nudge()]);
      expect((await s.handle.result()).paid.sort()).toEqual(['active-days', 'first-recharge', 'streak-7']);
      expect(await s.payouts()).toHaveLength(6);
    });
  });

  it('a lost nudge: the periodic check pays within its period', async () => {
    await withScenario({ record: 'referral.lost-nudge' }, async (s) => {
      await s.until((st) => st.checks === 1);
      await s.recharge(); // no nudge
      await env.sleep(11 * HOUR);
      expect((await s.status()).paid).toEqual([]);
      await env.sleep(2 * HOUR); // past the 12 h check
      const status = await s.until((st) => st.paid.length === 1);
      expect(status.paid).toEqual(['first-recharge']);
      expect(status.nudges).toBe(0);
      expect(await s.payouts()).toHaveLength(2);
    });
  });

  it('the window expires: the flow ends, records after it count for nothing, nothing more is paid', async () => {
    await withScenario({ record: 'referral.expired' }, async (s) => {
      const start = s.now;
      await s.signInAt(start);
      await s.signInAt(days(start, 1));
      await s.signInAt(new Date(s.windowEndsAt.getTime() + HOUR)); // a third day, but after the window
      expect(await s.handle.result()).toEqual({ ended: 'expired', paid: [] });
      expect(await s.payouts()).toEqual([]);
      const [row] = (await stack.dataSource.query(`SELECT end_reason, qualified_at FROM referrals WHERE referee_id = $1`, [s.refereeId])) as [
        { end_reason: string; qualified_at: Date | null },
      ];
      expect(row).toEqual({ end_reason: 'expired', qualified_at: null });
      // A nudge to an ended flow finds nothing to signal.
      await expect(s.nudge()).rejects.toThrow();
    });
  });

  it('a ledger down: payouts retried (attempts, then rounds after a backoff), a lost answer after the commit, each side paid once', async () => {
    let payCalls = 0;
    let evaluateCalls = 0;
    await withScenario(
      {
        record: 'referral.ledger-down',
        wrap: (real) => ({
          ...real,
          async evaluateReferralMilestones(input) {
            evaluateCalls += 1;
            if (evaluateCalls === 2) throw new Error('connection terminated unexpectedly');
            return real.evaluateReferralMilestones(input);
          },
          async payReferralMilestone(input) {
            payCalls += 1;
            // The first round's 4 attempts fail; the next commits and then loses its answer; then OK.
            if (payCalls <= 4) throw new Error('ledger unavailable');
            const result = await real.payReferralMilestone(input);
            if (payCalls === 5) throw new Error('the answer was lost after the commit');
            return result;
          },
        }),
      },
      async (s) => {
        await s.until((st) => st.checks === 1);
        await s.recharge();
        await s.nudge('recharged');
        const failed = await s.until((st) => st.failedRounds === 1);
        expect(failed.paid).toEqual([]);
        await env.sleep(2 * 60_000); // the backoff (1 min) passes
        const status = await s.until((st) => st.paid.length === 1);
        expect(status.failedRounds).toBe(0);
        expect(payCalls).toBe(6);
        const payouts = await s.payouts();
        expect(payouts.map((p) => p.idempotency_key).sort()).toEqual([`referral:${s.refereeId}:first-recharge:referee`, `referral:${s.refereeId}:first-recharge:referrer`]);
      },
    );
  });
});
