import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { createGiftFraudActivities, type ScanGiftFraudResult } from '../../activities/gift-fraud';
import { createApiApp } from '../../api/app';
import { DEFAULT_FRAUD_RULES, type FraudRules } from '../../domain/economy/fraud';
import { createMetrics, countGiftRefusal } from '../../platform/metrics';
import { giftFraudScanSchedule } from '../../workflows/gift-fraud/schedule';
import { startWorker, testLogger } from '../support/app-harness';
import { FraudFixtures, testReceiptReversal } from '../support/gift-fixtures-fraud';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { apiClient, errorCode, UNLIMITED_RATES, type ApiClient } from '../support/room-api';
import type { TestUser } from '../support/rooms';

/**
 * Gifting anti-fraud on real PostgreSQL: the scan flags round trips and shared devices, holds
 * their pending receipts (never settled ones), and adds nothing twice; staff list, read and
 * decide (release: pending again; reverse: reversed and refunded), each with its audit row;
 * everyone else gets 403; the counters move. The scheduled workflow runs the same scan on the
 * Temporal dev server.
 */

const HOUR = 3_600_000;
const rules: FraudRules = { ...DEFAULT_FRAUD_RULES, roundTripMinCoinsEachWay: 500, sharedDeviceMinSenders: 3 };

let stack: RealStack;
let fx: FraudFixtures;
let server: http.Server;
let api: ApiClient;
let baseUrl: string;
const metrics = createMetrics();
let scan: (asOf: Date) => Promise<ScanGiftFraudResult>;
let staff: TestUser;
let nonStaff: TestUser;

/**
 * Each test gets a window far from now (and from every other test's), so receipts other suites
 * make in this database never fall into its scans.
 */
let nextWindow = 0;
function freshWindow(): Date {
  nextWindow += 1;
  return new Date(Date.UTC(2035, 0, 1) + nextWindow * 10 * 24 * HOUR + Math.floor(Math.random() * 1000) * 1000);
}
const hoursBefore = (t: Date, hours: number) => new Date(t.getTime() - hours * HOUR);

async function flagsOf(receiptIds: string[]): Promise<{ id: string; kind: string; status: string; receipt_count: number }[]> {
  return stack.dataSource.query(
    `SELECT DISTINCT g.id, g.kind, g.status, g.receipt_count FROM gift_fraud_flags g JOIN gift_fraud_flag_receipts f ON f.flag_id = g.id
      WHERE f.receipt_id = ANY($1::bigint[])`,
    [receiptIds],
  );
}

async function counterValue(name: 'giftFraudFlags' | 'giftFraudReviews', label: Record<string, string>): Promise<number> {
  const { values } = await metrics[name].get();
  const key = Object.entries(label);
  return values.find((v) => key.every(([k, val]) => v.labels[k as keyof typeof v.labels] === val))?.value ?? 0;
}

/** A round trip of 600 coins each way between two new users, an hour before `asOf`. */
async function roundTrip(asOf: Date): Promise<{ a: string; b: string; receipts: string[] }> {
  const [a, b] = [await fx.user(), await fx.user()];
  const receipts = [
    await fx.gift(a, b, 400, hoursBefore(asOf, 3)),
    await fx.gift(a, b, 200, hoursBefore(asOf, 2)),
    await fx.gift(b, a, 600, hoursBefore(asOf, 1)),
  ];
  return { a, b, receipts };
}

beforeAll(async () => {
  stack = await connectRealStack('gift-fraud');
  fx = new FraudFixtures(stack);
  const activities = createGiftFraudActivities({ dataSource: stack.dataSource, giftMetrics: metrics });
  scan = (asOf) => activities.scanGiftFraud({ since: hoursBefore(asOf, rules.windowHours).toISOString(), asOf: asOf.toISOString(), rules });

  const app = createApiApp({
    config: { ...stack.config, ...UNLIMITED_RATES },
    dataSource: stack.dataSource,
    redis: stack.redis,
    temporal: stack.temporal,
    tokens: stack.tokens,
    logger: testLogger,
    metrics,
    receiptReversal: testReceiptReversal(stack),
  });
  server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api = apiClient(baseUrl);

  const staffId = await fx.user(0);
  await stack.dataSource.query(`INSERT INTO staff_members (user_id, role, granted_by) VALUES ($1, 'support', 'gift-fraud test')`, [staffId]);
  staff = { userId: staffId, token: await stack.tokens.sign({ userId: staffId }) };
  const otherId = await fx.user(0);
  nonStaff = { userId: otherId, token: await stack.tokens.sign({ userId: otherId }) };
});

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await stack?.close();
});

describe('the scan', () => {
  it('flags a round trip, holds its pending receipts, leaves a settled one settled, and counts the flag once', async () => {
    const asOf = freshWindow();
    const { a, b, receipts } = await roundTrip(asOf);
    const settled = await fx.gift(b, a, 50, hoursBefore(asOf, 4));
    await fx.settle(settled);
    const before = await counterValue('giftFraudFlags', { kind: 'round-trip' });

    const result = await scan(asOf);
    expect(result).toMatchObject({ findings: 1, newFlags: 1, heldReceipts: 3, newFlagsByKind: { 'round-trip': 1, 'shared-device': 0 } });
    expect(await fx.states([...receipts, settled])).toEqual({
      [receipts[0]!]: { state: 'held', reason: null },
      [receipts[1]!]: { state: 'held', reason: null },
      [receipts[2]!]: { state: 'held', reason: null },
      [settled]: { state: 'settled', reason: null },
    });
    const [flag]: { kind: string; status: string; receiver_id: string; user_ids: string[]; coins: string; receipt_count: number; evidence: { legs: { coins: number; settledCoins: number }[] } }[] =
      await stack.dataSource.query(`SELECT kind, status, receiver_id, user_ids::text[] AS user_ids, coins, receipt_count, evidence FROM gift_fraud_flags WHERE $1 = ANY(user_ids) AND $2 = ANY(user_ids)`, [a, b]);
    expect(flag).toMatchObject({ kind: 'round-trip', status: 'open', user_ids: [a, b].sort(), coins: '1200', receipt_count: 3 });
    // A received 650 (600 pending + 50 settled), B 600: A is the beneficiary.
    expect(flag!.receiver_id).toBe(a);
    expect(flag!.evidence.legs.map((l) => l.settledCoins).sort()).toEqual([0, 50]);
    expect(await counterValue('giftFraudFlags', { kind: 'round-trip' })).toBe(before + 1);
  });

  it('adds nothing on a re-scan; a new gift of the same pair joins the open flag, held, without a new flag', async () => {
    const asOf = freshWindow();
    const { a, b, receipts } = await roundTrip(asOf);
    await scan(asOf);
    const before = await counterValue('giftFraudFlags', { kind: 'round-trip' });

    expect(await scan(asOf)).toMatchObject({ findings: 1, newFlags: 0, updatedFlags: 0, heldReceipts: 0 });
    const later = new Date(asOf.getTime() + 5 * 60_000);
    const more = await fx.gift(a, b, 10, hoursBefore(later, 0.01));
    expect(await scan(later)).toMatchObject({ findings: 1, newFlags: 0, updatedFlags: 1, heldReceipts: 1 });

    const flags = await flagsOf([...receipts, more]);
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({ status: 'open', receipt_count: 4 });
    expect((await fx.states([more]))[more]!.state).toBe('held');
    expect(await counterValue('giftFraudFlags', { kind: 'round-trip' })).toBe(before);
  });

  it('flags nothing below the threshold or outside the window', async () => {
    const asOf = freshWindow();
    const [a, b, c, d] = [await fx.user(), await fx.user(), await fx.user(), await fx.user()];
    const below = [await fx.gift(a, b, 5_000, hoursBefore(asOf, 1)), await fx.gift(b, a, 499, hoursBefore(asOf, 1))];
    const outside = [await fx.gift(c, d, 5_000, hoursBefore(asOf, 1)), await fx.gift(d, c, 5_000, hoursBefore(asOf, 25))];

    expect(await scan(asOf)).toMatchObject({ findings: 0, newFlags: 0, heldReceipts: 0 });
    expect(Object.values(await fx.states([...below, ...outside])).map((s) => s.state)).toEqual(['pending', 'pending', 'pending', 'pending']);
    expect(await flagsOf([...below, ...outside])).toEqual([]);
  });

  it('flags senders on one device gifting one receiver, with counts but no device id, and not a sender on another device', async () => {
    const asOf = freshWindow();
    const device = `farm-phone-${randomUUID()}`;
    const host = await fx.user(0);
    const farm = [await fx.user(), await fx.user(), await fx.user()];
    const honest = await fx.user();
    for (const s of farm) await fx.session(s, device, hoursBefore(asOf, 48));
    await fx.session(farm[0]!, `own-phone-${randomUUID()}`, hoursBefore(asOf, 2));
    await fx.session(honest, `own-phone-${randomUUID()}`, hoursBefore(asOf, 2));
    const farmed = [];
    for (const s of farm) farmed.push(await fx.gift(s, host, 100, hoursBefore(asOf, 2)));
    const fair = await fx.gift(honest, host, 100, hoursBefore(asOf, 2));
    const before = await counterValue('giftFraudFlags', { kind: 'shared-device' });

    expect(await scan(asOf)).toMatchObject({ findings: 1, newFlags: 1, heldReceipts: 3, newFlagsByKind: { 'shared-device': 1 } });
    expect(Object.values(await fx.states(farmed)).map((s) => s.state)).toEqual(['held', 'held', 'held']);
    expect((await fx.states([fair]))[fair]!.state).toBe('pending');
    const [flag]: Record<string, unknown>[] = await stack.dataSource.query(`SELECT *, user_ids::text[] AS user_ids FROM gift_fraud_flags WHERE receiver_id = $1`, [host]);
    expect(flag).toMatchObject({ kind: 'shared-device', user_ids: [host, ...farm].sort(), receipt_count: 3 });
    expect(flag!.evidence).toEqual({ windowHours: 24, minSenders: 3, senders: 3, sharedDevices: 1, coins: 300, gifts: 3, settledCoins: 0 });
    expect(JSON.stringify(flag)).not.toContain(device);
    expect(await counterValue('giftFraudFlags', { kind: 'shared-device' })).toBe(before + 1);
  });

  it('does not flag two senders on one device, nor a shared device whose sessions are too old', async () => {
    const asOf = freshWindow();
    const [host, host2] = [await fx.user(0), await fx.user(0)];
    const pair = [await fx.user(), await fx.user()];
    const stale = [await fx.user(), await fx.user(), await fx.user()];
    const device = `pair-phone-${randomUUID()}`;
    const oldDevice = `old-phone-${randomUUID()}`;
    for (const s of pair) await fx.session(s, device, hoursBefore(asOf, 1));
    for (const s of stale) await fx.session(s, oldDevice, hoursBefore(asOf, 24 * (rules.deviceLookbackDays + 1)));
    const receipts = [];
    for (const s of pair) receipts.push(await fx.gift(s, host, 100, hoursBefore(asOf, 1)));
    for (const s of stale) receipts.push(await fx.gift(s, host2, 100, hoursBefore(asOf, 1)));

    expect(await scan(asOf)).toMatchObject({ findings: 0, newFlags: 0 });
    expect(await flagsOf(receipts)).toEqual([]);
  });
});

describe('staff review', () => {
  async function openRoundTrip(): Promise<{ a: string; b: string; receipts: string[]; flagId: string }> {
    const asOf = freshWindow();
    const trip = await roundTrip(asOf);
    await scan(asOf);
    const [flag] = await flagsOf(trip.receipts);
    return { ...trip, flagId: flag!.id };
  }

  it('refuses everyone who is not staff with 403 STAFF_REQUIRED, before reading anything', async () => {
    const { flagId, receipts } = await openRoundTrip();
    const as = api.as(nonStaff);
    for (const reply of [
      await as.get('/staff/gift-flags?status=open'),
      await as.get(`/staff/gift-flags/${flagId}`),
      await as.post(`/staff/gift-flags/${flagId}/review`, { decision: 'release', note: 'looks fine' }),
      await as.post(`/staff/gift-flags/${flagId}/review`, { decision: 'nonsense' }),
    ]) {
      expect([reply.status, errorCode(reply)]).toEqual([403, 'STAFF_REQUIRED']);
    }
    expect(Object.values(await fx.states(receipts)).map((s) => s.state)).toEqual(['held', 'held', 'held']);
  });

  it('lists open flags newest first with cursors, and shows one with its receipts', async () => {
    const first = await openRoundTrip();
    const second = await openRoundTrip();
    const as = api.as(staff);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { items: { id: string; status: string }[]; nextCursor: string | null } } = await as.get(
        `/staff/gift-flags?status=open&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(1);
      for (const item of page.body.items) {
        expect(item.status).toBe('open');
        seen.push(item.id);
      }
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.indexOf(second.flagId)).toBeLessThan(seen.indexOf(first.flagId));
    expect(seen.indexOf(second.flagId)).toBeGreaterThanOrEqual(0);

    const detail = await as.get<{ kind: string; receipts: { id: string; state: string }[]; reviews: unknown[] }>(`/staff/gift-flags/${first.flagId.toUpperCase()}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ kind: 'round-trip', reviews: [] });
    expect(detail.body.receipts.map((r) => [r.id, r.state])).toEqual(first.receipts.map((id) => [id, 'held']));
    expect(errorCode(await as.get(`/staff/gift-flags/${randomUUID()}`))).toBe('NOT_FOUND');
    expect(errorCode(await as.get('/staff/gift-flags?status=closed'))).toBe('VALIDATION_FAILED');
  });

  it('releases: the held receipts are pending again, the flag is closed with its audit row, and a second decision is refused', async () => {
    const { flagId, receipts } = await openRoundTrip();
    const as = api.as(staff);
    const before = await counterValue('giftFraudReviews', { decision: 'release' });

    const reply = await as.post<{ status: string; reviewedBy: string; note: string; reviews: { decision: string; note: string; reviewedBy: string; effect: { receiptIds: string[]; coins: number } }[] }>(
      `/staff/gift-flags/${flagId}/review`,
      { decision: 'release', note: 'friends trading gifts on a birthday' },
    );
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: 'released', reviewedBy: staff.userId, note: 'friends trading gifts on a birthday' });
    expect(reply.body.reviews).toEqual([
      expect.objectContaining({ decision: 'release', reviewedBy: staff.userId, effect: expect.objectContaining({ receiptIds: receipts, coins: 1200 }) }),
    ]);
    expect(Object.values(await fx.states(receipts)).map((s) => s.state)).toEqual(['pending', 'pending', 'pending']);

    const again = await as.post(`/staff/gift-flags/${flagId}/review`, { decision: 'reverse', note: 'changed my mind' });
    expect([again.status, errorCode(again)]).toEqual([409, 'GIFT_FLAG_ALREADY_REVIEWED']);
    expect(Object.values(await fx.states(receipts)).map((s) => s.state)).toEqual(['pending', 'pending', 'pending']);
    const audit: { decision: string }[] = await stack.dataSource.query(`SELECT decision FROM gift_fraud_reviews WHERE flag_id = $1`, [flagId]);
    expect(audit).toEqual([{ decision: 'release' }]);
    expect(await counterValue('giftFraudReviews', { decision: 'release' })).toBe(before + 1);

    // The released receipts are not named again by the next scan of the same pattern.
    const [row]: { created_at: Date }[] = await stack.dataSource.query(`SELECT max(created_at) AS created_at FROM gift_receipts WHERE id = ANY($1::bigint[])`, [receipts]);
    expect(await scan(new Date(row!.created_at.getTime() + 60_000))).toMatchObject({ newFlags: 0, heldReceipts: 0 });
  });

  it('reverses: the held receipts are reversed for review, the senders refunded, and every balance equals its ledger', async () => {
    const { a, b, flagId, receipts } = await openRoundTrip();
    const coinsBefore = { a: await fx.balancesAndLedger(a), b: await fx.balancesAndLedger(b) };

    const reply = await api.as(staff).post<{ status: string }>(`/staff/gift-flags/${flagId}/review`, { decision: 'reverse', note: 'coins washed back and forth' });
    expect([reply.status, reply.body.status]).toEqual([200, 'reversed']);
    expect(Object.values(await fx.states(receipts))).toEqual([
      { state: 'reversed', reason: 'review' },
      { state: 'reversed', reason: 'review' },
      { state: 'reversed', reason: 'review' },
    ]);
    const after = { a: await fx.balancesAndLedger(a), b: await fx.balancesAndLedger(b) };
    expect(after.a.coins - coinsBefore.a.coins).toBe(600); // A sent 400 + 200
    expect(after.b.coins - coinsBefore.b.coins).toBe(600);
    for (const w of [after.a, after.b]) {
      expect(w.coins).toBe(w.ledgerCoins);
      expect(w.diamonds).toBe(w.ledgerDiamonds);
      expect(w.diamonds).toBe(0);
    }
    const refunds: { reason: string; n: number }[] = await stack.dataSource.query(
      `SELECT reason, count(*)::int AS n FROM ledger_entries WHERE user_id = ANY($1::uuid[]) AND reason = 'gift_refund' GROUP BY reason`,
      [[a, b]],
    );
    expect(refunds).toEqual([{ reason: 'gift_refund', n: 3 }]);
    const listed = await api.as(staff).get<{ items: { id: string }[] }>('/staff/gift-flags?status=reversed&limit=100');
    expect(listed.body.items.map((f) => f.id)).toContain(flagId);
  });

  it('rolls a review back whole when the reversal fails: the flag stays open, the receipts held, no audit row', async () => {
    const { flagId, receipts } = await openRoundTrip();
    const failing = createApiApp({
      config: { ...stack.config, ...UNLIMITED_RATES },
      dataSource: stack.dataSource,
      redis: stack.redis,
      temporal: stack.temporal,
      tokens: stack.tokens,
      logger: testLogger,
      receiptReversal: {
        async reverse(tx, ids) {
          await tx.query(`UPDATE gift_receipts SET state = 'reversed', reversed_reason = 'review' WHERE id = ANY($1::bigint[])`, [ids]);
          throw new Error('refund failed');
        },
      },
    });
    const failingServer = await new Promise<http.Server>((resolve) => {
      const s = failing.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const reply = await apiClient(`http://127.0.0.1:${(failingServer.address() as AddressInfo).port}`)
        .as(staff)
        .post(`/staff/gift-flags/${flagId}/review`, { decision: 'reverse', note: 'try' });
      expect(reply.status).toBe(500);
    } finally {
      await new Promise<void>((resolve) => failingServer.close(() => resolve()));
    }
    expect(Object.values(await fx.states(receipts)).map((s) => s.state)).toEqual(['held', 'held', 'held']);
    expect((await stack.dataSource.query(`SELECT status FROM gift_fraud_flags WHERE id = $1`, [flagId]))[0]).toEqual({ status: 'open' });
    expect(await stack.dataSource.query(`SELECT 1 FROM gift_fraud_reviews WHERE flag_id = $1`, [flagId])).toEqual([]);
  });

  it('refuses a review without a note or with an unknown decision', async () => {
    const { flagId } = await openRoundTrip();
    const as = api.as(staff);
    expect(errorCode(await as.post(`/staff/gift-flags/${flagId}/review`, { decision: 'release' }))).toBe('VALIDATION_FAILED');
    expect(errorCode(await as.post(`/staff/gift-flags/${flagId}/review`, { decision: 'delete', note: 'x' }))).toBe('VALIDATION_FAILED');
    expect(errorCode(await as.post(`/staff/gift-flags/${flagId}/review`, { decision: 'release', note: '   ' }))).toBe('VALIDATION_FAILED');
  });
});

describe('scripts/staff.ts', () => {
  it('grants staff (the routes answer at once) and revokes it; refuses a bad user id', async () => {
    const tool = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', resolve(__dirname, '../../scripts/staff.ts'), ...args], { cwd: resolve(__dirname, '../..'), env: process.env });
    const user = await fx.user(0);
    const token = await stack.tokens.sign({ userId: user });
    expect((await tool('grant', user.toUpperCase(), '--by', 'tester')).stdout).toMatch(/is now support staff/);
    expect((await api.as({ userId: user, token }).get('/staff/gift-flags')).status).toBe(200);
    expect(await stack.dataSource.query(`SELECT role, granted_by FROM staff_members WHERE user_id = $1`, [user])).toEqual([{ role: 'support', granted_by: 'tester' }]);
    expect((await tool('revoke', user)).stdout).toMatch(/is no longer staff/);
    expect(await stack.dataSource.query(`SELECT 1 FROM staff_members WHERE user_id = $1`, [user])).toEqual([]);
    await expect(tool('grant', 'not-a-user-id')).rejects.toMatchObject({ stderr: expect.stringMatching(/usage/) });
    await expect(tool('grant', randomUUID())).rejects.toMatchObject({ stderr: expect.stringMatching(/no such user/) });
  });
});

describe('metrics', () => {
  it('exposes the refusal, flag and review counters at /metrics', async () => {
    countGiftRefusal(metrics, 'GIFT_SENDER_DAILY_CAP');
    const res = await fetch(`${baseUrl}/v1/metrics`);
    const text = await res.text();
    expect(text).toMatch(/aura_gift_refusals_total\{code="GIFT_SENDER_DAILY_CAP"\} 1/);
    expect(text).toMatch(/aura_gift_fraud_flags_total\{kind="round-trip"\} [1-9]/);
    expect(text).toMatch(/aura_gift_fraud_flags_total\{kind="shared-device"\} [1-9]/);
    expect(text).toMatch(/aura_gift_fraud_reviews_total\{decision="reverse"\} [1-9]/);
  });
});

describe('the scheduled scan', () => {
  it('runs as the schedule starts it (its workflow type and arguments) on a worker, flagging a round trip of the last hour', async () => {
    const now = new Date();
    const { receipts } = await roundTrip(new Date(now.getTime() - 60_000));
    const worker = await startWorker(stack);
    try {
      const result: ScanGiftFraudResult = await stack.temporal.workflow.execute(giftFraudScanSchedule.workflowType, {
        taskQueue: stack.taskQueue,
        workflowId: `${giftFraudScanSchedule.workflowIdPrefix}-test-${randomUUID()}`,
        args: [{ rules: { roundTripMinCoinsEachWay: 500 } }],
      });
      expect(result.heldReceipts).toBeGreaterThanOrEqual(3);
      expect(Object.values(await fx.states(receipts)).map((s) => s.state)).toEqual(['held', 'held', 'held']);
    } finally {
      await worker.stop();
    }
    expect(giftFraudScanSchedule).toMatchObject({ scheduleId: 'gift-fraud-scan', intervalSeconds: 60 });
  });
});
