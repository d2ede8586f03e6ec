import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type {
  CreditDailyRewardInput,
  CreditDailyRewardResult,
  DailyRewardActivities,
  SendReminderInput,
} from '../../activities/daily-reward';
import { DailyRewardFlows } from '../../services/daily-reward/flow-client';
import { addDays } from '../../domain/calendar';
import { DEFAULT_DAILY_REWARD_POLICY, type DailyRewardPolicy } from '../../domain/daily-reward/cycle';
import { AppError, ErrorCode } from '../../domain/errors';
import { claimDailyRewardUpdate, dailyRewardStatusQuery, dailyRewardWorkflowId } from '../../workflows/daily-reward/definitions';
import { HISTORIES_DIR, historyToFile } from '../replay/histories';
import { createTimeSkippingEnv, workflowBundle } from '../support/time-skipping';

/**
 * The daily-reward workflow on the time-skipping test server: weeks of simulated days run in
 * seconds. Activities are recorded in memory here; their real Postgres/Redis behaviour is
 * covered by the integration suite.
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
});

afterAll(async () => {
  await env?.teardown();
});

class RecordingActivities {
  credits: CreditDailyRewardInput[] = [];
  reminders: SendReminderInput[] = [];
  private balance = 0;

  build(): DailyRewardActivities {
    return {
      creditDailyReward: async (input): Promise<CreditDailyRewardResult> => {
        const first = !this.credits.some((c) => c.idempotencyKey === input.idempotencyKey);
        this.credits.push(input);
        if (first) this.balance += input.coins;
        return { ledgerEntryId: String(this.credits.length), coinBalance: this.balance, applied: first };
      },
      sendDailyRewardReminder: async (input) => {
        this.reminders.push(input);
        return { notificationId: randomUUID() };
      },
    };
  }
}

interface Scenario {
  activities: RecordingActivities;
  flows: DailyRewardFlows;
  userId: string;
  taskQueue: string;
  /** Claims with the zone the profile has now (the scenario's zone unless given). */
  claim(timeZone?: string): Promise<Awaited<ReturnType<DailyRewardFlows['claim']>>>;
  /** Moves simulated time forward to the next given UTC hour. */
  advanceToHour(hourUtc: number, extraDays?: number): Promise<void>;
}

/** `AURA_RECORD_HISTORIES=1 npx jest test/workflows` refreshes the histories the replay test checks. */
async function recordHistory(name: string, workflowId: string): Promise<void> {
  if (process.env.AURA_RECORD_HISTORIES !== '1') return;
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), historyToFile(history));
}

async function withScenario(
  options: { timeZone?: string; policy?: Partial<DailyRewardPolicy>; record?: string },
  body: (s: Scenario) => Promise<void>,
): Promise<void> {
  const taskQueue = `daily-reward-ts-${randomUUID()}`;
  const activities = new RecordingActivities();
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: activities.build(),
  });
  const userId = randomUUID();
  const policy = { ...DEFAULT_DAILY_REWARD_POLICY, ...options.policy };
  const flows = new DailyRewardFlows(env.client, taskQueue, policy);
  const user = { id: userId, timeZone: options.timeZone ?? 'UTC' };
  // The test server holds time still while any workflow task is outstanding, so a flow left
  // running after its worker stops would freeze time for the next test: end it here.
  const finish = async () => {
    if (options.record) await recordHistory(options.record, dailyRewardWorkflowId(userId));
    await env.client.workflow
      .getHandle(dailyRewardWorkflowId(userId))
      .terminate('test finished')
      .catch(() => undefined);
  };
  await worker.runUntil(
    body({
      activities,
      flows,
      userId,
      taskQueue,
      claim: (timeZone?: string) => flows.claim(timeZone ? { ...user, timeZone } : user),
      async advanceToHour(hourUtc, extraDays = 0) {
        const now = await env.currentTimeMs();
        const dayStart = Math.floor(now / DAY) * DAY;
        let target = dayStart + hourUtc * HOUR;
        if (target <= now) target += DAY;
        await env.sleep(target + extraDays * DAY - now);
      },
    }).finally(finish),
  );
}

describe('daily-reward workflow (time-skipping)', () => {
  it('pays the 7-day table in order on consecutive days, then wraps to day 1 and keeps the streak', async () => {
    await withScenario({ record: 'daily-reward.seven-day-cycle-wraps' }, async (s) => {
      const claims = [];
      await s.advanceToHour(10);
      for (let i = 0; i < 9; i++) {
        claims.push(await s.claim());
        await s.advanceToHour(10);
      }
      expect(claims.map((c) => c.coins)).toEqual([10, 20, 30, 40, 50, 60, 150, 10, 20]);
      expect(claims.map((c) => c.day)).toEqual([1, 2, 3, 4, 5, 6, 7, 1, 2]);
      expect(claims.map((c) => c.streak)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(claims.every((c) => !c.streakReset)).toBe(true);
      expect(claims.at(-1)?.coinBalance).toBe(390);

      const snapshot = await s.flows.status({ id: s.userId, timeZone: 'UTC' });
      expect(snapshot.cyclesCompleted).toBe(1);
      expect(s.activities.credits.map((c) => c.idempotencyKey)).toEqual(
        claims.map((c) => `daily-reward:${s.userId}:${c.date}`),
      );
    });
  });

  it('resets to day 1 and streak 1 after a whole missed day', async () => {
    await withScenario({ record: 'daily-reward.missed-day-resets' }, async (s) => {
      await s.advanceToHour(9);
      await s.claim(); // day 1
      await s.advanceToHour(9);
      await s.claim(); // day 2
      await s.advanceToHour(9, 1); // skips one whole day
      const afterGap = await s.claim();
      expect(afterGap).toMatchObject({ day: 1, coins: 10, streak: 1, streakReset: true });
    });
  });

  it('keeps the streak when the next claim comes late on the following day', async () => {
    await withScenario({}, async (s) => {
      await s.advanceToHour(0);
      await env.sleep(5 * 60_000); // 00:05
      await s.claim();
      await s.advanceToHour(23, 1); // 23:00 the next day: almost 47 hours later
      const next = await s.claim();
      expect(next).toMatchObject({ day: 2, streak: 2, streakReset: false });
    });
  });

  it('rejects a second claim on the same day and credits once', async () => {
    await withScenario({ record: 'daily-reward.same-day-claim-rejected' }, async (s) => {
      await s.advanceToHour(8);
      const first = await s.claim();
      await env.sleep(3 * HOUR);
      const second = s.claim();
      await expect(second).rejects.toBeInstanceOf(AppError);
      await expect(second).rejects.toMatchObject({ code: ErrorCode.AlreadyClaimedToday });
      expect(s.activities.credits).toHaveLength(1);
      expect(s.activities.credits[0]).toMatchObject({ coins: first.coins, idempotencyKey: `daily-reward:${s.userId}:${first.date}` });

      // The update is refused by the validator, so it leaves no trace in the history.
      const handle = env.client.workflow.getHandle(dailyRewardWorkflowId(s.userId));
      const raw = handle.executeUpdate(claimDailyRewardUpdate, { args: [{ timeZone: 'UTC', policy: DEFAULT_DAILY_REWARD_POLICY }] });
      await expect(raw).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
      const failure = await raw.catch((e: WorkflowUpdateFailedError) => e.cause);
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect((failure as ApplicationFailure).type).toBe(ErrorCode.AlreadyClaimedToday);
      const history = await handle.fetchHistory();
      const updateEvents = history.events?.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes) ?? [];
      expect(updateEvents).toHaveLength(1);
    });
  });

  it('follows the user time zone for the day boundary', async () => {
    await withScenario({ timeZone: 'Asia/Kolkata' }, async (s) => {
      await s.advanceToHour(18); // 23:30 in Kolkata
      const first = await s.claim();
      await env.sleep(HOUR); // 00:30 the next day in Kolkata, still the same UTC day
      const second = await s.claim();
      expect(second.day).toBe(2);
      expect(second.date > first.date).toBe(true);
    });
  });

  it('sends one reminder a few hours before an unclaimed day breaks the streak', async () => {
    await withScenario({ policy: { reminderLeadHours: 4 }, record: 'daily-reward.reminder-sent' }, async (s) => {
      await s.advanceToHour(10);
      const first = await s.claim();
      await s.advanceToHour(19, 1); // 19:00 on the next day: 5 h before the break, not yet
      expect(s.activities.reminders).toHaveLength(0);
      await env.sleep(2 * HOUR); // 21:00: past the 20:00 reminder
      expect(s.activities.reminders).toHaveLength(1);
      const reminder = s.activities.reminders[0]!;
      expect(reminder.forDate > first.date).toBe(true);
      expect(reminder.idempotencyKey).toBe(`daily-reward-reminder:${s.userId}:${reminder.forDate}`);
      await env.sleep(3 * DAY);
      expect(s.activities.reminders).toHaveLength(1);
    });
  });

  it('sends no reminder when the day is claimed in time', async () => {
    await withScenario({ policy: { reminderLeadHours: 4 } }, async (s) => {
      await s.advanceToHour(10);
      await s.claim();
      await s.advanceToHour(12, 1); // the next day, well before its 20:00 reminder
      const second = await s.claim();
      await s.advanceToHour(19, 1);
      expect(s.activities.reminders).toHaveLength(0);
      await env.sleep(2 * HOUR);
      // Only the day after the second claim, which went unclaimed, was reminded about.
      expect(s.activities.reminders.map((r) => r.forDate)).toEqual([addDays(second.date, 1)]);
    });
  });

  describe('follows the profile', () => {
    const EAST = 'Pacific/Kiritimati'; // UTC+14
    const WEST = 'Etc/GMT+12'; // UTC-12
    const refusedUntil = async (claim: Promise<unknown>): Promise<string> => {
      const err = await claim.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code: ErrorCode.AlreadyClaimedToday });
      return (err as AppError & { details: { nextClaimAt: string } }).details.nextClaimAt;
    };

    it('a zone flipped east and west around midnight gets one claim per real day', async () => {
      await withScenario({ record: 'daily-reward.zone-flipped' }, async (s) => {
        await s.advanceToHour(12);
        const first = await s.claim('UTC');
        const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
        const claimedAt = await env.currentTimeMs();
        // Noon UTC is 02:00 tomorrow in UTC+14 and midnight starting today in UTC-12: neither is a new day.
        expect(await refusedUntil(s.claim(EAST))).toBe(new Date(Math.floor(claimedAt / DAY) * DAY + DAY + 10 * HOUR).toISOString());
        expect(await refusedUntil(s.claim(WEST))).toBe(new Date(Math.floor(claimedAt / DAY) * DAY + DAY + 12 * HOUR).toISOString());
        await s.advanceToHour(23);
        await env.sleep(50 * 60_000); // 23:50 UTC
        for (const zone of [EAST, WEST, 'UTC']) await refusedUntil(s.claim(zone));
        await s.advanceToHour(0); // midnight UTC: still the same day in both extreme zones
        for (const zone of [EAST, WEST]) await refusedUntil(s.claim(zone));
        await s.advanceToHour(10);
        await env.sleep(5 * 60_000); // 10:05 UTC = 00:05 the day after tomorrow in UTC+14
        const second = await s.claim(EAST);
        expect(second).toMatchObject({ day: 2, streak: 2, streakReset: false });
        expect(second.date > first.date).toBe(true);
        for (const zone of [WEST, 'UTC']) await refusedUntil(s.claim(zone));

        expect(s.activities.credits.map((c) => c.claim.date)).toEqual([first.date, second.date]);
        expect(utcDay(claimedAt)).not.toBe(utcDay(await env.currentTimeMs()));
        const snapshot = await env.client.workflow.getHandle(dailyRewardWorkflowId(s.userId)).query(dailyRewardStatusQuery);
        expect(snapshot.state.timeZone).toBe(EAST);
      });
    });

    it('a profileChanged signal re-aims the reminder at the new zone (east: earlier)', async () => {
      await withScenario({ policy: { reminderLeadHours: 4 }, record: 'daily-reward.reminder-re-aimed' }, async (s) => {
        await s.advanceToHour(10);
        const first = await s.claim();
        // In UTC the streak would break at midnight UTC and the reminder go out at 20:00 UTC.
        expect(await s.flows.profileChanged({ id: s.userId, timeZone: 'Asia/Kolkata', profileVersion: 1 })).toBe(true);
        await s.advanceToHour(14, 1); // 14:00 UTC the next day
        expect(s.activities.reminders).toHaveLength(0);
        await env.sleep(HOUR); // 15:00 UTC = 20:30 in Kolkata, past 20:00 there
        expect(s.activities.reminders).toHaveLength(1);
        expect(s.activities.reminders[0]).toMatchObject({
          forDate: addDays(first.date, 1),
          streakBreaksAt: new Date(Date.parse(`${addDays(first.date, 2)}T00:00:00+05:30`)).toISOString(),
        });
      });
    });

    it('a profileChanged signal re-aims the reminder at the new zone (west: later)', async () => {
      await withScenario({ policy: { reminderLeadHours: 4 } }, async (s) => {
        await s.advanceToHour(10);
        const first = await s.claim();
        await s.flows.profileChanged({ id: s.userId, timeZone: 'America/Los_Angeles', profileVersion: 1 });
        await s.advanceToHour(21, 1); // past 20:00 UTC, when the UTC reminder would have gone out
        expect(s.activities.reminders).toHaveLength(0);
        await s.advanceToHour(5); // 05:00 UTC = 21:00 in Los Angeles, past 20:00 there
        expect(s.activities.reminders.map((r) => r.forDate)).toEqual([addDays(first.date, 1)]);
        expect(s.activities.reminders[0]!.streakBreaksAt).toBe(
          new Date(Date.parse(`${addDays(first.date, 2)}T00:00:00-08:00`)).toISOString(),
        );
      });
    });

    it('a claim that read the profile before a newer zone arrived does not undo it', async () => {
      await withScenario({}, async (s) => {
        await s.advanceToHour(10);
        await s.claim();
        expect(await s.flows.profileChanged({ id: s.userId, timeZone: 'Asia/Tokyo', profileVersion: 200 })).toBe(true);
        await s.advanceToHour(16); // 01:00 the day after in Tokyo, still the same UTC day
        const claim = await s.flows.claim({ id: s.userId, timeZone: 'UTC', profileVersion: 100 });
        const now = await env.currentTimeMs();
        expect(claim.date).toBe(new Date(now + 9 * HOUR).toISOString().slice(0, 10));
        const snapshot = await env.client.workflow.getHandle(dailyRewardWorkflowId(s.userId)).query(dailyRewardStatusQuery);
        expect(snapshot.state).toMatchObject({ timeZone: 'Asia/Tokyo', profileVersion: 200 });
      });
    });

    it('refuses a claim carrying an unknown zone or a broken table, leaving no trace in the history', async () => {
      await withScenario({}, async (s) => {
        await s.advanceToHour(10);
        await s.claim();
        await s.advanceToHour(10);
        const handle = env.client.workflow.getHandle(dailyRewardWorkflowId(s.userId));
        for (const request of [
          { timeZone: 'Mars/Olympus_Mons', policy: DEFAULT_DAILY_REWARD_POLICY },
          { timeZone: 'UTC', policy: { ...DEFAULT_DAILY_REWARD_POLICY, coinsByDay: [10, 20, 30] } },
        ]) {
          const failure = await handle.executeUpdate(claimDailyRewardUpdate, { args: [request] }).catch((e: WorkflowUpdateFailedError) => e.cause);
          expect(failure).toBeInstanceOf(ApplicationFailure);
          expect((failure as ApplicationFailure).type).toBe(ErrorCode.ValidationFailed);
        }
        expect(s.activities.credits).toHaveLength(1);
        const history = await handle.fetchHistory();
        expect(history.events?.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(1);
        expect(await s.claim()).toMatchObject({ day: 2 });
      });
    });

    it('a new coin table reaches the running flow with the next claim', async () => {
      await withScenario({ record: 'daily-reward.coin-table-changed' }, async (s) => {
        await s.advanceToHour(10);
        expect(await s.claim()).toMatchObject({ day: 1, coins: 10 });
        const table = [15, 25, 35, 45, 55, 65, 300];
        const redeployed = new DailyRewardFlows(env.client, s.taskQueue, { ...DEFAULT_DAILY_REWARD_POLICY, coinsByDay: table });
        const user = { id: s.userId, timeZone: 'UTC' };
        await s.advanceToHour(10);
        expect(await redeployed.claim(user)).toMatchObject({ day: 2, coins: 25, coinBalance: 35 });
        const snapshot = await env.client.workflow.getHandle(dailyRewardWorkflowId(s.userId)).query(dailyRewardStatusQuery);
        expect(snapshot.policy.coinsByDay).toEqual(table);
        await s.advanceToHour(10);
        expect(await redeployed.claim(user)).toMatchObject({ day: 3, coins: 35, coinBalance: 70 });
      });
    });
  });

  it('continues as new after the configured number of claims and keeps the state', async () => {
    await withScenario({ policy: { maxClaimsPerRun: 2 }, record: 'daily-reward.continued-as-new' }, async (s) => {
      const handle = env.client.workflow.getHandle(dailyRewardWorkflowId(s.userId));
      await s.advanceToHour(10);
      await s.claim();
      const firstRun = (await handle.describe()).runId;
      await s.advanceToHour(10);
      await s.claim();
      await s.advanceToHour(10);
      const third = await s.claim();
      const latest = await env.client.workflow.getHandle(dailyRewardWorkflowId(s.userId)).describe();
      expect(latest.runId).not.toBe(firstRun);
      expect(third).toMatchObject({ day: 3, streak: 3 });
      const snapshot = await env.client.workflow.getHandle(dailyRewardWorkflowId(s.userId)).query(dailyRewardStatusQuery);
      expect(snapshot.state).toMatchObject({ currentDay: 3, streak: 3, totalClaims: 3 });
    });
  });
});
