import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { Ledger } from '../../db/repositories/ledger';
import { RoomDirectory } from '../../db/repositories/rooms';
import type { RankedReceipt } from '../../domain/economy/rankings';

/**
 * Gift sends and receipts written straight into PostgreSQL, as the gift send leaves them (the
 * sender's coins recharged, then debited `gift:<sendId>` with reason gift_sent, the send and one
 * receipt per receiver), for suites that need gifting history without the send itself.
 */

export interface TestReceipt extends RankedReceipt {
  /** gift_receipts.id */
  id: string;
  sendId: string;
  at: Date;
}

/** A catalog gift of this suite's own (the catalog seed's ids are left alone). */
export async function createTestGift(dataSource: DataSource, price = { coins: 10, diamonds: 6 }): Promise<string> {
  const tag = randomUUID().slice(0, 8);
  await dataSource.query(`INSERT INTO gift_categories (id, names) VALUES ($1, '{"en":"Test"}') ON CONFLICT (id) DO NOTHING`, [`test-${tag}`]);
  await dataSource.query(
    `INSERT INTO gifts (id, category_id, names, price_coins, diamond_value, animation)
     VALUES ($1, $2, '{"en":"Test gift"}', $3, $4, '{"format":"svga","url":"https://cdn.aura.test/g.svga","durationMs":1000,"display":"banner"}')`,
    [`test-gift-${tag}`, `test-${tag}`, price.coins, price.diamonds],
  );
  return `test-gift-${tag}`;
}

/** A room row (no live state: rankings only need it to exist). */
export async function createTestRoom(dataSource: DataSource, ownerId: string): Promise<string> {
  const room = await new RoomDirectory(dataSource).create({ ownerId, type: 'voice', name: 'Gift test room', seatCount: 9, seatMode: 'free' });
  return room.id;
}

/**
 * One gift send: the sender is recharged with exactly what it costs, then debited in the same
 * transaction that writes the send and its receipts (created at `at`, default now).
 */
export async function sendTestGift(
  dataSource: DataSource,
  send: { giftId: string; senderId: string; roomId: string; receivers: { receiverId: string; coins: number; diamonds: number }[]; at?: Date },
): Promise<TestReceipt[]> {
  const ledger = new Ledger(dataSource);
  const sendId = randomUUID();
  const at = send.at ?? new Date();
  const total = send.receivers.reduce((sum, r) => sum + r.coins, 0);
  await ledger.creditCoins({ userId: send.senderId, amount: total, reason: 'recharge', idempotencyKey: `test-recharge:${sendId}` });
  return dataSource.transaction(async (tx) => {
    const debit = await ledger.post({ userId: send.senderId, currency: 'coins', amount: -total, reason: 'gift_sent', idempotencyKey: `gift:${sendId}` }, tx);
    await tx.query(
      `INSERT INTO gift_sends (id, sender_id, room_id, gift_id, quantity, unit_price_coins, unit_diamonds, receiver_count, total_coins, debit_entry_id, created_at)
       VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10)`,
      [sendId, send.senderId, send.roomId, send.giftId, Math.max(...send.receivers.map((r) => r.coins)), Math.max(...send.receivers.map((r) => r.diamonds)), send.receivers.length, total, debit.entryId, at],
    );
    const receipts: TestReceipt[] = [];
    for (const r of send.receivers) {
      const [row]: { id: string }[] = await tx.query(
        `INSERT INTO gift_receipts (send_id, sender_id, receiver_id, room_id, coins, diamonds, hold_until, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
        [sendId, send.senderId, r.receiverId, send.roomId, r.coins, r.diamonds, new Date(at.getTime() + 72 * 3_600_000), at],
      );
      receipts.push({ id: String(row!.id), sendId, senderId: send.senderId, receiverId: r.receiverId, roomId: send.roomId, coins: r.coins, diamonds: r.diamonds, at });
    }
    return receipts;
  });
}

/** Marks receipts reversed (a clawback), as the reversal path does. */
export async function reverseTestReceipts(dataSource: DataSource, receipts: readonly { id: string }[], reason: 'clawback' | 'review' = 'clawback'): Promise<void> {
  await dataSource.query(`UPDATE gift_receipts SET state = 'reversed', reversed_reason = $2, finished_at = now() WHERE id = ANY($1::bigint[])`, [
    receipts.map((r) => r.id),
    reason,
  ]);
}
