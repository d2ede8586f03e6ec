import { randomInt, randomUUID } from 'node:crypto';
import { referralBoardKeys, ReferralBoards } from '../../db/live/referral-boards';
import { ReferralRecords } from '../../db/repositories/referrals';
import { DEFAULT_REFERRAL_REWARDS } from '../../domain/referrals/milestones';
import { DevSmsInbox } from '../../platform/sms/dev-inbox';
import { ReferralLeaderboard } from '../../services/referrals/leaderboard';
import { referralWorkflowId } from '../../workflows/referral/definitions';
import { startApi, startWorker } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * Referrals on the real stack: invite codes, attribution at phone sign-up and later, each
 * refusal rule (recorded with its exact reason, answered with a coarse one, never failing the
 * sign-in), the referees list, and the leaderboards counted once per qualified referral and
 * rebuilt from PostgreSQL when their Redis keys are lost.
 */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let worker: Awaited<ReturnType<typeof startWorker>>;
let inbox: DevSmsInbox;
let records: ReferralRecords;
const referees: string[] = [];

// Networks of this run: 10.<a>.<b>.0/24, a fresh <b> per call.
const netBase = randomInt(1, 250);
let netSeq = randomInt(0, 200);
const newNetwork = () => `10.${netBase}.${(netSeq = (netSeq + 1) % 250)}`;

beforeAll(async () => {
  stack = await connectRealStack('referrals');
  [api, worker] = await Promise.all([
    startApi(stack, { RATE_LIMIT_AUTH_IP_PER_10_MINUTES: 10_000, RATE_LIMIT_USER_PER_MINUTE: 100_000, RATE_LIMIT_IP_PER_MINUTE: 100_000, API_TRUSTED_PROXIES: 1 }),
    startWorker(stack),
  ]);
  inbox = new DevSmsInbox(stack.redis);
  records = new ReferralRecords(stack.dataSource);
});

afterAll(async () => {
  for (const id of referees) await stack.temporal.workflow.getHandle(referralWorkflowId(id)).terminate('test finished').catch(() => undefined);
  await api?.close();
  await worker?.stop();
  await stack?.close();
});

let phoneSeq = 0;
const newPhone = () => `+447400${String((Date.now() * 7 + phoneSeq++ * 7919) % 1_000_000).padStart(6, '0')}`;
const newDevice = () => `ref-device-${randomUUID()}`;

async function call(method: string, path: string, options: { token?: string; body?: unknown; ip?: string; deviceId?: string } = {}) {
  const res = await fetch(`${api.url}/v1${path}`, {
    method,
    headers: {
      'x-forwarded-for': options.ip ?? `${newNetwork()}.9`,
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.deviceId ? { 'x-device-id': options.deviceId } : {}),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

interface SignedIn {
  status: number;
  token: string;
  userId: string;
  isNew: boolean;
  referral?: { status: string; reason?: string; referrerId?: string };
  body: Record<string, unknown>;
}

async function signIn(options: { phone?: string; device?: string; ip?: string; inviteCode?: unknown } = {}): Promise<SignedIn & { phone: string }> {
  const phone = options.phone ?? newPhone();
  const ip = options.ip ?? `${newNetwork()}.10`;
  expect((await call('POST', '/auth/otp/request', { body: { phone }, ip })).status).toBe(202);
  const code = /\b(\d{6})\b/.exec((await inbox.latest(phone))?.body ?? '')?.[1];
  const res = await call('POST', '/auth/otp/verify', {
    ip,
    body: { phone, code, device: { id: options.device ?? newDevice(), name: 'test phone' }, ...(options.inviteCode === undefined ? {} : { inviteCode: options.inviteCode }) },
  });
  const body = res.body as { accessToken: string; user: { id: string; isNew: boolean }; referral?: SignedIn['referral'] };
  if (body.referral?.status === 'attributed') referees.push(body.user.id);
  return { status: res.status, token: body.accessToken, userId: body.user?.id, isNew: body.user?.isNew, referral: body.referral, body: res.body, phone };
}

async function inviteCodeOf(token: string): Promise<string> {
  const res = await call('GET', '/me/referral', { token });
  expect(res.status).toBe(200);
  return res.body.code as string;
}

async function refusals(refereeId: string): Promise<string[]> {
  const rows: { reason: string }[] = await stack.dataSource.query(`SELECT reason FROM referral_refusals WHERE referee_id = $1 ORDER BY id`, [refereeId]);
  return rows.map((r) => r.reason);
}

describe('invite codes', () => {
  it('assigns a code once, lazily, without look-alike characters, with its link and stats', async () => {
    const user = await signIn();
    const first = await call('GET', '/me/referral', { token: user.token });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      code: expect.stringMatching(/^[ACEFGHJKMNPRTWXY34679]{8}$/),
      link: `https://aura.app/i/${first.body.code as string}`,
      stats: { attributed: 0, qualified: 0, coinsEarned: 0 },
    });
    expect((await call('GET', '/me/referral', { token: user.token })).body.code).toBe(first.body.code);
    const [row] = (await stack.dataSource.query(`SELECT invite_code FROM users WHERE id = $1`, [user.userId])) as [{ invite_code: string }];
    expect(row.invite_code).toBe(first.body.code);
  });
});

describe('attribution at sign-up', () => {
  it('attributes a new user once, starts their flow, and the referrer sees them', async () => {
    const referrer = await signIn();
    const code = await inviteCodeOf(referrer.token);
    const referee = await signIn({ inviteCode: code.toLowerCase() }); // case-insensitive
    expect(referee.status).toBe(200);
    expect(referee.isNew).toBe(true);
    expect(referee.referral).toEqual({ status: 'attributed', referrerId: referrer.userId });
    expect(await records.referee(referee.userId)).toMatchObject({ referrerId: referrer.userId, flowStarted: true, ended: false });
    const flow = await stack.temporal.workflow.getHandle(referralWorkflowId(referee.userId)).describe();
    expect(flow.status.name).toBe('RUNNING');
    expect(flow.typedSearchAttributes.toJSON()).toEqual(
      expect.arrayContaining([expect.objectContaining({ value: 'referral' }), expect.objectContaining({ value: referee.userId })]),
    );

    const list = await call('GET', '/me/referrals?limit=5', { token: referrer.token });
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([
      expect.objectContaining({
        userId: referee.userId,
        status: 'open',
        milestones: [
          { milestone: 'active-days', paidAt: null, coins: null },
          { milestone: 'first-recharge', paidAt: null, coins: null },
          { milestone: 'streak-7', paidAt: null, coins: null },
        ],
      }),
    ]);
    expect((await call('GET', '/me/referral', { token: referrer.token })).body.stats).toEqual({ attributed: 1, qualified: 0, coinsEarned: 0 });

    // A second attribution: another code is refused, the same code is answered as before.
    const other = await signIn();
    const otherCode = await inviteCodeOf(other.token);
    const second = await call('POST', '/me/referral/attribution', { token: referee.token, body: { inviteCode: otherCode } });
    expect(second).toEqual({ status: 422, body: { error: expect.objectContaining({ code: 'REFERRAL_REFUSED', details: { reason: 'already_attributed' } }) } });
    const again = await call('POST', '/me/referral/attribution', { token: referee.token, body: { inviteCode: code } });
    expect(again).toEqual({ status: 201, body: { status: 'attributed', referrerId: referrer.userId } });
    expect(await refusals(referee.userId)).toEqual(['already_attributed']);
    expect(await records.referee(referee.userId)).toMatchObject({ referrerId: referrer.userId });
  });

  it('an unknown or impossible code: sign-in answers normally, the refusal is recorded; a malformed one is 400 and the code still works', async () => {
    const unknown = await signIn({ inviteCode: 'XXXXXXXX' });
    expect(unknown.status).toBe(200);
    expect(unknown.body).toMatchObject({ accessToken: expect.any(String), referral: { status: 'refused', reason: 'unknown_code' } });
    expect(await refusals(unknown.userId)).toEqual(['unknown_code']);
    expect(await records.referee(unknown.userId)).toBeNull();
    expect((await call('GET', '/me', { token: unknown.token })).status).toBe(200);

    const short = await signIn({ inviteCode: 'AB-1' });
    expect(short.referral).toEqual({ status: 'refused', reason: 'unknown_code' });

    // A code that is not letters, digits and dashes: the request is malformed, refused before the code is spent.
    const phone = newPhone();
    const ip = `${newNetwork()}.11`;
    expect((await call('POST', '/auth/otp/request', { body: { phone }, ip })).status).toBe(202);
    const code = /\b(\d{6})\b/.exec((await inbox.latest(phone))?.body ?? '')?.[1];
    const bad = await call('POST', '/auth/otp/verify', { ip, body: { phone, code, inviteCode: 'AB\u202eCD' } });
    expect(bad.status).toBe(400);
    expect((await call('POST', '/auth/otp/verify', { ip, body: { phone, code } })).status).toBe(200);
  });

  it('an existing user is not attributed; signing in with a code never fails', async () => {
    const referrer = await signIn();
    const code = await inviteCodeOf(referrer.token);
    const existing = await signIn();
    const again = await signIn({ phone: existing.phone, inviteCode: code });
    expect(again.status).toBe(200);
    expect(again.isNew).toBe(false);
    expect(again.referral).toEqual({ status: 'refused', reason: 'not_new_user' });
    expect(await refusals(existing.userId)).toEqual(['not_new_user']);
  });

  it('never to themselves (a late attribution with their own code)', async () => {
    const user = await signIn();
    const own = await inviteCodeOf(user.token);
    const res = await call('POST', '/me/referral/attribution', { token: user.token, body: { inviteCode: own } });
    expect(res).toEqual({ status: 422, body: { error: expect.objectContaining({ code: 'REFERRAL_REFUSED', details: { reason: 'self' } }) } });
    expect(await refusals(user.userId)).toEqual(['self']);
  });

  it('not on a device the referrer or another referred account used', async () => {
    const referrerDevice = newDevice();
    const referrer = await signIn({ device: referrerDevice });
    const code = await inviteCodeOf(referrer.token);
    const onReferrersDevice = await signIn({ device: referrerDevice, inviteCode: code });
    expect(onReferrersDevice.status).toBe(200);
    expect(onReferrersDevice.referral).toEqual({ status: 'refused', reason: 'ineligible' });
    expect(await refusals(onReferrersDevice.userId)).toEqual(['same_device']);

    // Another referee's device, whoever referred them.
    const refereeDevice = newDevice();
    const first = await signIn({ device: refereeDevice, inviteCode: code });
    expect(first.referral?.status).toBe('attributed');
    const someoneElse = await signIn();
    const onRefereesDevice = await signIn({ device: refereeDevice, inviteCode: await inviteCodeOf(someoneElse.token) });
    expect(onRefereesDevice.referral).toEqual({ status: 'refused', reason: 'ineligible' });
    expect(await refusals(onRefereesDevice.userId)).toEqual(['same_device']);
    expect(await stack.temporal.workflow.getHandle(referralWorkflowId(onRefereesDevice.userId)).describe().catch((e: Error) => e.name)).toBe('WorkflowNotFoundError');
  });

  it('not on the network (IPv4 /24, IPv6 /64) of the referrer or another referred account', async () => {
    const home = newNetwork();
    const referrer = await signIn({ ip: `${home}.20` });
    const code = await inviteCodeOf(referrer.token);
    const sameNet = await signIn({ ip: `${home}.77`, inviteCode: code });
    expect(sameNet.referral).toEqual({ status: 'refused', reason: 'ineligible' });
    expect(await refusals(sameNet.userId)).toEqual(['same_network']);

    const prefix = `2001:db8:${randomInt(1, 0xffff).toString(16)}:${randomInt(1, 0xffff).toString(16)}`;
    const v6Referee = await signIn({ ip: `${prefix}::1`, inviteCode: code });
    expect(v6Referee.referral?.status).toBe('attributed');
    const v6Neighbour = await signIn({ ip: `${prefix}:aaaa:bbbb:cccc:dddd`, inviteCode: code });
    expect(v6Neighbour.referral).toEqual({ status: 'refused', reason: 'ineligible' });
    expect(await refusals(v6Neighbour.userId)).toEqual(['same_network']);
    const elsewhere = await signIn({ ip: `${newNetwork()}.5`, inviteCode: code });
    expect(elsewhere.referral?.status).toBe('attributed');
  });

  it('later (the store referrer): within the window after sign-up, with its own rules', async () => {
    const referrer = await signIn();
    const code = await inviteCodeOf(referrer.token);
    const user = await signIn();
    const late = await call('POST', '/me/referral/attribution', { token: user.token, body: { inviteCode: code }, deviceId: newDevice() });
    expect(late).toEqual({ status: 201, body: { status: 'attributed', referrerId: referrer.userId } });
    referees.push(user.userId);

    const old = await signIn();
    await stack.dataSource.query(`UPDATE users SET created_at = now() - interval '25 hours' WHERE id = $1`, [old.userId]);
    const tooLate = await call('POST', '/me/referral/attribution', { token: old.token, body: { inviteCode: code } });
    expect(tooLate.body.error).toMatchObject({ code: 'REFERRAL_REFUSED', details: { reason: 'not_new_user' } });
  });
});

describe('leaderboards', () => {
  it('count each qualified referral once (weekly and all time), page with a cursor, and are rebuilt from PostgreSQL when their keys are lost', async () => {
    const leaderboard = new ReferralLeaderboard({ boards: new ReferralBoards(stack.redis), records });
    const [top, second] = [await signIn(), await signIn()];
    // Qualified referrals: top 3, second 2, and one attribution that never paid (counts nothing).
    const referred = async (referrerId: string, paid: boolean) => {
      const referee = await stack.newUser();
      await stack.dataSource.query(
        `INSERT INTO referrals (referee_id, referrer_id, invite_code, via, window_ends_at) VALUES ($1, $2, 'TESTCODE', 'sign-up', now() + interval '30 days')`,
        [referee.id, referrerId],
      );
      if (paid) {
        const payout = await records.payMilestone(referee.id, DEFAULT_REFERRAL_REWARDS[0]!);
        await leaderboard.record(payout.referrerId, referee.id, payout.qualifiedAt);
        await leaderboard.record(payout.referrerId, referee.id, payout.qualifiedAt); // a retried payout counts once
      }
    };
    // Read first so the boards exist (built from PostgreSQL) and then take increments.
    await call('GET', '/referrals/leaderboard?period=all', { token: top.token });
    await call('GET', '/referrals/leaderboard?period=week', { token: top.token });
    for (let i = 0; i < 3; i++) await referred(top.userId, true);
    for (let i = 0; i < 2; i++) await referred(second.userId, true);
    await referred(second.userId, false);

    const scoreOf = (body: Record<string, any>, userId: string) => (body.items as { userId: string; referrals: number }[]).find((e) => e.userId === userId)?.referrals; // eslint-disable-line @typescript-eslint/no-explicit-any
    const read = async (period: string) => (await call('GET', `/referrals/leaderboard?period=${period}&limit=100`, { token: second.token })).body;
    for (const period of ['week', 'all']) {
      const body = await read(period);
      expect(scoreOf(body, top.userId)).toBe(3);
      expect(scoreOf(body, second.userId)).toBe(2);
      expect(body.me).toEqual({ rank: expect.any(Number), referrals: 2 });
      expect(body.items.findIndex((e: { userId: string }) => e.userId === top.userId)).toBeLessThan(body.items.findIndex((e: { userId: string }) => e.userId === second.userId));
    }

    // A page of one, then the next with the cursor.
    const first = await call('GET', '/referrals/leaderboard?period=all&limit=1', { token: top.token });
    expect(first.body.items).toHaveLength(1);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const next = await call('GET', `/referrals/leaderboard?period=all&limit=1&cursor=${first.body.nextCursor as string}`, { token: top.token });
    expect(next.body.items[0].rank).toBe(2);

    // The keys lost (as after FLUSHALL): the next read rebuilds the same boards from PostgreSQL.
    const before = { week: await read('week'), all: await read('all') };
    const keys = [...(await stack.redis.keys('aura:referral-rank:*'))];
    expect(keys).toEqual(expect.arrayContaining([referralBoardKeys('all').board, referralBoardKeys('all').marker]));
    await stack.redis.del(...keys);
    expect(await read('week')).toEqual(before.week);
    expect(await read('all')).toEqual(before.all);
    expect(await stack.redis.get(referralBoardKeys('all').marker)).toBe('built');
    expect((await call('GET', '/me/referral', { token: top.token })).body.stats).toEqual({ attributed: 3, qualified: 3, coinsEarned: 300 });
  });
});
