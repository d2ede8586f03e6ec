import { randomUUID } from 'node:crypto';
import type { Currency } from '../../db/entities';
import type { LedgerPosting, PostedEntry } from '../../db/repositories/ledger';
import { AppError, ErrorCode } from '../../domain/errors';
import { connectRealStack, type RealStack } from '../support/real-stack';

/**
 * The money rules the database enforces (Foundation migration triggers and constraints),
 * exercised on the real PostgreSQL through the Ledger and through raw SQL.
 */
let stack: RealStack;

beforeAll(async () => {
  stack = await connectRealStack('ledger-db');
});

afterAll(async () => {
  await stack?.close();
});

interface Row {
  id: number;
  user_id: string;
  currency: Currency;
  amount: number;
  balance_after: number;
  idempotency_key: string;
}

async function entries(userId: string): Promise<Row[]> {
  return stack.dataSource.query(
    `SELECT id::int, user_id, currency, amount::int, balance_after::int, idempotency_key
       FROM ledger_entries WHERE user_id = $1 ORDER BY id`,
    [userId],
  ) as Promise<Row[]>;
}

async function entriesByKey(key: string): Promise<Row[]> {
  return stack.dataSource.query(
    `SELECT id::int, user_id, currency, amount::int, balance_after::int, idempotency_key
       FROM ledger_entries WHERE idempotency_key = $1`,
    [key],
  ) as Promise<Row[]>;
}

async function sums(userId: string): Promise<{ coins: number; diamonds: number }> {
  const rows = (await stack.dataSource.query(
    `SELECT COALESCE(SUM(amount) FILTER (WHERE currency = 'coins'), 0)::int AS coins,
            COALESCE(SUM(amount) FILTER (WHERE currency = 'diamonds'), 0)::int AS diamonds
       FROM ledger_entries WHERE user_id = $1`,
    [userId],
  )) as { coins: number; diamonds: number }[];
  return rows[0]!;
}

async function walletRow(userId: string): Promise<{ coins: number; diamonds: number; updated_at: Date } | undefined> {
  const rows = (await stack.dataSource.query(
    `SELECT coins::int, diamonds::int, updated_at FROM wallets WHERE user_id = $1`,
    [userId],
  )) as { coins: number; diamonds: number; updated_at: Date }[];
  return rows[0];
}

function key(label: string): string {
  return `test-ledger:${label}:${randomUUID()}`;
}

function posting(userId: string, amount: number, overrides: Partial<LedgerPosting> = {}): LedgerPosting {
  return { userId, currency: 'coins', amount, reason: 'test', idempotencyKey: key('p'), ...overrides };
}

/** Awaits a promise that must reject with an AppError of the given code; returns the error. */
async function refusedWith(promise: Promise<unknown>, code: ErrorCode): Promise<AppError> {
  const outcome = await promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected ${code} but the call resolved with ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(AppError);
  expect(outcome.error).toMatchObject({ code });
  return outcome.error as AppError;
}

/** A user whose wallet already holds the given balances (credited through the ledger). */
async function fundedUser(coins: number, diamonds = 0) {
  const user = await stack.newUser();
  if (coins > 0) await stack.ledger.post(posting(user.id, coins, { reason: 'seed' }));
  if (diamonds > 0) await stack.ledger.post(posting(user.id, diamonds, { currency: 'diamonds', reason: 'seed' }));
  expect(await stack.ledger.balances(user.id)).toEqual({ coins, diamonds });
  return user;
}

describe('idempotency', () => {
  it('applies a credit once when the same key is posted twice', async () => {
    const user = await stack.newUser();
    const k = key('credit-twice');
    const first = await stack.ledger.post(posting(user.id, 25, { idempotencyKey: k }));
    expect(first).toEqual({ entryId: expect.any(String), balanceAfter: 25, applied: true });

    const second = await stack.ledger.post(posting(user.id, 25, { idempotencyKey: k }));
    expect(second).toEqual({ entryId: first.entryId, balanceAfter: 25, applied: false });

    const rows = await entries(user.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: Number(first.entryId), amount: 25, balance_after: 25, idempotency_key: k });
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 25, diamonds: 0 });
  });

  it('replays a debit with the same key as applied=false while the balance still covers it', async () => {
    const user = await fundedUser(100);
    const k = key('debit-twice');
    const first = await stack.ledger.post(posting(user.id, -30, { idempotencyKey: k }));
    expect(first).toMatchObject({ balanceAfter: 70, applied: true });

    const second = await stack.ledger.post(posting(user.id, -30, { idempotencyKey: k }));
    expect(second).toEqual({ entryId: first.entryId, balanceAfter: 70, applied: false });
    expect(await entries(user.id)).toHaveLength(2);
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 70, diamonds: 0 });
  });

  it('replays a debit with the same key as applied=false after that debit emptied the wallet', async () => {
    // A client retrying a purchase whose response was lost: the first attempt spent everything.
    const user = await fundedUser(40);
    const k = key('debit-drain-retry');
    const first = await stack.ledger.post(posting(user.id, -40, { idempotencyKey: k }));
    expect(first).toMatchObject({ balanceAfter: 0, applied: true });

    const retry = await stack.ledger.post(posting(user.id, -40, { idempotencyKey: k })).catch((e: unknown) => e);
    expect(retry).toEqual({ entryId: first.entryId, balanceAfter: 0, applied: false });
    expect(await entries(user.id)).toHaveLength(2);
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 0, diamonds: 0 });
  });

  it('refuses the same key with a different amount, currency or user with IDEMPOTENCY_CONFLICT and changes nothing', async () => {
    const user = await stack.newUser();
    const other = await stack.newUser();
    const k = key('conflict');
    const first = await stack.ledger.post(posting(user.id, 50, { idempotencyKey: k }));
    expect(first.applied).toBe(true);

    await refusedWith(stack.ledger.post(posting(user.id, 51, { idempotencyKey: k })), ErrorCode.IdempotencyConflict);
    await refusedWith(stack.ledger.post(posting(user.id, -50, { idempotencyKey: k })), ErrorCode.IdempotencyConflict);
    await refusedWith(stack.ledger.post(posting(user.id, 50, { idempotencyKey: k, currency: 'diamonds' })), ErrorCode.IdempotencyConflict);
    await refusedWith(stack.ledger.post(posting(other.id, 50, { idempotencyKey: k })), ErrorCode.IdempotencyConflict);

    expect(await entriesByKey(k)).toEqual([
      { id: Number(first.entryId), user_id: user.id, currency: 'coins', amount: 50, balance_after: 50, idempotency_key: k },
    ]);
    expect(await entries(user.id)).toHaveLength(1);
    expect(await entries(other.id)).toHaveLength(0);
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 50, diamonds: 0 });
    expect(await stack.ledger.balances(other.id)).toEqual({ coins: 0, diamonds: 0 });
  });

  it('refuses the same key with a different amount with IDEMPOTENCY_CONFLICT even when that amount would overdraw', async () => {
    const user = await fundedUser(10);
    const k = key('conflict-overdraw');
    const first = await stack.ledger.post(posting(user.id, -5, { idempotencyKey: k }));
    expect(first).toMatchObject({ balanceAfter: 5, applied: true });

    const err = await stack.ledger.post(posting(user.id, -500, { idempotencyKey: k })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: ErrorCode.IdempotencyConflict });
    expect(await entries(user.id)).toHaveLength(2);
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 5, diamonds: 0 });
  });
});

describe('insufficient funds', () => {
  it('refuses a debit larger than the balance with INSUFFICIENT_FUNDS, adds no row and leaves the wallet unchanged', async () => {
    const user = await fundedUser(30, 7);
    const before = await walletRow(user.id);
    const rowsBefore = await entries(user.id);
    const k = key('overdraw');

    await refusedWith(stack.ledger.post(posting(user.id, -31, { idempotencyKey: k })), ErrorCode.InsufficientFunds);
    await refusedWith(stack.ledger.post(posting(user.id, -8, { currency: 'diamonds' })), ErrorCode.InsufficientFunds);

    expect(await entries(user.id)).toEqual(rowsBefore);
    expect(await entriesByKey(k)).toEqual([]);
    expect(await walletRow(user.id)).toEqual(before);
  });

  it('refuses a debit from an empty wallet', async () => {
    const user = await stack.newUser();
    await refusedWith(stack.ledger.post(posting(user.id, -1)), ErrorCode.InsufficientFunds);
    expect(await entries(user.id)).toEqual([]);
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 0, diamonds: 0 });
  });

  it('accepts a debit equal to the balance, leaving 0', async () => {
    const user = await fundedUser(30, 7);
    const coins = await stack.ledger.post(posting(user.id, -30));
    expect(coins).toMatchObject({ balanceAfter: 0, applied: true });
    const diamonds = await stack.ledger.post(posting(user.id, -7, { currency: 'diamonds' }));
    expect(diamonds).toMatchObject({ balanceAfter: 0, applied: true });
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 0, diamonds: 0 });
    expect((await entries(user.id)).map((r) => r.balance_after)).toEqual([30, 7, 0, 0]);
  });

  it('lets a refused key be used again once funds arrive (a refusal records nothing)', async () => {
    const user = await fundedUser(10);
    const k = key('refused-then-ok');
    await refusedWith(stack.ledger.post(posting(user.id, -20, { idempotencyKey: k })), ErrorCode.InsufficientFunds);
    await stack.ledger.post(posting(user.id, 10));
    const retried = await stack.ledger.post(posting(user.id, -20, { idempotencyKey: k }));
    expect(retried).toMatchObject({ balanceAfter: 0, applied: true });
    expect(await entriesByKey(k)).toHaveLength(1);
  });
});

describe('the database refuses writes that bypass the ledger', () => {
  const pgError = (code: string) => expect.objectContaining({ code });

  it('refuses a direct UPDATE of wallet balances', async () => {
    const user = await fundedUser(40, 3);
    const before = await walletRow(user.id);
    await expect(stack.dataSource.query(`UPDATE wallets SET coins = 1000 WHERE user_id = $1`, [user.id])).rejects.toEqual(pgError('42501'));
    await expect(stack.dataSource.query(`UPDATE wallets SET coins = coins - 1 WHERE user_id = $1`, [user.id])).rejects.toEqual(pgError('42501'));
    await expect(stack.dataSource.query(`UPDATE wallets SET diamonds = 0 WHERE user_id = $1`, [user.id])).rejects.toEqual(pgError('42501'));
    await expect(
      stack.dataSource.query(`INSERT INTO wallets (user_id) VALUES ($1) ON CONFLICT (user_id) DO UPDATE SET coins = 999`, [user.id]),
    ).rejects.toEqual(pgError('42501'));
    expect(await walletRow(user.id)).toEqual(before);
  });

  it('refuses inserting a wallet with a non-zero balance', async () => {
    const ids = (await stack.dataSource.query(`INSERT INTO users (display_name) VALUES ('walletless') RETURNING id`)) as { id: string }[];
    const id = ids[0]!.id;
    await expect(stack.dataSource.query(`INSERT INTO wallets (user_id, coins) VALUES ($1, 5)`, [id])).rejects.toEqual(pgError('23514'));
    await expect(stack.dataSource.query(`INSERT INTO wallets (user_id, diamonds) VALUES ($1, 1)`, [id])).rejects.toEqual(pgError('23514'));
    expect(await walletRow(id)).toBeUndefined();
    // The rule is about the balance, not the insert: an empty wallet is fine.
    await stack.ledger.openWallet(id);
    expect(await stack.ledger.balances(id)).toEqual({ coins: 0, diamonds: 0 });
  });

  it('refuses UPDATE and DELETE on ledger_entries', async () => {
    const user = await fundedUser(60);
    const rowsBefore = await entries(user.id);
    const id = rowsBefore[0]!.id;
    await expect(stack.dataSource.query(`UPDATE ledger_entries SET amount = 1 WHERE id = $1`, [id])).rejects.toEqual(pgError('42501'));
    await expect(stack.dataSource.query(`UPDATE ledger_entries SET reason = 'edited' WHERE id = $1`, [id])).rejects.toEqual(pgError('42501'));
    await expect(stack.dataSource.query(`DELETE FROM ledger_entries WHERE id = $1`, [id])).rejects.toEqual(pgError('42501'));
    expect(await entries(user.id)).toEqual(rowsBefore);
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 60, diamonds: 0 });
  });

  it('refuses DELETE FROM wallets, even of an empty wallet with no entries', async () => {
    const user = await stack.newUser();
    await expect(stack.dataSource.query(`DELETE FROM wallets WHERE user_id = $1`, [user.id])).rejects.toEqual(pgError('42501'));
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 0, diamonds: 0 });
  });

  it('computes balance_after itself on a direct insert and refuses a multi-row insert that would disagree with the wallet', async () => {
    const user = await fundedUser(10);
    await stack.dataSource.query(
      `INSERT INTO ledger_entries (user_id, currency, amount, balance_after, reason, idempotency_key) VALUES ($1, 'coins', 5, 999999, 'raw', $2)`,
      [user.id, key('raw')],
    );
    expect((await entries(user.id)).map((r) => r.balance_after)).toEqual([10, 15]);
    await expect(
      stack.dataSource.query(
        `INSERT INTO ledger_entries (user_id, currency, amount, balance_after, reason, idempotency_key)
         VALUES ($1, 'coins', 1, 0, 'raw', $2), ($1, 'coins', 1, 0, 'raw', $3)`,
        [user.id, key('raw-a'), key('raw-b')],
      ),
    ).rejects.toEqual(pgError('23514'));
    expect(await entries(user.id)).toHaveLength(2);
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 15, diamonds: 0 });
  });
});

describe('balances agree with the ledger', () => {
  it('records balance_after as the running sum and keeps each wallet equal to SUM(amount) per currency', async () => {
    const wallets = await Promise.all([stack.newUser(), stack.newUser(), stack.newUser()]);
    const scripts: [Exclude<Currency, 'coins_owed'>, number][][] = [
      [['coins', 100], ['coins', -30], ['diamonds', 5], ['coins', 7], ['diamonds', -5], ['coins', -77], ['diamonds', 12]],
      [['diamonds', 40], ['coins', 1], ['diamonds', -39], ['coins', 9], ['coins', -10], ['coins', 3]],
      [['coins', 500], ['coins', -1], ['coins', -2], ['coins', -3], ['diamonds', 1], ['coins', 250], ['coins', -744]],
    ];
    // Interleave the users' postings so entries of different wallets alternate in the table.
    const longest = Math.max(...scripts.map((s) => s.length));
    for (let step = 0; step < longest; step += 1) {
      for (const [i, user] of wallets.entries()) {
        const move = scripts[i]![step];
        if (move) await stack.ledger.post(posting(user.id, move[1], { currency: move[0] }));
      }
    }

    for (const [i, user] of wallets.entries()) {
      const rows = await entries(user.id);
      expect(rows).toHaveLength(scripts[i]!.length);
      const running = { coins: 0, diamonds: 0 };
      for (const row of rows) {
        running[row.currency as 'coins' | 'diamonds'] += row.amount;
        expect(row.balance_after).toBe(running[row.currency as 'coins' | 'diamonds']);
      }
      const expected = { coins: 0, diamonds: 0 };
      for (const [currency, amount] of scripts[i]!) expected[currency] += amount;
      expect(running).toEqual(expected);
      expect(await sums(user.id)).toEqual(expected);
      expect(await stack.ledger.balances(user.id)).toEqual(expected);
    }
    expect(await stack.ledger.balances(wallets[0]!.id)).toEqual({ coins: 0, diamonds: 12 });
    expect(await stack.ledger.balances(wallets[1]!.id)).toEqual({ coins: 3, diamonds: 1 });
    expect(await stack.ledger.balances(wallets[2]!.id)).toEqual({ coins: 0, diamonds: 1 });
  });
});

/**
 * True when the entries can be ordered into one serial history from 0 to `final`: each entry
 * starts at the balance the previous one left. That is an Eulerian path from 0 to `final` over
 * the edges (balance before → balance_after): degrees must balance and every edge be reachable.
 */
function formsOneHistory(rows: Pick<Row, 'amount' | 'balance_after'>[], final: number): boolean {
  const out = new Map<number, number[]>();
  const net = new Map<number, number>();
  for (const { amount, balance_after: after } of rows) {
    const from = after - amount;
    out.set(from, [...(out.get(from) ?? []), after]);
    net.set(from, (net.get(from) ?? 0) + 1);
    net.set(after, (net.get(after) ?? 0) - 1);
  }
  for (const [node, n] of net) {
    const expected = final === 0 ? 0 : node === 0 ? 1 : node === final ? -1 : 0;
    if (n !== expected) return false;
  }
  if (final !== 0 && (net.get(0) !== 1 || net.get(final) !== -1)) return false;
  // Every edge reachable from 0 (Hierholzer's walk consumes exactly the reachable edges).
  let walked = 0;
  const nodes = [0];
  while (nodes.length > 0) {
    const next = out.get(nodes[nodes.length - 1]!);
    if (next && next.length > 0) {
      nodes.push(next.pop()!);
      walked += 1;
    } else nodes.pop();
  }
  return walked === rows.length;
}

describe('concurrency', () => {
  it('never drives a balance negative under 50 concurrent credits and debits', async () => {
    const user = await fundedUser(100);
    const amounts = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? 10 : -30));
    const credits = amounts.filter((a) => a > 0).reduce((s, a) => s + a, 0);
    const debits = -amounts.filter((a) => a < 0).reduce((s, a) => s + a, 0);
    expect(debits).toBeGreaterThan(100 + credits); // so some debits must be refused whatever the order

    const outcomes = await Promise.all(
      amounts.map((amount) =>
        stack.ledger.post(posting(user.id, amount, { reason: 'race' })).then(
          (entry): { amount: number; entry: PostedEntry } => ({ amount, entry }),
          (error: unknown): { amount: number; error: unknown } => ({ amount, error }),
        ),
      ),
    );
    const applied = outcomes.flatMap((o) => ('entry' in o ? [o] : []));
    const refused = outcomes.flatMap((o) => ('error' in o ? [o] : []));

    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.amount).toBeLessThan(0);
      expect(r.error).toBeInstanceOf(AppError);
      expect(r.error).toMatchObject({ code: ErrorCode.InsufficientFunds });
    }
    expect(applied.filter((a) => a.amount > 0)).toHaveLength(25);
    for (const a of applied) expect(a.entry.applied).toBe(true);

    const rows = await entries(user.id);
    expect(rows).toHaveLength(1 + applied.length);
    const expectedCoins = 100 + applied.reduce((s, a) => s + a.amount, 0);
    expect(expectedCoins).toBeGreaterThanOrEqual(0);
    expect(await sums(user.id)).toEqual({ coins: expectedCoins, diamonds: 0 });
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: expectedCoins, diamonds: 0 });
    for (const row of rows) expect(row.balance_after).toBeGreaterThanOrEqual(0);

    // What each caller was told is what the table holds.
    const byId = new Map(rows.map((r) => [String(r.id), r]));
    for (const a of applied) expect(byId.get(a.entry.entryId)).toMatchObject({ amount: a.amount, balance_after: a.entry.balanceAfter });
    // The balance_after values chain into one serial history ending at the wallet balance.
    expect(formsOneHistory(rows, expectedCoins)).toBe(true);
    expect(Math.max(...rows.map((r) => r.balance_after))).toBeLessThanOrEqual(100 + credits);
  });

  it('writes exactly one row for 20 concurrent posts of one identical key', async () => {
    const user = await fundedUser(5);
    const k = key('same-key-race');
    const results = await Promise.all(Array.from({ length: 20 }, () => stack.ledger.post(posting(user.id, 15, { idempotencyKey: k }))));

    expect(results.filter((r) => r.applied)).toHaveLength(1);
    const winner = results.find((r) => r.applied)!;
    expect(winner.balanceAfter).toBe(20);
    for (const r of results) expect(r).toMatchObject({ entryId: winner.entryId, balanceAfter: 20 });
    expect(results.filter((r) => !r.applied)).toHaveLength(19);
    expect(await entriesByKey(k)).toHaveLength(1);
    expect(await entries(user.id)).toHaveLength(2);
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 20, diamonds: 0 });
  });
});

describe('validation', () => {
  it('refuses posting to a user with no wallet with USER_NOT_FOUND', async () => {
    const nobody = randomUUID();
    await refusedWith(stack.ledger.post(posting(nobody, 10)), ErrorCode.UserNotFound);
    const ids = (await stack.dataSource.query(`INSERT INTO users (display_name) VALUES ('no wallet') RETURNING id`)) as { id: string }[];
    const walletless = ids[0]!.id;
    await refusedWith(stack.ledger.post(posting(walletless, 10)), ErrorCode.UserNotFound);
    expect(await entries(nobody)).toEqual([]);
    expect(await entries(walletless)).toEqual([]);
    expect(await stack.ledger.balances(walletless)).toBeNull();
  });

  it.each([
    ['zero', 0],
    ['a fraction', 1.5],
    ['a negative fraction', -0.25],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['beyond the safe integer range', 2 ** 53],
  ])('refuses amount %s with VALIDATION_FAILED and writes nothing', async (_label, amount) => {
    const user = await fundedUser(10);
    const k = key('invalid');
    await refusedWith(stack.ledger.post(posting(user.id, amount, { idempotencyKey: k })), ErrorCode.ValidationFailed);
    expect(await entriesByKey(k)).toEqual([]);
    expect(await entries(user.id)).toHaveLength(1);
    expect(await stack.ledger.balances(user.id)).toEqual({ coins: 10, diamonds: 0 });
  });
});
