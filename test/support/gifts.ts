import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { Ledger } from '../../db/repositories/ledger';
import { UserDirectory } from '../../db/repositories/users';

/**
 * Gift rows written straight into PostgreSQL, as the send path leaves them (a debit through the
 * ledger, one `gift_sends` row, one receipt per receiver), at instants the test chooses: the
 * settlement tests run on simulated time, so receipts are dated on the test server's clock.
 */
export const TEST_GIFT_ID = 'test-settlement-gift';
const HOUR_MS = 3_600_000;

export class GiftFixtures {
  private readonly ledger: Ledger;
  private readonly users: UserDirectory;
  private catalogReady?: Promise<void>;

  constructor(private readonly dataSource: DataSource) {
    this.ledger = new Ledger(dataSource);
    this.users = new UserDirectory(dataSource);
  }

  async user(label = 'gifter'): Promise<string> {
    return (await this.users.create({ displayName: `${label} ${randomUUID().slice(0, 6)}` })).id;
  }

  async room(ownerId: string): Promise<string> {
    const rows: { id: string }[] = await this.dataSource.query(
      `INSERT INTO rooms (owner_id, type, name, seat_count, seat_mode) VALUES ($1, 'voice', 'Gift room', 9, 'free') RETURNING id`,
      [ownerId],
    );
    return rows[0]!.id;
  }

  /** Coins the way a recharge credits them. */
  async buyCoins(userId: string, coins: number, key = `test-recharge:${randomUUID()}`): Promise<void> {
    await this.ledger.creditCoins({ userId, amount: coins, reason: 'recharge', idempotencyKey: key });
  }

  /**
   * One send from `senderId` to each receiver: the debit, the send and its receipts.
   * Returns the receipt ids in receiver order.
   */
  async send(input: {
    senderId: string;
    roomId: string;
    receivers: string[];
    coinsEach: number;
    diamondsEach: number;
    at: number;
    holdHours?: number;
    state?: 'pending' | 'held';
  }): Promise<string[]> {
    await this.ensureCatalog();
    const sendId = randomUUID();
    const total = input.coinsEach * input.receivers.length;
    const at = new Date(input.at);
    const holdUntil = new Date(input.at + (input.holdHours ?? 72) * HOUR_MS);
    return this.dataSource.transaction(async (tx) => {
      const debit = await this.ledger.post(
        { userId: input.senderId, currency: 'coins', amount: -total, reason: 'gift_sent', idempotencyKey: `gift:${sendId}` },
        tx,
      );
      await tx.query(
        `INSERT INTO gift_sends (id, sender_id, room_id, gift_id, quantity, unit_price_coins, unit_diamonds, receiver_count, total_coins, debit_entry_id, created_at)
         VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10)`,
        [sendId, input.senderId, input.roomId, TEST_GIFT_ID, input.coinsEach, input.diamondsEach, input.receivers.length, total, debit.entryId, at],
      );
      const ids: string[] = [];
      for (const receiverId of input.receivers) {
        const rows: { id: string }[] = await tx.query(
          `INSERT INTO gift_receipts (send_id, sender_id, receiver_id, room_id, coins, diamonds, state, hold_until, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
          [sendId, input.senderId, receiverId, input.roomId, input.coinsEach, input.diamondsEach, input.state ?? 'pending', holdUntil, at],
        );
        ids.push(String(rows[0]!.id));
      }
      return ids;
    });
  }

  async wallet(userId: string): Promise<{ coins: number; diamonds: number; coinsOwed: number }> {
    const rows: { coins: string; diamonds: string; coins_owed: string }[] = await this.dataSource.query(
      `SELECT coins, diamonds, coins_owed FROM wallets WHERE user_id = $1`,
      [userId],
    );
    return { coins: Number(rows[0]!.coins), diamonds: Number(rows[0]!.diamonds), coinsOwed: Number(rows[0]!.coins_owed) };
  }

  async receipts(ids: readonly string[]): Promise<{ id: string; state: string; settledEntryId: string | null; reversedReason: string | null }[]> {
    const rows: { id: string; state: string; settled_entry_id: string | null; reversed_reason: string | null }[] = await this.dataSource.query(
      `SELECT id, state, settled_entry_id, reversed_reason FROM gift_receipts WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [ids],
    );
    return rows.map((r) => ({ id: String(r.id), state: r.state, settledEntryId: r.settled_entry_id && String(r.settled_entry_id), reversedReason: r.reversed_reason }));
  }

  async entries(userId: string, reason?: string): Promise<{ id: string; currency: string; amount: number; reason: string; key: string }[]> {
    const rows: { id: string; currency: string; amount: string; reason: string; idempotency_key: string }[] = await this.dataSource.query(
      `SELECT id, currency, amount, reason, idempotency_key FROM ledger_entries
        WHERE user_id = $1 AND ($2::text IS NULL OR reason = $2) ORDER BY id`,
      [userId, reason ?? null],
    );
    return rows.map((r) => ({ id: String(r.id), currency: r.currency, amount: Number(r.amount), reason: r.reason, key: r.idempotency_key }));
  }

  /** The catalog is seeded by its own migration once that lands; tests bring the one gift they use. */
  private ensureCatalog(): Promise<void> {
    this.catalogReady ??= (async () => {
      await this.dataSource.query(
        `INSERT INTO gift_categories (id, names) VALUES ('test-settlement', '{"en": "Test"}') ON CONFLICT (id) DO NOTHING`,
      );
      await this.dataSource.query(
        `INSERT INTO gifts (id, category_id, names, price_coins, diamond_value, animation)
         VALUES ($1, 'test-settlement', '{"en": "Test gift"}', 10, 5,
                 '{"format": "svga", "url": "https://cdn.aura.test/g.svga", "durationMs": 1000, "display": "banner"}')
         ON CONFLICT (id) DO NOTHING`,
        [TEST_GIFT_ID],
      );
    })();
    return this.catalogReady;
  }
}
