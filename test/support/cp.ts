import type { DataSource } from 'typeorm';
import { CpRecords, type CpProposalRecord } from '../../db/repositories/cp';
import { CP_DEFAULT_RING_GIFT } from '../../domain/cp/rules';
import { uncachedCatalog } from './economy';

/** The seeded CP Ring: 520 coins, worth 364 diamonds. */
export const RING = { giftId: CP_DEFAULT_RING_GIFT, coins: 520, diamonds: 364 };

/** A proposal as the API commits it (escrow + row), without its flow. */
export async function proposeDirect(
  dataSource: DataSource,
  proposerId: string,
  addresseeId: string,
  options: { ttlMs?: number; cooldownDays?: number; now?: Date } = {},
): Promise<CpProposalRecord> {
  const ring = await uncachedCatalog(dataSource).gift(CP_DEFAULT_RING_GIFT);
  if (!ring) throw new Error('the seeded cp-ring gift is missing');
  return dataSource.transaction((tx) =>
    new CpRecords(dataSource).propose(tx, {
      proposerId,
      addresseeId,
      ring,
      ttlMs: options.ttlMs ?? 24 * 3_600_000,
      cooldownDays: options.cooldownDays ?? 7,
      now: options.now ?? new Date(),
    }),
  );
}

/** What CP left in PostgreSQL for these users: ledger entries by reason, pairs, proposals, ring receipts. */
export async function cpEffects(dataSource: DataSource, userIds: string[]) {
  const entries = (await dataSource.query(
    `SELECT reason, count(*)::int AS n, sum(amount)::bigint AS total FROM ledger_entries WHERE user_id = ANY($1::uuid[]) AND reason LIKE 'cp_%' GROUP BY reason ORDER BY reason`,
    [userIds],
  )) as { reason: string; n: number; total: string }[];
  const pairs = (await dataSource.query(
    `SELECT id, user_a, user_b, intimacy::int, ended_at FROM cp_pairs WHERE user_a = ANY($1::uuid[]) OR user_b = ANY($1::uuid[]) ORDER BY formed_at`,
    [userIds],
  )) as { id: string; user_a: string; user_b: string; intimacy: number; ended_at: Date | null }[];
  const ringReceipts = (await dataSource.query(
    `SELECT r.sender_id, r.receiver_id, r.coins::int, r.diamonds::int, r.state, r.room_id FROM gift_receipts r JOIN cp_proposals p ON p.send_id = r.send_id
      WHERE p.proposer_id = ANY($1::uuid[])`,
    [userIds],
  )) as { sender_id: string; receiver_id: string; coins: number; diamonds: number; state: string; room_id: string | null }[];
  return { entries: entries.map((e) => ({ reason: e.reason, n: e.n, total: Number(e.total) })), pairs, ringReceipts };
}
