import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { modifyReturning } from '../../db/repositories/sql';
import type { ReceiptReversal } from '../../services/gift-fraud/review';
import type { RealStack } from './real-stack';

/**
 * Real gift rows for the anti-fraud suite, made the way the send path makes them: a ledger debit
 * of the sender (`gift:<sendId>`, gift_sent), the gift_sends row and one receipt per receiver.
 * `at` back-dates a receipt, so each test scans a window of its own that no other suite's
 * receipts fall into.
 */
export class FraudFixtures {
  private roomId: string | null = null;
  private static readonly GIFT_ID = 'fraud-test-rose';

  constructor(private readonly stack: RealStack) {}

  /** A user with a wallet holding `coins` (a recharge-like credit). */
  async user(coins = 100_000): Promise<string> {
    const user = await this.stack.newUser();
    if (coins > 0) {
      await this.stack.ledger.creditCoins({ userId: user.id, amount: coins, reason: 'recharge', idempotencyKey: `fraud-test-topup:${user.id}` });
    }
    return user.id;
  }

  /** A session row on a device (the shared-device rule reads these). */
  async session(userId: string, deviceId: string, lastUsedAt: Date): Promise<void> {
    await this.stack.dataSource.query(
      `INSERT INTO sessions (user_id, device_id, device_name, created_at, last_used_at, expires_at)
       VALUES ($1, $2, 'test phone', $3, $3, $3::timestamptz + interval '30 days')`,
      [userId, deviceId, lastUsedAt],
    );
  }

  private async room(): Promise<string> {
    if (this.roomId) return this.roomId;
    const owner = await this.user(0);
    const [room]: { id: string }[] = await this.stack.dataSource.query(
      `INSERT INTO rooms (owner_id, type, name, seat_count, seat_mode) VALUES ($1, 'voice', 'Fraud test room', 9, 'free') RETURNING id`,
      [owner],
    );
    await this.stack.dataSource.query(
      `INSERT INTO gift_categories (id, names) VALUES ('fraud-test', '{"en":"Fraud test"}') ON CONFLICT DO NOTHING`,
    );
    await this.stack.dataSource.query(
      `INSERT INTO gifts (id, category_id, names, price_coins, diamond_value, animation)
       VALUES ($1, 'fraud-test', '{"en":"Rose"}', 1, 1, '{"format":"svga","url":"https://cdn.aura.test/rose.svga","durationMs":1000,"display":"banner"}')
       ON CONFLICT DO NOTHING`,
      [FraudFixtures.GIFT_ID],
    );
    this.roomId = room!.id;
    return this.roomId;
  }

  /** One gift of `coins` coins (worth as many diamonds) from sender to receiver; the receipt's id. */
  async gift(senderId: string, receiverId: string, coins: number, at: Date): Promise<string> {
    const roomId = await this.room();
    const sendId = randomUUID();
    return this.stack.dataSource.transaction(async (tx) => {
      const debit = await this.stack.ledger.post(
        { userId: senderId, currency: 'coins', amount: -coins, reason: 'gift_sent', idempotencyKey: `gift:${sendId}`, metadata: { sendId } },
        tx,
      );
      await tx.query(
        `INSERT INTO gift_sends (id, sender_id, room_id, gift_id, quantity, unit_price_coins, unit_diamonds, receiver_count, total_coins, debit_entry_id, created_at)
         VALUES ($1, $2, $3, $4, $5::int, 1, 1, 1, $5::bigint, $6, $7)`,
        [sendId, senderId, roomId, FraudFixtures.GIFT_ID, coins, debit.entryId, at],
      );
      const [receipt]: { id: string }[] = await tx.query(
        `INSERT INTO gift_receipts (send_id, sender_id, receiver_id, room_id, coins, diamonds, hold_until, created_at)
         VALUES ($1, $2, $3, $4, $5::bigint, $5::bigint, $6::timestamptz + interval '72 hours', $6) RETURNING id`,
        [sendId, senderId, receiverId, roomId, coins, at],
      );
      return String(receipt!.id);
    });
  }

  /** Settles a receipt as the settlement flow would (diamonds credited to the receiver). */
  async settle(receiptId: string): Promise<void> {
    await this.stack.dataSource.transaction(async (tx) => {
      const [r]: { receiver_id: string; diamonds: string }[] = await tx.query(`SELECT receiver_id, diamonds FROM gift_receipts WHERE id = $1`, [receiptId]);
      const entry = await this.stack.ledger.post(
        { userId: r!.receiver_id, currency: 'diamonds', amount: Number(r!.diamonds), reason: 'settlement', idempotencyKey: `settlement:test:${receiptId}` },
        tx,
      );
      await tx.query(`UPDATE gift_receipts SET state = 'settled', settled_entry_id = $2, finished_at = now() WHERE id = $1`, [receiptId, entry.entryId]);
    });
  }

  async states(receiptIds: string[]): Promise<Record<string, { state: string; reason: string | null }>> {
    const rows: { id: string; state: string; reversed_reason: string | null }[] = await this.stack.dataSource.query(
      `SELECT id, state, reversed_reason FROM gift_receipts WHERE id = ANY($1::bigint[])`,
      [receiptIds],
    );
    return Object.fromEntries(rows.map((r) => [String(r.id), { state: r.state, reason: r.reversed_reason }]));
  }

  /** Wallet balances next to the sums of the ledger entries behind them. */
  async balancesAndLedger(userId: string): Promise<{ coins: number; ledgerCoins: number; diamonds: number; ledgerDiamonds: number }> {
    const [row]: { coins: string; diamonds: string; ledger_coins: string; ledger_diamonds: string }[] = await this.stack.dataSource.query(
      `SELECT w.coins, w.diamonds,
              (SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE user_id = w.user_id AND currency = 'coins') AS ledger_coins,
              (SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE user_id = w.user_id AND currency = 'diamonds') AS ledger_diamonds
         FROM wallets w WHERE w.user_id = $1`,
      [userId],
    );
    return { coins: Number(row!.coins), ledgerCoins: Number(row!.ledger_coins), diamonds: Number(row!.diamonds), ledgerDiamonds: Number(row!.ledger_diamonds) };
  }
}

/**
 * A minimal real reversal for this suite, standing in for the settlement capability's
 * `reverseReceipts`: each still-open receipt becomes reversed and its sender gets the coins back
 * (`gift-refund:<receiptId>`, reason gift_refund, through creditCoins like every coin credit).
 */
export function testReceiptReversal(stack: RealStack): ReceiptReversal {
  return {
    async reverse(tx: EntityManager, receiptIds: string[], reason: 'review') {
      const reversed = await modifyReturning<{ id: string; sender_id: string; coins: string }>(
        tx,
        `UPDATE gift_receipts SET state = 'reversed', reversed_reason = $2, finished_at = now()
          WHERE id = ANY($1::bigint[]) AND state IN ('pending', 'held') RETURNING id, sender_id, coins`,
        [receiptIds, reason],
      );
      for (const r of reversed) {
        await stack.ledger.creditCoins(
          { userId: r.sender_id, amount: Number(r.coins), reason: 'gift_refund', idempotencyKey: `gift-refund:${r.id}`, metadata: { receiptId: String(r.id), reason } },
          tx,
        );
      }
      return reversed.map((r) => String(r.id));
    },
  };
}
