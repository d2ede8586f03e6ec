import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { TypedSearchAttributes } from '@temporalio/common';
import type { RoomLiveState } from '../../db/live/room-live-state';
import { rechargeWorkflowId } from '../../domain/economy/recharge';
import { settlementWorkflowId } from '../../domain/economy/settlement';
import { FlowKind, SearchAttribute } from '../../domain/flows';
import type { RoomView } from '../../domain/rooms/model';
import { createRoomService } from '../../services/rooms';
import type { RoomService } from '../../services/rooms/room-service';
import { releaseGiftSettlementSignal, type GiftSettlementDispatchInput, type GiftSettlementInput } from '../../workflows/gift-settlement/definitions';
import type { giftSettlementDispatchWorkflow, giftSettlementWorkflow } from '../../workflows/gift-settlement/workflow';
import type { voidedPurchasesWorkflow } from '../../workflows/recharge/voided';
import type { rechargeWorkflow } from '../../workflows/recharge/workflow';
import { testLogger } from '../support/app-harness';
import { ledgerDisagreements } from '../support/economy';
import { startFakeGooglePlay, type FakeGooglePlay, type FakePurchaseInput } from '../support/fake-google-play';
import { ChaosClient, errorCode, type Reply } from '../support/money-chaos/client';
import { Fleet, healthz, outputLine, pollUntil } from '../support/money-chaos/fleet';
import { chaosSeed, Random } from '../support/money-chaos/random';
import { freePort } from '../support/ports';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { RoomJanitor } from '../support/room-api';
import { workflowBundle } from '../support/time-skipping';

/**
 * Money under chaos: at least 10,000 money requests from a pool of concurrent clients against
 * the real API (two processes) and worker, with SIGKILLs of both at random moments. Clients
 * behave like the app: a network error, 5xx, 429, 202 or "in flight" is retried with the same
 * Idempotency-Key or purchase token until a definitive answer. Afterwards every balance, key,
 * purchase, refund and gift is checked in PostgreSQL and against the test's own tally of the
 * definitive answers it received (identities spelled out at `conservation` below).
 *
 * The seed is printed; MONEY_CHAOS_SEED=<n> replays the same plan of operations and kills (the
 * interleaving of concurrent requests, and so which request meets a kill, is up to the machine).
 * The assertions hold for every schedule: randomness is only in what is done and when.
 */

const OPERATIONS = Number(process.env.MONEY_CHAOS_OPERATIONS ?? 10_000);
const CLIENTS = 32;
const PLAYERS = 40;
const ROOMS = 4;
/** A kill about every this many operations: an API process or the worker, at a random moment. */
const KILL_EVERY = 700;
/** No worker kill in the last part of the run: a task lost on a killed worker waits out its activity timeout (30 s). */
const WORKER_KILLS_UNTIL = 0.7;
const STORE = 'google-play';

const seed = chaosSeed();
const rng = new Random(seed);

let stack: RealStack;
let fake: FakeGooglePlay;
let fleet: Fleet;
let rooms: RoomService;
let live: RoomLiveState;
let janitor: RoomJanitor;
let tmp: string;
let apiUrls: string[] = [];
let client: ChaosClient;

interface Player {
  id: string;
  token: string;
  region: string | null;
  rooms: RoomView[];
  /** The last coin balance an answer showed (an estimate: other requests move it too). */
  coins: number;
  diamonds: number;
  claimed: boolean;
}

interface Gift {
  id: string;
  price: number;
  regions: string[] | null;
}

interface GiftRecord {
  key: string;
  senderId: string;
  roomId: string;
  body: { giftId: string; quantity: number; to: string[] | 'seated' | 'room' };
  answers: Reply[];
}

type PurchaseKind = 'normal' | 'canceled' | 'other-account' | 'wrong-product' | 'consumed';

interface PurchaseRecord {
  token: string;
  orderId: string;
  buyerId: string;
  productId: string;
  kind: PurchaseKind;
  answers: Reply[];
  /** Set when the test voided it at the fake Google Play. */
  voidedAt?: number;
}

interface ExchangeRecord {
  key: string;
  userId: string;
  diamonds: number;
  answers: Reply[];
}

const players: Player[] = [];
const roomViews: RoomView[] = [];
const roomMembers = new Map<string, { members: string[]; seated: string[] }>();
let giftsOffered: Gift[] = [];
let giftNotOffered: Gift;
const packages = new Map<string, number>(); // productId → coins + bonus

const giftRecords = new Map<string, GiftRecord>();
const purchases: PurchaseRecord[] = [];
const exchanges = new Map<string, ExchangeRecord>();
const claimAnswers = new Map<string, Reply[]>();
/** What went wrong while the run was going (checked at the end, so the run is not cut short). */
const anomalies: string[] = [];
const counts = {
  operations: 0,
  gifts: 0,
  giftReplays: 0,
  comboSends: 0,
  recharges: 0,
  rechargeReplays: 0,
  rechargeRefusalsAsked: 0,
  exchanges: 0,
  exchangeReplays: 0,
  claims: 0,
  refunds: 0,
  settlementRuns: 0,
  voidedRuns: 0,
};

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const num = (v: unknown) => Number(v ?? 0);

/** Runs `task` again once if asked while it runs: background runs that coalesce requests. */
class Coalesced {
  private running: Promise<void> | undefined;
  private again = false;
  constructor(private readonly task: () => Promise<void>) {}
  request(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.task();
        } catch (err) {
          anomalies.push(`background run failed: ${(err as Error).message}`);
        }
      } while (this.again);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }
}

beforeAll(async () => {
  console.log(`money chaos: seed ${seed} (MONEY_CHAOS_SEED=${seed} replays this plan), ${OPERATIONS} operations`);
  stack = await connectRealStack('money-chaos');
  ({ rooms, live } = createRoomService({ config: stack.config, dataSource: stack.dataSource, redis: stack.redis, logger: testLogger }));
  janitor = new RoomJanitor(rooms, live);
  fake = await startFakeGooglePlay();
  tmp = mkdtempSync(join(tmpdir(), 'aura-money-chaos-'));

  // The processes load a prebuilt workflow bundle, so a restarted worker polls again within seconds.
  const bundlePath = join(tmp, 'workflows.js');
  writeFileSync(bundlePath, (await workflowBundle()).code);
  const serviceAccountFile = join(tmp, 'play-sa.json');
  writeFileSync(serviceAccountFile, JSON.stringify({ client_email: fake.serviceAccount.clientEmail, private_key: fake.serviceAccount.privateKeyPem }));

  const env: Record<string, string> = {
    LOG_LEVEL: 'warn',
    TEMPORAL_TASK_QUEUE: stack.taskQueue,
    WORKFLOW_BUNDLE_PATH: bundlePath,
    DATABASE_POOL_SIZE: '12',
    GOOGLE_PLAY_API_URL: fake.url,
    GOOGLE_PLAY_TOKEN_URL: fake.tokenUrl,
    GOOGLE_PLAY_PACKAGE_NAME: fake.packageName,
    GOOGLE_PLAY_SERVICE_ACCOUNT_FILE: serviceAccountFile,
    GOOGLE_PLAY_TIMEOUT_MS: '3000',
    RECHARGE_WAIT_MS: '2000',
    GIFT_SETTLEMENT_HOLD_HOURS: '0',
    GIFT_COMBO_WINDOW_MS: '300',
    GIFT_SENDER_DAILY_CAP_COINS: String(1e12),
    GIFT_PAIR_DAILY_CAP_COINS: String(1e12),
    RATE_LIMIT_USER_PER_MINUTE: '1000000',
    RATE_LIMIT_IP_PER_MINUTE: '1000000',
  };
  fleet = new Fleet();
  const ports = [await freePort(), await freePort()];
  apiUrls = ports.map((p) => `http://127.0.0.1:${p}`);
  ports.forEach((port, i) => fleet.add({ name: `api-${i + 1}`, entry: 'api/main.ts', env: { ...env, API_PORT: String(port) }, ready: healthz(apiUrls[i]!) }));
  fleet.add({ name: 'worker', entry: 'workers/main.ts', env: { ...env, LOG_LEVEL: 'info' }, ready: outputLine(/worker ready/) });
  await Promise.all(fleet.names().map((n) => fleet.start(n)));
  client = new ChaosClient(
    () => {
      const up = apiUrls.filter((_, i) => fleet.isServing(`api-${i + 1}`));
      return up.length ? up : apiUrls;
    },
    (n) => Math.floor(Math.random() * n),
  );

  // The catalog as the migration seeds it; prices as a profile without a region pays them.
  const rows = (await stack.dataSource.query(
    `SELECT id, price_coins, regions FROM gifts WHERE enabled AND min_vip_tier = 0 AND price_coins <= 600 AND id NOT LIKE 't-%' ORDER BY id`,
  )) as { id: string; price_coins: string; regions: string[] | null }[];
  giftsOffered = rows.filter((r) => r.regions === null).map((r) => ({ id: r.id, price: num(r.price_coins), regions: null }));
  const regional = rows.find((r) => r.regions !== null && !r.regions.includes('IN'));
  giftNotOffered = regional ? { id: regional.id, price: num(regional.price_coins), regions: regional.regions } : { id: 'cricket-bat', price: 199, regions: ['IN', 'PK'] };
  for (const p of (await stack.dataSource.query(`SELECT product_id, coins, bonus_coins FROM coin_packages WHERE enabled`)) as {
    product_id: string;
    coins: string;
    bonus_coins: string;
  }[]) {
    packages.set(p.product_id, num(p.coins) + num(p.bonus_coins));
  }
  expect(giftsOffered.length).toBeGreaterThanOrEqual(5);
  expect(packages.size).toBeGreaterThanOrEqual(3);

  // Players, rooms, members and seats (joined the way the edge joins, without sockets).
  for (let i = 0; i < PLAYERS; i++) {
    const user = await stack.newUser({ displayName: `chaos ${i}` });
    const region = i % 5 === 0 ? 'IN' : null;
    if (region) await stack.dataSource.query(`UPDATE users SET region = $2 WHERE id = $1`, [user.id, region]);
    players.push({ id: user.id, token: await stack.tokens.sign({ userId: user.id }), region, rooms: [], coins: 0, diamonds: 0, claimed: false });
  }
  for (let r = 0; r < ROOMS; r++) {
    const owner = players[r]!;
    const room = janitor.room(await rooms.create(owner.id, { type: 'voice', name: `Chaos ${r}`, seatCount: 8, seatMode: 'free' }));
    roomViews.push(room);
    roomMembers.set(room.id, { members: [], seated: [] });
    const members = [owner, ...rng.sample(players.filter((p) => p !== owner), 13)];
    for (const p of members) {
      await janitor.enter(room, p.id);
      p.rooms.push(room);
      roomMembers.get(room.id)!.members.push(p.id);
    }
    await rooms.takeSeat(owner.id, room.id, 0);
    roomMembers.get(room.id)!.seated.push(owner.id);
    for (const [seat, p] of members.slice(1, 4).entries()) {
      await rooms.takeSeat(p.id, room.id, seat + 1);
      roomMembers.get(room.id)!.seated.push(p.id);
    }
  }
  for (const p of players) {
    if (p.rooms.length === 0) {
      const view = rng.pick(roomViews);
      await janitor.enter(view, p.id);
      p.rooms.push(view);
      roomMembers.get(view.id)!.members.push(p.id);
    }
  }
}, 180_000);

afterAll(async () => {
  await fleet?.stopAll();
  await janitor?.sweep().catch(() => undefined);
  // Thousands of requests from 127.0.0.1 filled the shared per-address budgets in Redis (this
  // suite's APIs had theirs raised; the next suite's have the defaults): leave them empty.
  if (stack) {
    const keys = await stack.redis.keys('aura:ratelimit:*');
    if (keys.length > 0) await stack.redis.del(...keys);
  }
  await fake?.close();
  await stack?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// -- Background flows: what the Schedules run every few minutes, run on demand --------------------

let settlementRunNo = 0;
const settlementRuns = new Coalesced(async () => {
  counts.settlementRuns += 1;
  const n = ++settlementRunNo;
  const input: GiftSettlementDispatchInput = { holdHours: 0, batch: 200, maxBatches: 5 };
  await stack.temporal.workflow.execute<typeof giftSettlementDispatchWorkflow>('giftSettlementDispatchWorkflow', {
    workflowId: `chaos-${seed}-dispatch-${n}-${randomUUID().slice(0, 8)}`,
    taskQueue: stack.taskQueue,
    args: [input],
  });
  await releaseDueDays();
});

/**
 * A receiver-day's flow settles at the day's end plus the hold (domain/economy/settlement.ts):
 * with real time and a 0 h hold that is still tonight, so each run also releases the days that
 * have pending receipts (the support release: settle what is pending now). A flow that already
 * ended is started again by the signal-with-start.
 */
async function releaseDueDays(): Promise<void> {
  const days = (await stack.dataSource.query(
    `SELECT DISTINCT receiver_id, to_char((created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day
       FROM gift_receipts WHERE receiver_id = ANY($1::uuid[]) AND state = 'pending'`,
    [players.map((p) => p.id)],
  )) as { receiver_id: string; day: string }[];
  for (let i = 0; i < days.length; i += 8) {
    await Promise.all(
      days.slice(i, i + 8).map(({ receiver_id: receiverId, day }) => {
        const input: GiftSettlementInput = { receiverId, day, holdHours: 0 };
        return stack.temporal.workflow.signalWithStart<typeof giftSettlementWorkflow, []>('giftSettlementWorkflow', {
          workflowId: settlementWorkflowId(receiverId, day),
          taskQueue: stack.taskQueue,
          args: [input],
          signal: releaseGiftSettlementSignal,
          signalArgs: [],
          typedSearchAttributes: new TypedSearchAttributes([
            { key: SearchAttribute.UserId, value: receiverId },
            { key: SearchAttribute.FlowKind, value: FlowKind.GiftSettlement },
          ]),
        });
      }),
    );
  }
}

let voidedRunNo = 0;
const voidedRuns = new Coalesced(async () => {
  counts.voidedRuns += 1;
  const n = ++voidedRunNo;
  await stack.temporal.workflow.execute<typeof voidedPurchasesWorkflow>('voidedPurchasesWorkflow', {
    workflowId: `chaos-${seed}-voided-${n}-${randomUUID().slice(0, 8)}`,
    taskQueue: stack.taskQueue,
    args: [{}],
  });
});

// -- Operations -------------------------------------------------------------------------------------

const post = (player: Player, path: string, body: unknown, idempotencyKey?: string) =>
  client.definitive({ token: player.token, method: 'POST', path, body, idempotencyKey });

function noteCoins(player: Player, reply: Reply): void {
  const balance = reply.body.coinBalance;
  if (typeof balance === 'number') player.coins = balance;
  const details = reply.body.error?.details;
  if (errorCode(reply) === 'INSUFFICIENT_FUNDS' && typeof details?.balance === 'number') player.coins = details.balance;
  if (errorCode(reply) === 'COINS_OWED') player.coins = 0;
}

/** What a gift send may be refused with in this run (anything else is a bug). */
const GIFT_REFUSALS = new Set(['INSUFFICIENT_FUNDS', 'COINS_OWED', 'GIFT_NOT_OFFERED', 'GIFT_NO_RECEIVERS']);

async function sendGift(rand: Random, sender: Player, forced?: Partial<GiftRecord['body']> & { roomId?: string }): Promise<GiftRecord> {
  const room = forced?.roomId ? sender.rooms.find((r) => r.id === forced.roomId)! : rand.pick(sender.rooms);
  const here = roomMembers.get(room.id)!;
  const others = here.members.filter((m) => m !== sender.id);
  let to: GiftRecord['body']['to'];
  let reach: number;
  const shape = rand.weighted({ users: 70, seated: 15, room: 15 });
  if (forced?.to) {
    to = forced.to;
    reach = Array.isArray(to) ? to.length : others.length;
  } else if (others.length === 0) {
    to = 'room'; // nobody else here: refused, nothing kept
    reach = 1;
  } else if (shape === 'users') {
    to = rand.sample(others, rand.weighted({ one: 6, two: 3, three: 1 }) === 'one' ? 1 : rand.int(2, 3)).sort();
    reach = Math.max(1, to.length);
  } else {
    to = shape;
    reach = shape === 'seated' ? Math.max(1, here.seated.filter((m) => m !== sender.id).length) : Math.max(1, others.length);
  }
  let gift: Gift;
  let quantity: number;
  if (forced?.giftId) {
    gift = giftsOffered.find((g) => g.id === forced.giftId) ?? giftNotOffered;
    quantity = forced.quantity ?? 1;
  } else if (rand.chance(0.02)) {
    gift = sender.region === 'IN' ? giftsOffered[0]! : giftNotOffered; // not offered in the sender's region: refused
    quantity = 1;
  } else {
    const budget = Math.max(1, Math.floor(sender.coins / reach));
    const affordable = giftsOffered.filter((g) => g.price <= budget);
    // Now and then more than the balance: refused, nothing kept.
    gift = affordable.length && !rand.chance(0.03) ? rand.pick(affordable) : rand.pick(giftsOffered);
    quantity = Math.max(1, Math.min(rand.int(1, 5), Math.floor(budget / gift.price)));
  }
  const record: GiftRecord = { key: randomUUID(), senderId: sender.id, roomId: room.id, body: { giftId: gift.id, quantity, to }, answers: [] };
  giftRecords.set(record.key, record);
  const reply = await post(sender, `/rooms/${room.id}/gifts`, record.body, record.key);
  record.answers.push(reply);
  counts.operations += 1;
  counts.gifts += 1;
  noteCoins(sender, reply);
  if (reply.status !== 201 && !GIFT_REFUSALS.has(errorCode(reply) ?? '')) anomalies.push(`gift answered ${reply.status} ${JSON.stringify(reply.body)}`);
  return record;
}

/**
 * The same request again, with the same key: one, or two at once (one may meet the other in
 * flight). Once a 201 has been seen, every later answer must be that 201; before one, a refusal
 * kept nothing, so a retry may be refused again or go through (once: checked at the end).
 */
async function replayGift(rand: Random, record: GiftRecord): Promise<void> {
  const sender = players.find((p) => p.id === record.senderId)!;
  const sentBefore = record.answers.find((a) => a.status === 201);
  const copies = rand.chance(0.3) ? 2 : 1;
  const replies = await Promise.all(Array.from({ length: copies }, () => post(sender, `/rooms/${record.roomId}/gifts`, record.body, record.key)));
  for (const reply of replies) {
    record.answers.push(reply);
    counts.operations += 1;
    counts.giftReplays += 1;
    noteCoins(sender, reply);
    if (sentBefore && (reply.status !== 201 || !isDeepStrictEqual(reply.body, sentBefore.body))) {
      anomalies.push(
        `gift key ${record.key} of ${record.senderId}: a replay after 201 answered ${reply.status} ${JSON.stringify(reply.body)}; ` +
          `answers ${JSON.stringify(record.answers.map((a) => ({ status: a.status, sendId: a.body.sendId, trail: a.trail })))}`,
      );
    }
  }
}

function newPurchase(rand: Random, buyer: Player, kind: PurchaseKind): PurchaseRecord {
  const productId = rand.weighted({ coins_100: 1, coins_500: 2, coins_1200: 3, coins_3000: 3, coins_6500: 1 });
  const record: PurchaseRecord = {
    token: `chaos-${randomUUID()}.AO-J1Oz_${purchases.length}`,
    orderId: `GPA.3399-${randomUUID().slice(0, 18)}`,
    buyerId: buyer.id,
    productId,
    kind,
    answers: [],
  };
  const input: FakePurchaseInput = { token: record.token, productId, orderId: record.orderId, accountId: buyer.id };
  if (kind === 'canceled') input.state = 'canceled';
  if (kind === 'other-account') input.accountId = rand.pick(players.filter((p) => p !== buyer)).id;
  if (kind === 'consumed') input.consumed = true;
  if (kind === 'wrong-product') input.productId = productId === 'coins_100' ? 'coins_500' : 'coins_100';
  fake.controls.addPurchase(input);
  return record;
}

async function recharge(record: PurchaseRecord): Promise<Reply> {
  const buyer = players.find((p) => p.id === record.buyerId)!;
  const reply = await post(buyer, '/wallet/recharges/google-play', { productId: record.productId, purchaseToken: record.token });
  // Known (to replays and refunds) once it has its first answer.
  if (record.answers.push(reply) === 1) purchases.push(record);
  counts.operations += 1;
  noteCoins(buyer, reply);
  const expectRefusal = record.kind !== 'normal';
  if (expectRefusal === (reply.status === 200)) anomalies.push(`purchase ${record.kind} answered ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply;
}

const EXCHANGE_REFUSALS = new Set(['INSUFFICIENT_FUNDS', 'EXCHANGE_AMOUNT_INVALID', 'EXCHANGE_BELOW_MINIMUM']);

async function exchange(rand: Random, player: Player, record?: ExchangeRecord): Promise<void> {
  let rec = record;
  const doneBefore = record?.answers.find((a) => a.status === 201);
  if (!rec) {
    // The balance as last seen; now and then read again (settlements and other exchanges move it).
    if (rand.chance(0.3)) player.diamonds = num((await client.definitive({ token: player.token, method: 'GET', path: '/wallet' })).body.diamonds);
    const diamonds = player.diamonds;
    let amount = Math.max(1, Math.floor((diamonds * rand.next()) / 100)) * 100;
    const odd = rand.next();
    if (odd < 0.05) amount = 150; // not whole lots: refused
    else if (odd < 0.1) amount = diamonds + 100; // more than held: refused
    rec = { key: randomUUID(), userId: player.id, diamonds: amount, answers: [] };
    exchanges.set(rec.key, rec);
  }
  const reply = await post(player, '/wallet/exchanges', { diamonds: rec.diamonds }, rec.key);
  rec.answers.push(reply);
  counts.operations += 1;
  if (record) counts.exchangeReplays += 1;
  else counts.exchanges += 1;
  if (typeof reply.body.diamondBalance === 'number') player.diamonds = reply.body.diamondBalance;
  if (errorCode(reply) === 'INSUFFICIENT_FUNDS') player.diamonds = 0;
  if (reply.status !== 201 && !EXCHANGE_REFUSALS.has(errorCode(reply) ?? '')) anomalies.push(`exchange answered ${reply.status} ${JSON.stringify(reply.body)}`);
  if (doneBefore && !isDeepStrictEqual(doneBefore.body, reply.body)) anomalies.push(`exchange key ${rec.key}: a replay after 201 answered ${reply.status} ${JSON.stringify(reply.body)}`);
}

async function claimDaily(player: Player): Promise<void> {
  player.claimed = true;
  const reply = await post(player, '/rewards/daily/claim', {});
  claimAnswers.set(player.id, [...(claimAnswers.get(player.id) ?? []), reply]);
  counts.operations += 1;
  counts.claims += 1;
  if (reply.status !== 200 && errorCode(reply) !== 'ALREADY_CLAIMED_TODAY') anomalies.push(`claim answered ${reply.status} ${JSON.stringify(reply.body)}`);
}

type OpKind = 'gift' | 'combo' | 'recharge' | 'rechargeReplay' | 'rechargeRefused' | 'exchange' | 'exchangeReplay' | 'refund' | 'settle' | 'claim';
/**
 * Gifts dominate, as in the app. Recharges, settlement runs and claims cost Temporal work (a flow
 * each, or dozens per settlement run), so they are rarer and recharges buy bigger packages.
 */
const MIX: Record<OpKind, number> = {
  gift: 70,
  combo: 4,
  recharge: 5,
  rechargeReplay: 3,
  rechargeRefused: 0.8,
  exchange: 6,
  exchangeReplay: 2,
  refund: 0.6,
  settle: 0.2,
  claim: 0.6,
};

/** Time spent per kind of operation (for the summary line: where the run's time goes). */
const timing: Record<string, { n: number; ms: number }> = {};

async function runOperation(n: number): Promise<void> {
  const rand = rng.fork(n);
  let kind = rand.weighted(MIX);
  const funded = players.filter((p) => p.coins >= 5);
  if (kind === 'gift' && funded.length < PLAYERS / 4) kind = 'recharge';
  const t0 = Date.now();
  try {
    await runKind(rand, kind, funded);
  } finally {
    const t = (timing[kind] ??= { n: 0, ms: 0 });
    t.n += 1;
    t.ms += Date.now() - t0;
  }
}

async function runKind(rand: Random, kind: OpKind, funded: Player[]): Promise<void> {
  switch (kind) {
    case 'gift': {
      const sender = funded.length ? rand.pick(funded) : rand.pick(players);
      const record = await sendGift(rand, sender);
      if (rand.chance(0.15)) await replayGift(rand, record);
      return;
    }
    case 'combo': {
      // A burst of one gift to one receiver, as a combo streak is sent.
      const sender = funded.length ? rand.pick(funded) : rand.pick(players);
      const room = rand.pick(sender.rooms);
      const others = roomMembers.get(room.id)!.members.filter((m) => m !== sender.id);
      if (!others.length) return;
      const receiver = rand.pick(others);
      const gift = rand.pick(giftsOffered.filter((g) => g.price <= 10));
      for (let i = rand.int(3, 6); i > 0; i--) {
        await sendGift(rand, sender, { roomId: room.id, giftId: gift.id, quantity: 1, to: [receiver] });
        counts.comboSends += 1;
      }
      return;
    }
    case 'recharge': {
      const poorest = [...players].sort((a, b) => a.coins - b.coins).slice(0, 10);
      await recharge(newPurchase(rand, rand.chance(0.6) ? rand.pick(poorest) : rand.pick(players), 'normal'));
      counts.recharges += 1;
      return;
    }
    case 'rechargeReplay': {
      if (!purchases.length) return;
      const record = rand.pick(purchases);
      const before = record.answers.at(-1)!;
      const reply = await recharge(record);
      counts.rechargeReplays += 1;
      const same = (a: Reply) => ({ status: a.status, orderId: a.body.orderId, coins: a.body.coins, bonusCoins: a.body.bonusCoins, coinBalance: a.body.coinBalance, code: errorCode(a) });
      if (JSON.stringify(same(before)) !== JSON.stringify(same(reply))) anomalies.push(`purchase replay answered ${JSON.stringify(same(reply))}, first ${JSON.stringify(same(before))}`);
      return;
    }
    case 'rechargeRefused': {
      const kindOf = rand.pick<PurchaseKind>(['canceled', 'other-account', 'wrong-product', 'consumed']);
      await recharge(newPurchase(rand, rand.pick(players), kindOf));
      counts.rechargeRefusalsAsked += 1;
      return;
    }
    case 'exchange': {
      const rich = players.filter((p) => p.diamonds >= 100);
      await exchange(rand, rich.length && rand.chance(0.8) ? rand.pick(rich) : rand.pick(players));
      return;
    }
    case 'exchangeReplay': {
      const recs = [...exchanges.values()];
      if (!recs.length) return;
      const rec = rand.pick(recs);
      await exchange(rand, players.find((p) => p.id === rec.userId)!, rec);
      return;
    }
    case 'refund': {
      const credited = purchases.filter((p) => p.voidedAt === undefined && p.answers.some((a) => a.status === 200 && a.body.status === 'credited'));
      if (!credited.length) return;
      const record = rand.pick(credited);
      record.voidedAt = Date.now();
      fake.controls.voidPurchase(record.token, record.voidedAt, { reason: rand.int(0, 7), source: rand.int(0, 2) });
      counts.refunds += 1;
      void voidedRuns.request();
      return;
    }
    case 'settle':
      void settlementRuns.request();
      return;
    case 'claim': {
      const unclaimed = players.filter((p) => !p.claimed);
      if (unclaimed.length) await claimDaily(rand.pick(unclaimed));
      return;
    }
  }
}

/**
 * Kill points: about every KILL_EVERY operations, a target and a delay drawn from the seed. The
 * first four are the worker, each API, the worker again, so every run kills each process.
 */
function killPlan(): { at: number; target: string; delayMs: number }[] {
  const plan: { at: number; target: string; delayMs: number }[] = [];
  const planner = rng.fork(-1);
  const firsts = ['worker', 'api-1', 'api-2', 'worker'];
  for (let at = KILL_EVERY; at < OPERATIONS; at += KILL_EVERY) {
    const point = at + planner.int(-KILL_EVERY / 4, KILL_EVERY / 4);
    const workerAllowed = point < OPERATIONS * WORKER_KILLS_UNTIL;
    const drawn = planner.weighted<string>(workerAllowed ? { 'api-1': 3, 'api-2': 3, worker: 4 } : { 'api-1': 1, 'api-2': 1 });
    plan.push({ at: point, target: firsts[plan.length] ?? drawn, delayMs: planner.int(0, 400) });
  }
  return plan;
}

// -- The test -------------------------------------------------------------------------------------

it('keeps every balance, key, purchase, refund and gift right through 10,000 operations and random SIGKILLs', async () => {
  const started = Date.now();
  const kills = killPlan();
  const plannedKills = kills.length;
  const killing: Promise<void>[] = [];
  let nextOp = 0;
  let nextReport = 2_000;

  const worker = async () => {
    while (counts.operations < OPERATIONS) {
      const n = nextOp++;
      while (kills.length && kills[0]!.at <= counts.operations) {
        const k = kills.shift()!;
        killing.push(new Promise((r) => setTimeout(r, k.delayMs)).then(() => fleet.killAndRestart(k.target)));
      }
      await runOperation(n);
      if (counts.operations >= nextReport) {
        nextReport += 2_000;
        process.stdout.write(`money chaos: ${counts.operations} operations, ${Math.round((counts.operations * 1000) / (Date.now() - started))}/s, ${fleet.kills.length} kills\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, worker));
  const chaosMs = Date.now() - started;

  // -- Quiet: everything up again, the refunds read, every due gift settled -----------------------
  await Promise.all(killing);
  await fleet.ensureAllUp();
  await Promise.all([settlementRuns.idle(), voidedRuns.idle()]);

  // Every recharge flow of a credited purchase has finished (credit and consume).
  const credited = purchases.filter((p) => p.answers.some((a) => a.status === 200));
  for (let i = 0; i < credited.length; i += 50) {
    await withDeadline(
      'recharge flows done',
      Promise.all(credited.slice(i, i + 50).map((p) => stack.temporal.workflow.getHandle<typeof rechargeWorkflow>(rechargeWorkflowId(sha256(p.token))).result())),
      90_000,
    );
  }
  const voided = voidedPurchases();
  await pollUntil(
    'every voided purchase clawed back',
    async () => {
      await voidedRuns.request();
      const rows = (await stack.dataSource.query(`SELECT count(*)::int AS n FROM store_purchases WHERE order_id = ANY($1) AND state = 'voided'`, [
        voided.map((p) => p.orderId),
      ])) as { n: number }[];
      return rows[0]!.n === voided.length;
    },
    90_000,
    200,
  );
  await pollUntil(
    'every gift receipt settled or reversed',
    async () => {
      await settlementRuns.request();
      const rows = (await stack.dataSource.query(`SELECT count(*)::int AS n FROM gift_receipts WHERE receiver_id = ANY($1::uuid[]) AND state = 'pending'`, [
        players.map((p) => p.id),
      ])) as { n: number }[];
      return rows[0]!.n === 0;
    },
    120_000,
    250,
  );
  // The daily rewards as the API lists them (a claim whose answer was lost may have been credited).
  let rewardCoins = 0;
  for (const p of players) {
    const list = await client.definitive({ token: p.token, method: 'GET', path: '/rewards/daily/claims?limit=10' });
    const items = list.body.items as { coins: number }[];
    rewardCoins += items.reduce((s, c) => s + c.coins, 0);
    for (const a of claimAnswers.get(p.id) ?? []) {
      if (a.status === 200) expect(items.map((c) => c.coins)).toContain((a.body.claim as { coins: number }).coins);
    }
  }
  const totalMs = Date.now() - started;

  console.log(
    `money chaos: seed ${seed}; ${counts.operations} operations in ${Math.round(chaosMs / 1000)} s (${Math.round(totalMs / 1000)} s with the quiet phase); ` +
      `${fleet.kills.length} kills (${fleet.kills.filter((k) => k.name === 'worker').length} of the worker); ${JSON.stringify(counts)}; client ${JSON.stringify(client.stats)}; ms per kind ${JSON.stringify(Object.fromEntries(Object.entries(timing).map(([k, t]) => [k, Math.round(t.ms / t.n)])))}`,
  );

  // -- The run did what it says ---------------------------------------------------------------------
  if (anomalies.length) console.log(`money chaos: ${anomalies.length} anomalies:\n${anomalies.slice(0, 20).join('\n')}`);
  await checkLedgers(rewardCoins);
  expect(anomalies).toEqual([]);
  expect(fleet.unexpectedExits).toEqual([]);
  expect(counts.operations).toBeGreaterThanOrEqual(OPERATIONS);
  // Kills that land while the same process is still restarting join that restart (not counted).
  expect(fleet.kills.length).toBeGreaterThanOrEqual(Math.floor(plannedKills / 2));
  if (plannedKills >= 3) expect(new Set(fleet.kills.map((k) => k.name))).toEqual(new Set(fleet.names()));
}, 600_000);

const voidedPurchases = () => purchases.filter((p) => p.voidedAt !== undefined);

async function withDeadline<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function checkLedgers(rewardCoins: number): Promise<void> {
  const ds = stack.dataSource;
  const ids = players.map((p) => p.id);

  // 1. Each balance is the sum of its ledger entries; nothing is negative, now or ever.
  expect(await ledgerDisagreements(ds, ids)).toEqual([]);
  expect(await ds.query(`SELECT user_id FROM wallets WHERE user_id = ANY($1::uuid[]) AND (coins < 0 OR diamonds < 0 OR coins_owed < 0)`, [ids])).toEqual([]);
  expect(await ds.query(`SELECT id FROM ledger_entries WHERE user_id = ANY($1::uuid[]) AND balance_after < 0`, [ids])).toEqual([]);
  const reasons = (await ds.query(`SELECT DISTINCT currency, reason FROM ledger_entries WHERE user_id = ANY($1::uuid[]) ORDER BY 1, 2`, [ids])) as {
    currency: string;
    reason: string;
  }[];
  const allowed = new Set([
    'coins:daily_reward',
    // Medals the run earned (a 7-day streak is not reached; first recharge, gifts sent, levels are).
    'coins:medal_reward',
    'coins:recharge',
    'coins:exchange',
    'coins:gift_refund',
    'coins:gift_sent',
    'coins:clawback',
    'coins:debt_recovery',
    'coins_owed:clawback',
    'coins_owed:debt_recovery',
    'diamonds:settlement',
    'diamonds:exchange',
  ]);
  expect(reasons.map((r) => `${r.currency}:${r.reason}`).filter((r) => !allowed.has(r))).toEqual([]);

  // 2. Each Idempotency-Key applied once: gifts.
  const keptGifts = (await ds.query(
    `SELECT user_id, key, status_code, response->>'sendId' AS send_id FROM idempotent_requests WHERE user_id = ANY($1::uuid[]) AND response ? 'sendId'`,
    [ids],
  )) as { user_id: string; key: string; status_code: number; send_id: string }[];
  const keptByKey = new Map(keptGifts.map((k) => [`${k.user_id}:${k.key}`, k]));
  let giftCoins = 0;
  let giftDiamonds = 0;
  let giftsSent = 0;
  for (const rec of giftRecords.values()) {
    const ok = rec.answers.filter((a) => a.status === 201);
    const sendIds = new Set(ok.map((a) => a.body.sendId as string));
    expect({ key: rec.key, sendIds: sendIds.size }).toEqual({ key: rec.key, sendIds: ok.length ? 1 : 0 });
    const kept = keptByKey.get(`${rec.senderId}:${rec.key}`);
    expect({ key: rec.key, kept: kept?.send_id ?? null }).toEqual({ key: rec.key, kept: ok.length ? [...sendIds][0] : null });
    if (ok.length) {
      giftsSent += 1;
      giftCoins += num(ok[0]!.body.totalCoins);
      giftDiamonds += (ok[0]!.body.receivers as { diamondsPending: number }[]).reduce((s, r) => s + r.diamondsPending, 0);
      expect(ok.filter((a) => !a.replayed).length).toBeLessThanOrEqual(1);
    }
  }
  const sends = (await ds.query(
    `SELECT s.id, s.total_coins, (SELECT count(*)::int FROM idempotent_requests k WHERE k.user_id = s.sender_id AND k.response->>'sendId' = s.id::text) AS keys,
            (SELECT coalesce(sum(r.diamonds), 0) FROM gift_receipts r WHERE r.send_id = s.id) AS diamonds,
            (SELECT coalesce(sum(r.coins), 0) FROM gift_receipts r WHERE r.send_id = s.id) AS receipt_coins
       FROM gift_sends s WHERE s.sender_id = ANY($1::uuid[])`,
    [ids],
  )) as { id: string; total_coins: string; keys: number; diamonds: string; receipt_coins: string }[];
  expect(sends.length).toBe(giftsSent);
  expect(sends.filter((s) => s.keys !== 1)).toEqual([]);
  expect(sends.filter((s) => num(s.receipt_coins) !== num(s.total_coins))).toEqual([]);

  // Purchases: exactly one credit per credited order, none for a refused one; one clawback per void.
  const purchaseEntries = (await ds.query(
    `SELECT idempotency_key, currency, reason, amount FROM ledger_entries
      WHERE user_id = ANY($1::uuid[]) AND (reason = 'recharge' OR reason = 'clawback')`,
    [ids],
  )) as { idempotency_key: string; currency: string; reason: string; amount: string }[];
  const byKey = new Map<string, number>();
  for (const e of purchaseEntries) byKey.set(e.idempotency_key, num(e.amount));
  let rechargedCoins = 0;
  let voidedCoins = 0;
  const creditedOrders = new Set<string>();
  for (const p of purchases) {
    const ok = p.answers.filter((a) => a.status === 200);
    const refused = p.answers.filter((a) => a.status !== 200);
    expect({ order: p.orderId, mixed: ok.length > 0 && refused.length > 0 }).toEqual({ order: p.orderId, mixed: false });
    const creditKey = `recharge:${STORE}:${p.orderId}`;
    if (ok.length) {
      const worth = packages.get(p.productId)!;
      expect(ok.every((a) => num(a.body.coins) + num(a.body.bonusCoins) === worth && a.body.orderId === p.orderId)).toBe(true);
      expect({ order: p.orderId, credit: byKey.get(creditKey) }).toEqual({ order: p.orderId, credit: worth });
      rechargedCoins += worth;
      creditedOrders.add(p.orderId);
    } else {
      expect({ order: p.orderId, credit: byKey.get(creditKey) }).toEqual({ order: p.orderId, credit: undefined });
    }
    const clawed = -(byKey.get(`void:${STORE}:${p.orderId}`) ?? 0) + (byKey.get(`void:${STORE}:${p.orderId}:owed`) ?? 0);
    if (p.voidedAt !== undefined) {
      voidedCoins += packages.get(p.productId)!;
      expect({ order: p.orderId, clawed }).toEqual({ order: p.orderId, clawed: packages.get(p.productId) });
    } else {
      expect({ order: p.orderId, clawed }).toEqual({ order: p.orderId, clawed: 0 });
    }
  }
  expect(purchaseEntries.filter((e) => e.reason === 'recharge').length).toBe(creditedOrders.size);

  // Exchanges: one debit and one credit per successful key; replays answered the same.
  let exchangedDiamonds = 0;
  let exchangedCoins = 0;
  let exchangesDone = 0;
  for (const rec of exchanges.values()) {
    const ok = rec.answers.filter((a) => a.status === 201);
    if (!ok.length) continue;
    expect(ok.filter((a) => !isDeepStrictEqual(a.body, ok[0]!.body))).toEqual([]);
    exchangesDone += 1;
    exchangedDiamonds += num(ok[0]!.body.diamonds);
    exchangedCoins += num(ok[0]!.body.coins);
  }

  // 3. Conservation. Per currency and reason, the sums of the players' ledger entries:
  const sums = (await ds.query(
    `SELECT currency, reason, sign(amount)::int AS sign, sum(amount) AS total, count(*)::int AS n
       FROM ledger_entries WHERE user_id = ANY($1::uuid[]) GROUP BY 1, 2, 3`,
    [ids],
  )) as { currency: string; reason: string; sign: number; total: string; n: number }[];
  const sum = (currency: string, reason: string, sign: 1 | -1) => Math.abs(num(sums.find((s) => s.currency === currency && s.reason === reason && s.sign === sign)?.total));
  const entries = (currency: string, reason: string, sign: 1 | -1) => sums.find((s) => s.currency === currency && s.reason === reason && s.sign === sign)?.n ?? 0;
  const [held] = (await ds.query(
    `SELECT coalesce(sum(coins), 0) AS coins, coalesce(sum(diamonds), 0) AS diamonds, coalesce(sum(coins_owed), 0) AS owed FROM wallets WHERE user_id = ANY($1::uuid[])`,
    [ids],
  )) as { coins: string; diamonds: string; owed: string }[];
  const coinsHeld = num(held!.coins);
  const diamondsHeld = num(held!.diamonds);
  const coinsOwed = num(held!.owed);
  const receipts = (await ds.query(
    `SELECT state, count(*)::int AS n, coalesce(sum(coins), 0) AS coins, coalesce(sum(diamonds), 0) AS diamonds
       FROM gift_receipts WHERE sender_id = ANY($1::uuid[]) GROUP BY state`,
    [ids],
  )) as { state: string; n: number; coins: string; diamonds: string }[];
  const receiptsIn = (state: string) => receipts.find((r) => r.state === state) ?? { n: 0, coins: '0', diamonds: '0' };
  const refundedCoins = num(receiptsIn('reversed').coins);

  // Medal rewards: one credit per medal held, of its definition's coins, and nothing else.
  const medalRows = (await ds.query(
    `SELECT coalesce(sum((m.reward->>'coins')::bigint), 0) AS coins FROM user_medals um JOIN medals m ON m.id = um.medal_id
      WHERE um.user_id = ANY($1::uuid[]) AND m.reward ? 'coins'`,
    [ids],
  )) as { coins: string }[];
  const medalCoins = num(medalRows[0]!.coins);
  expect(sum('coins', 'medal_reward', 1)).toBe(medalCoins);

  //   coins held = daily_reward + medal_reward + recharge + exchange credits + gift_refund
  //                − gift_sent − clawback debits − debt_recovery debits
  expect(coinsHeld).toBe(
    sum('coins', 'daily_reward', 1) + medalCoins + sum('coins', 'recharge', 1) + sum('coins', 'exchange', 1) + sum('coins', 'gift_refund', 1) -
      sum('coins', 'gift_sent', -1) - sum('coins', 'clawback', -1) - sum('coins', 'debt_recovery', -1),
  );
  //   coins owed = clawback shortfalls − debt recovered; every coin recovered left the coin balance too
  expect(coinsOwed).toBe(sum('coins_owed', 'clawback', 1) - sum('coins_owed', 'debt_recovery', -1));
  expect(sum('coins', 'debt_recovery', -1)).toBe(sum('coins_owed', 'debt_recovery', -1));
  //   ...and against the answers the clients saw (refunds of reversed gifts read from the receipts):
  //   coins held − coins owed = rewards + recharges + exchange coins + refunds − gifts sent − voided purchases
  expect(sum('coins', 'daily_reward', 1)).toBe(rewardCoins);
  expect(sum('coins', 'recharge', 1)).toBe(rechargedCoins);
  expect(sum('coins', 'exchange', 1)).toBe(exchangedCoins);
  expect(sum('coins', 'gift_sent', -1)).toBe(giftCoins);
  expect(sum('coins', 'gift_refund', 1)).toBe(refundedCoins);
  expect(sum('coins', 'clawback', -1) + sum('coins_owed', 'clawback', 1)).toBe(voidedCoins);
  expect(coinsHeld - coinsOwed).toBe(rewardCoins + medalCoins + rechargedCoins + exchangedCoins + refundedCoins - giftCoins - voidedCoins);

  //   diamonds held = settled receipts' diamonds − exchange debits
  //   and every diamond of every gift sent is in exactly one receipt state
  expect(entries('diamonds', 'exchange', -1)).toBe(exchangesDone);
  expect(sum('diamonds', 'exchange', -1)).toBe(exchangedDiamonds);
  expect(sum('diamonds', 'settlement', 1)).toBe(num(receiptsIn('settled').diamonds));
  expect(diamondsHeld).toBe(num(receiptsIn('settled').diamonds) - exchangedDiamonds);
  expect(receiptsIn('pending').n).toBe(0);
  expect(['pending', 'held', 'settled', 'reversed'].reduce((s, state) => s + num(receiptsIn(state).diamonds), 0)).toBe(giftDiamonds);
  const receiverDiamonds = (await ds.query(`SELECT coalesce(sum(diamonds), 0) AS d FROM gift_receipts WHERE receiver_id = ANY($1::uuid[])`, [ids])) as { d: string }[];
  expect(num(receiverDiamonds[0]!.d)).toBe(giftDiamonds);

  // 4. Reversals: never settled, refunded exactly once, and only what a clawback of the buyer named.
  expect(
    await ds.query(`SELECT id FROM gift_receipts WHERE sender_id = ANY($1::uuid[]) AND state = 'reversed' AND (settled_entry_id IS NOT NULL OR reversed_reason <> 'clawback')`, [ids]),
  ).toEqual([]);
  expect(
    await ds.query(`SELECT id FROM gift_receipts WHERE sender_id = ANY($1::uuid[]) AND state = 'settled' AND settled_entry_id IS NULL AND diamonds > 0`, [ids]),
  ).toEqual([]);
  const refunds = (await ds.query(
    `SELECT r.id, r.coins, r.sender_id,
            (SELECT count(*)::int FROM ledger_entries e WHERE e.reason = 'gift_refund' AND e.metadata->>'receiptId' = r.id::text) AS refunds,
            (SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e WHERE e.reason = 'gift_refund' AND e.metadata->>'receiptId' = r.id::text AND e.user_id = r.sender_id) AS refunded
       FROM gift_receipts r WHERE r.sender_id = ANY($1::uuid[]) AND r.state = 'reversed'`,
    [ids],
  )) as { id: string; coins: string; refunds: number; refunded: string }[];
  expect(refunds.filter((r) => r.refunds !== 1 || num(r.refunded) !== num(r.coins))).toEqual([]);
  expect(entries('coins', 'gift_refund', 1)).toBe(refunds.length);
  const clawbacks = (await ds.query(
    `SELECT e.user_id, e.metadata->>'orderId' AS order_id, e.metadata->>'purchasedAt' AS purchased_at, e.metadata->'reversedReceiptIds' AS receipt_ids
       FROM ledger_entries e WHERE e.user_id = ANY($1::uuid[]) AND e.reason = 'clawback' AND e.idempotency_key NOT LIKE '%:owed'
     UNION ALL
     SELECT e.user_id, e.metadata->>'orderId', e.metadata->>'purchasedAt', e.metadata->'reversedReceiptIds'
       FROM ledger_entries e WHERE e.user_id = ANY($1::uuid[]) AND e.reason = 'clawback' AND e.idempotency_key LIKE '%:owed'
        AND NOT EXISTS (SELECT 1 FROM ledger_entries d WHERE d.idempotency_key = left(e.idempotency_key, -5))`,
    [ids],
  )) as { user_id: string; order_id: string; purchased_at: string; receipt_ids: string[] | null }[];
  expect(clawbacks.length).toBe(voidedPurchases().length);
  const named = new Set<string>();
  for (const c of clawbacks) {
    const list = (c.receipt_ids ?? []).map(String);
    if (!list.length) continue;
    const rows = (await ds.query(`SELECT id, sender_id, state, coins, created_at FROM gift_receipts WHERE id = ANY($1::bigint[])`, [list])) as {
      id: string;
      sender_id: string;
      state: string;
      coins: string;
      created_at: Date;
    }[];
    const purchase = purchases.find((p) => p.orderId === c.order_id)!;
    expect(rows.length).toBe(list.length);
    expect(rows.filter((r) => r.sender_id !== c.user_id || r.state !== 'reversed' || r.created_at.getTime() < Date.parse(c.purchased_at))).toEqual([]);
    expect(rows.reduce((s, r) => s + num(r.coins), 0)).toBeLessThanOrEqual(packages.get(purchase.productId)!);
    for (const r of rows) {
      expect(named.has(String(r.id))).toBe(false);
      named.add(String(r.id));
    }
  }
  expect(named.size).toBe(refunds.length);

  console.log(
    `money chaos: ${giftsSent} gifts sent (${giftCoins} coins, ${giftDiamonds} diamonds: ${num(receiptsIn('settled').diamonds)} settled, ` +
      `${num(receiptsIn('reversed').diamonds)} reversed, ${num(receiptsIn('held').diamonds)} held); ${creditedOrders.size} purchases credited (${rechargedCoins} coins), ` +
      `${voidedPurchases().length} voided (${voidedCoins} coins; ${refunds.length} gifts reversed, ${refundedCoins} coins refunded; ${coinsOwed} coins still owed); ` +
      `${exchangesDone} exchanges (${exchangedDiamonds} diamonds → ${exchangedCoins} coins); ${rewardCoins} reward coins`,
  );
}
