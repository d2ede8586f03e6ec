import { randomUUID } from 'node:crypto';
import { Relations } from '../../db/repositories/relations';
import { periodAt } from '../../domain/economy/ranking-periods';
import { createCpParts, cpBoardKeys } from '../../services/cp';
import type { CommittedGift } from '../../services/gifts/gift-service';
import { startApi, startWorker } from '../support/app-harness';
import { cpEffects, RING } from '../support/cp';
import { fundCoins, ledgerDisagreements, uncachedCatalog } from '../support/economy';
import { createTestGift, createTestRoom, sendTestGift } from '../support/gift-receipts';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { errorCode, FORWARDED_FOR, UNLIMITED_RATES } from '../support/room-api';
import { createUser, type TestUser } from '../support/rooms';

/**
 * CP through the API, with a worker running the cp-proposal flows on the Temporal dev server,
 * over the real PostgreSQL and Redis: the escrow, every refusal (changing nothing), accepting,
 * one partner at a time, the break-up fee and cooldown, intimacy from gifts between partners,
 * and the weekly CP ranking with its rebuild from PostgreSQL.
 */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let worker: Awaited<ReturnType<typeof startWorker>>;
const everyone: string[] = [];

beforeAll(async () => {
  stack = await connectRealStack('cp-api');
  [api, worker] = await Promise.all([
    startApi(stack, { ...UNLIMITED_RATES, CP_BREAKUP_FEE_COINS: 99, CP_BREAKUP_COOLDOWN_DAYS: 7 }),
    startWorker(stack),
  ]);
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await stack?.close();
});

afterEach(async () => {
  expect(await ledgerDisagreements(stack.dataSource, everyone)).toEqual([]);
});

interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function call(user: TestUser, method: 'GET' | 'POST', path: string, options: { body?: unknown; key?: string } = {}): Promise<Reply> {
  const res = await fetch(`${api.url}/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${user.token}`,
      'x-forwarded-for': FORWARDED_FOR,
      ...(options.key ? { 'idempotency-key': options.key } : {}),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown>, headers: res.headers };
}

async function user(coins = 1_000): Promise<TestUser> {
  const u = await createUser(stack, 'Cp tester');
  if (coins > 0) await fundCoins(stack, u.userId, coins);
  everyone.push(u.userId);
  return u;
}

const coins = async (u: TestUser) => (await stack.ledger.balances(u.userId))!.coins;
const propose = (from: TestUser, to: TestUser, extra: Record<string, unknown> = {}, key = randomUUID()) =>
  call(from, 'POST', '/cp/proposals', { body: { toUserId: to.userId, ...extra }, key });

/** A pair formed through the API: A proposes, B accepts. */
async function pair(): Promise<{ a: TestUser; b: TestUser; pairId: string }> {
  const [a, b] = [await user(), await user()];
  const proposed = await propose(a, b);
  expect(proposed.status).toBe(201);
  const accepted = await call(b, 'POST', `/cp/proposals/${proposed.body.id as string}/accept`, { body: {} });
  expect(accepted.status).toBe(200);
  return { a, b, pairId: accepted.body.pairId as string };
}

describe('proposals', () => {
  it('escrows the ring from the proposer, once per Idempotency-Key, and shows it to both', async () => {
    const [a, b] = [await user(), await user()];
    const key = randomUUID();
    const first = await propose(a, b, {}, key);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ proposerId: a.userId, addresseeId: b.userId, ringGiftId: 'cp-ring', coins: RING.coins, state: 'pending' });
    const again = await propose(a, b, {}, key);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(errorCode(await propose(a, b, { ringGiftId: 'cp-love-letter' }, key))).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await coins(a)).toBe(1_000 - RING.coins);
    expect((await cpEffects(stack.dataSource, [a.userId])).entries).toEqual([{ reason: 'cp_escrow', n: 1, total: -RING.coins }]);

    const mine = await call(a, 'GET', '/me/cp');
    expect(mine.body).toMatchObject({ pair: null, cooldownUntil: null, proposals: { outgoing: { items: [{ id: first.body.id }] }, incoming: { items: [] } } });
    const theirs = await call(b, 'GET', '/cp/proposals?direction=in&limit=5');
    expect(theirs.body).toEqual({ items: [expect.objectContaining({ id: first.body.id })], nextCursor: null });
  });

  it('refuses, changing nothing: self, unknown users, a gift that is no ring, blocks either way, a pending proposal either way, too few coins', async () => {
    const [a, b, c, poor] = [await user(), await user(), await user(), await user(100)];
    const before = await cpEffects(stack.dataSource, [a.userId, b.userId, c.userId, poor.userId]);
    expect(errorCode(await propose(a, a))).toBe('CANNOT_TARGET_SELF_USER');
    expect(errorCode(await propose(a, { userId: randomUUID() } as TestUser))).toBe('USER_NOT_FOUND');
    const rose = await propose(a, b, { ringGiftId: 'rose' });
    expect([rose.status, errorCode(rose)]).toEqual([422, 'CP_RING_NOT_ALLOWED']);
    expect(errorCode(await propose(a, b, { ringGiftId: 'no-such-gift' }))).toBe('GIFT_NOT_FOUND');
    const short = await propose(poor, a);
    expect([short.status, errorCode(short)]).toEqual([409, 'INSUFFICIENT_FUNDS']);

    const relations = new Relations(stack.dataSource);
    await relations.block(c.userId, a.userId);
    expect(errorCode(await propose(a, c))).toBe('USER_BLOCKED');
    expect(errorCode(await propose(c, a))).toBe('USER_BLOCKED');
    expect(await cpEffects(stack.dataSource, [a.userId, b.userId, c.userId, poor.userId])).toEqual(before);

    expect((await propose(a, b)).status).toBe(201);
    expect(errorCode(await propose(a, b))).toBe('CP_PROPOSAL_EXISTS');
    expect(errorCode(await propose(b, a))).toBe('CP_PROPOSAL_EXISTS');
    expect(await coins(a)).toBe(1_000 - RING.coins);
    expect(await coins(b)).toBe(1_000);
  });

  it('accept: the pair shows on both sides at level 1, and the ring waits as the addressee\'s pending gift', async () => {
    const { a, b, pairId } = await pair();
    for (const [me, partner] of [[a, b], [b, a]] as const) {
      const view = await call(me, 'GET', '/me/cp');
      expect(view.body).toMatchObject({ pair: { id: pairId, partner: { id: partner.userId }, intimacy: RING.coins, level: { level: 1, nextLevelAt: 2_000 } } });
    }
    expect((await cpEffects(stack.dataSource, [a.userId])).ringReceipts).toEqual([
      { sender_id: a.userId, receiver_id: b.userId, coins: RING.coins, diamonds: RING.diamonds, state: 'pending', room_id: null },
    ]);
    // Answering again answers the same; the other answers are refused.
    const proposalId = ((await stack.dataSource.query(`SELECT id FROM cp_proposals WHERE pair_id = $1`, [pairId])) as { id: string }[])[0]!.id;
    expect((await call(b, 'POST', `/cp/proposals/${proposalId}/accept`, { body: {} })).body).toMatchObject({ state: 'accepted', pairId });
    expect(errorCode(await call(b, 'POST', `/cp/proposals/${proposalId}/decline`, { body: {} }))).toBe('CP_PROPOSAL_CLOSED');
    expect(errorCode(await call(a, 'POST', `/cp/proposals/${proposalId}/accept`, { body: {} }))).toBe('FORBIDDEN');
    const stranger = await user(0);
    expect(errorCode(await call(stranger, 'POST', `/cp/proposals/${proposalId}/accept`, { body: {} }))).toBe('NOT_FOUND');
  });

  it('one partner at a time: nobody proposes to or from a paired user', async () => {
    const { a, b } = await pair();
    const c = await user();
    expect(errorCode(await propose(c, a))).toBe('PARTNER_TAKEN');
    expect(errorCode(await propose(b, c))).toBe('CP_ALREADY_PAIRED');
    expect(await coins(c)).toBe(1_000);
    // The database holds it whatever the route checks: a second open pair for A is refused.
    const [x, y] = [a.userId, c.userId].sort();
    await expect(stack.dataSource.query(`INSERT INTO cp_pairs (user_a, user_b) VALUES ($1, $2)`, [x, y])).rejects.toMatchObject({ driverError: { code: '23505' } });
  });

  it('declined through the API: refunded once', async () => {
    const [a, b] = [await user(), await user()];
    const proposed = await propose(a, b);
    const declined = await call(b, 'POST', `/cp/proposals/${proposed.body.id as string}/decline`, { body: {} });
    expect(declined.body).toMatchObject({ state: 'declined' });
    expect(await coins(a)).toBe(1_000);
    expect((await cpEffects(stack.dataSource, [a.userId])).entries).toEqual([
      { reason: 'cp_escrow', n: 1, total: -RING.coins },
      { reason: 'cp_refund', n: 1, total: RING.coins },
    ]);
  });
});

describe('break-up', () => {
  it('charges the one who ends it the fee once, ends the pair, and holds both to the cooldown', async () => {
    const { a, b, pairId } = await pair();
    const key = randomUUID();
    const ended = await call(a, 'POST', '/cp/breakup', { body: {}, key });
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({ pairId, partnerId: b.userId, feeCoins: 99, cooldownUntil: expect.any(String) });
    expect((await call(a, 'POST', '/cp/breakup', { body: {}, key })).body).toEqual(ended.body);
    expect(await coins(a)).toBe(1_000 - RING.coins - 99);
    expect((await cpEffects(stack.dataSource, [a.userId])).entries).toEqual([
      { reason: 'cp_breakup_fee', n: 1, total: -99 },
      { reason: 'cp_escrow', n: 1, total: -RING.coins },
    ]);
    const [row] = (await stack.dataSource.query(`SELECT ended_by FROM cp_pairs WHERE id = $1`, [pairId])) as { ended_by: string }[];
    expect(row!.ended_by).toBe(a.userId);

    expect(errorCode(await call(a, 'POST', '/cp/breakup', { body: {}, key: randomUUID() }))).toBe('CP_NOT_PAIRED');
    const d = await user();
    for (const [from, to] of [[a, d], [d, a], [b, d], [d, b]] as const) {
      const refused = await propose(from, to);
      expect(errorCode(refused)).toBe('CP_COOLDOWN');
      expect((refused.body.error as { details: { until: string } }).details.until).toBe(ended.body.cooldownUntil);
    }
    expect((await call(b, 'GET', '/me/cp')).body).toMatchObject({ pair: null, cooldownUntil: ended.body.cooldownUntil });
  });

  it('refuses a break-up its initiator cannot pay for, and the pair stays', async () => {
    const [a, b] = [await user(RING.coins), await user(0)];
    const proposed = await propose(a, b);
    await call(b, 'POST', `/cp/proposals/${proposed.body.id as string}/accept`, { body: {} });
    const refused = await call(a, 'POST', '/cp/breakup', { body: {}, key: randomUUID() });
    expect([refused.status, errorCode(refused)]).toEqual([409, 'INSUFFICIENT_FUNDS']);
    expect((await call(a, 'GET', '/me/cp')).body).toMatchObject({ pair: { partner: { id: b.userId } } });
    // The partner with no coins either: the fee is the initiator's, so B can't leave for free.
    expect(errorCode(await call(b, 'POST', '/cp/breakup', { body: {}, key: randomUUID() }))).toBe('INSUFFICIENT_FUNDS');
  });
});

describe('intimacy and the weekly CP ranking', () => {
  it('counts gifts between partners once each, not gifts to others or before the pair, and ranks the pair by them; the board rebuilds from PostgreSQL', async () => {
    const cp = createCpParts({ dataSource: stack.dataSource, redis: stack.redis, temporal: stack.temporal, taskQueue: stack.taskQueue });
    const giftId = await createTestGift(stack.dataSource, { coins: 300, diamonds: 200 });
    const gift = (await uncachedCatalog(stack.dataSource).gift(giftId))!;
    const [early, other] = [await user(), await user()];
    const roomId = await createTestRoom(stack.dataSource, early.userId);
    const { a, b, pairId } = await pair();
    const committed = async (from: TestUser, to: TestUser[], at?: Date): Promise<CommittedGift> => {
      const receipts = await sendTestGift(stack.dataSource, { giftId, senderId: from.userId, roomId, receivers: to.map((t) => ({ receiverId: t.userId, coins: 300, diamonds: 200 })), at });
      return {
        sendId: receipts[0]!.sendId,
        roomId,
        senderId: from.userId,
        at: receipts[0]!.at,
        gift,
        quantity: 1,
        totalCoins: 300 * to.length,
        receivers: receipts.map((r) => ({ userId: r.receiverId, receiptId: r.id, coins: r.coins, diamonds: r.diamonds })),
      };
    };
    const intimacy = async () => Number(((await stack.dataSource.query(`SELECT intimacy FROM cp_pairs WHERE id = $1`, [pairId])) as { intimacy: string }[])[0]!.intimacy);
    const week = periodAt('weekly', Date.now());
    await cp.rankings.top(week); // the board is built (increments apply to it from now on)

    const toPartner = await committed(a, [b, other]); // one receipt to the partner, one to someone else
    await cp.intimacy.giftCommitted(toPartner);
    await cp.intimacy.giftCommitted(toPartner); // the same event twice counts once
    await cp.intimacy.giftCommitted(await committed(b, [a]));
    await cp.intimacy.giftCommitted(await committed(early, [a]));
    expect(await intimacy()).toBe(RING.coins + 600);

    // A gift whose event was lost (the process died after its commit): the repair counts it once.
    await committed(a, [b]);
    expect(await cp.intimacy.repair(new Date(Date.now() - 3_600_000))).toBe(1);
    expect(await cp.intimacy.repair(new Date(Date.now() - 3_600_000))).toBe(0);
    expect(await intimacy()).toBe(RING.coins + 900);
    expect((await call(a, 'GET', '/me/cp')).body).toMatchObject({ pair: { intimacy: RING.coins + 900, level: { level: 1 } } });

    const ours = async () => {
      const page = await call(a, 'GET', '/cp/rankings/weekly?limit=100');
      expect(page.status).toBe(200);
      return (page.body.items as { pairId: string; coins: number; users: { id: string }[] }[]).find((e) => e.pairId === pairId);
    };
    expect(await ours()).toMatchObject({ coins: RING.coins + 900, users: expect.arrayContaining([expect.objectContaining({ id: a.userId }), expect.objectContaining({ id: b.userId })]) });

    // Redis loses the board: the next read rebuilds the same score from gift receipts.
    await stack.redis.del(cpBoardKeys(week).board, cpBoardKeys(week).marker);
    expect(await ours()).toMatchObject({ coins: RING.coins + 900 });
    // A gift before the pair formed (last week) never counts.
    const lastWeek = new Date(Date.now() - 8 * 86_400_000);
    await cp.intimacy.giftCommitted(await committed(a, [b], lastWeek));
    expect(await intimacy()).toBe(RING.coins + 900);
  });

  it('pages the weekly ranking by cursor', async () => {
    await pair();
    await pair();
    const viewer = await user(0);
    const first = await call(viewer, 'GET', '/cp/rankings/weekly?limit=1');
    expect(first.body).toMatchObject({ period: { kind: 'weekly' }, items: [expect.objectContaining({ rank: 1 })], nextCursor: expect.any(String) });
    const second = await call(viewer, 'GET', `/cp/rankings/weekly?limit=1&cursor=${first.body.nextCursor as string}`);
    expect(second.body).toMatchObject({ items: [expect.objectContaining({ rank: 2 })] });
    expect(errorCode(await call(viewer, 'GET', '/cp/rankings/weekly?at=2019-W01'))).toBe('VALIDATION_FAILED');
  });
});
