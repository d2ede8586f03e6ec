import type { DataSource, EntityManager } from 'typeorm';
import type { FraudFinding, FraudKind, ReceiptFact } from '../../domain/economy/fraud';
import { modifyReturning } from './sql';
import { cursorTimestamp, decodeCursor, isUuid, pageLimit, toPage, type Page } from './pagination';

export const FLAG_STATUSES = ['open', 'released', 'reversed'] as const;
export type FlagStatus = (typeof FLAG_STATUSES)[number];

export interface FraudFlagView {
  id: string;
  kind: FraudKind;
  status: FlagStatus;
  receiverId: string;
  userIds: string[];
  coins: number;
  diamonds: number;
  receiptCount: number;
  evidence: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  reviewedBy: string | null;
  reviewedAt: string | null;
  note: string | null;
}

export interface FlaggedReceiptView {
  id: string;
  senderId: string;
  receiverId: string;
  roomId: string;
  coins: number;
  diamonds: number;
  state: string;
  createdAt: string;
}

export interface FraudReviewView {
  decision: 'release' | 'reverse';
  note: string;
  reviewedBy: string;
  effect: Record<string, unknown>;
  at: string;
}

export interface RecordedFinding {
  flagId: string;
  /** True when this finding opened a new flag (a re-scan adding to an open one is false). */
  created: boolean;
  /** Receipts this finding moved from pending to held. */
  held: string[];
  /** Receipts newly tied to the flag (the held ones, plus ones another kind of flag already holds). */
  linked: string[];
}

interface FlagRow {
  id: string;
  kind: FraudKind;
  status: FlagStatus;
  receiver_id: string;
  user_ids: string[];
  coins: string;
  diamonds: string;
  receipt_count: number;
  evidence: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
  created_key: string;
  reviewed_by: string | null;
  reviewed_at: Date | null;
  note: string | null;
}

const FLAG_COLUMNS = `id, kind, status, receiver_id, user_ids::text[] AS user_ids, coins, diamonds, receipt_count, evidence,
  created_at, updated_at, ${cursorTimestamp('created_at')} AS created_key, reviewed_by, reviewed_at, note`;

function flagView(row: FlagRow): FraudFlagView {
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    receiverId: row.receiver_id,
    userIds: row.user_ids,
    coins: Number(row.coins),
    diamonds: Number(row.diamonds),
    receiptCount: row.receipt_count,
    evidence: row.evidence,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    reviewedBy: row.reviewed_by,
    reviewedAt: row.reviewed_at ? row.reviewed_at.toISOString() : null,
    note: row.note,
  };
}

/**
 * Anti-fraud records: what the scanner reads (recent receipts and the senders' devices) and
 * writes (flags holding receipts), and what staff review reads and decides on.
 */
export class GiftFraudRecords {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * The receipts a scan of [since, asOf] needs, narrowed in SQL to the structural candidates
   * (the thresholds stay in the domain rules): receipts whose reverse direction also has a
   * receipt, and receipts from senders who share a recent device with another sender to the
   * same receiver. Reversed receipts are not facts. Devices come back as hashes.
   */
  async scanCandidates(
    window: { since: Date; asOf: Date; devicesSince: Date },
    manager: EntityManager = this.dataSource.manager,
  ): Promise<{ receipts: ReceiptFact[]; devicesBySender: Record<string, string[]> }> {
    const rows: { id: string; sender_id: string; receiver_id: string; coins: string; diamonds: string; state: ReceiptFact['state']; created_ms: string }[] =
      await manager.query(
        `WITH recent AS MATERIALIZED (
           SELECT id, sender_id, receiver_id, coins, diamonds, state, created_at FROM gift_receipts
            WHERE created_at > $1 AND created_at <= $2 AND state IN ('pending', 'held', 'settled')
         ),
         devices AS MATERIALIZED (
           SELECT DISTINCT s.user_id, s.device_id FROM sessions s
            WHERE s.device_id IS NOT NULL AND s.last_used_at > $3 AND s.user_id IN (SELECT sender_id FROM recent)
         ),
         shared AS (
           SELECT r.receiver_id, d.device_id FROM recent r JOIN devices d ON d.user_id = r.sender_id
            GROUP BY r.receiver_id, d.device_id HAVING count(DISTINCT r.sender_id) >= 2
         )
         SELECT r.id, r.sender_id, r.receiver_id, r.coins, r.diamonds, r.state,
                floor(extract(epoch FROM r.created_at) * 1000)::bigint AS created_ms
           FROM recent r
          WHERE EXISTS (SELECT 1 FROM recent x WHERE x.sender_id = r.receiver_id AND x.receiver_id = r.sender_id)
             OR EXISTS (SELECT 1 FROM devices d JOIN shared s ON s.device_id = d.device_id
                         WHERE d.user_id = r.sender_id AND s.receiver_id = r.receiver_id)
          ORDER BY r.id`,
        [window.since, window.asOf, window.devicesSince],
      );
    const receipts = rows.map((r) => ({
      id: String(r.id),
      senderId: r.sender_id,
      receiverId: r.receiver_id,
      coins: Number(r.coins),
      diamonds: Number(r.diamonds),
      state: r.state,
      createdAt: Number(r.created_ms),
    }));
    const senders = [...new Set(receipts.map((r) => r.senderId))];
    const devicesBySender: Record<string, string[]> = {};
    if (senders.length > 0) {
      const devices: { user_id: string; device: string }[] = await manager.query(
        `SELECT DISTINCT user_id, md5(device_id) AS device FROM sessions
          WHERE user_id = ANY($1::uuid[]) AND device_id IS NOT NULL AND last_used_at > $2`,
        [senders, window.devicesSince],
      );
      for (const d of devices) (devicesBySender[d.user_id] ??= []).push(d.device);
    }
    return { receipts, devicesBySender };
  }

  /**
   * Records one finding inside the caller's transaction: the open flag of its pattern (opened if
   * there is none), the finding's receipts that no flag of this kind has named yet, and those
   * still pending moved to held. Receipts settled meanwhile are left alone (not clawed back).
   * Null when nothing is new (a re-scan of a pattern already flagged, or reviewed).
   */
  async recordFinding(tx: EntityManager, finding: FraudFinding): Promise<RecordedFinding | null> {
    const fresh: { id: string; state: string; coins: string; diamonds: string }[] = await tx.query(
      `SELECT r.id, r.state, r.coins, r.diamonds FROM gift_receipts r
        WHERE r.id = ANY($1::bigint[]) AND r.state IN ('pending', 'held')
          AND NOT EXISTS (SELECT 1 FROM gift_fraud_flag_receipts f WHERE f.receipt_id = r.id AND f.kind = $2)
        ORDER BY r.id FOR UPDATE`,
      [finding.receiptIds, finding.kind],
    );
    if (fresh.length === 0) return null;

    const [flag]: { id: string; created: boolean }[] = await tx.query(
      `INSERT INTO gift_fraud_flags (kind, subject_key, receiver_id, user_ids, evidence)
       VALUES ($1, $2, $3, $4::uuid[], $5)
       ON CONFLICT (kind, subject_key) WHERE status = 'open' DO UPDATE
          SET user_ids = ARRAY(SELECT DISTINCT u FROM unnest(gift_fraud_flags.user_ids || EXCLUDED.user_ids) AS u ORDER BY u),
              evidence = EXCLUDED.evidence, updated_at = now()
       RETURNING id, (xmax = 0) AS created`,
      [finding.kind, finding.subjectKey, finding.receiverId, finding.userIds, finding.evidence],
    );
    const ids = fresh.map((r) => String(r.id));
    const held = await modifyReturning<{ id: string }>(
      tx,
      `UPDATE gift_receipts SET state = 'held' WHERE id = ANY($1::bigint[]) AND state = 'pending' RETURNING id`,
      [ids],
    );
    await tx.query(
      `INSERT INTO gift_fraud_flag_receipts (flag_id, receipt_id, kind) SELECT $1, unnest($2::bigint[]), $3`,
      [flag!.id, ids, finding.kind],
    );
    await tx.query(
      `UPDATE gift_fraud_flags SET coins = coins + $2, diamonds = diamonds + $3, receipt_count = receipt_count + $4 WHERE id = $1`,
      [flag!.id, fresh.reduce((s, r) => s + Number(r.coins), 0), fresh.reduce((s, r) => s + Number(r.diamonds), 0), fresh.length],
    );
    return { flagId: flag!.id, created: flag!.created, held: held.map((r) => String(r.id)), linked: ids };
  }

  /** Flags by status, newest first. */
  async list(query: { status: FlagStatus; cursor?: string; limit: number }): Promise<Page<FraudFlagView>> {
    const limit = pageLimit(query.limit);
    const after = decodeCursor(query.cursor, ['timestamp', 'uuid']);
    const rows: FlagRow[] = await this.dataSource.query(
      `SELECT ${FLAG_COLUMNS} FROM gift_fraud_flags
        WHERE status = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
        ORDER BY created_at DESC, id DESC LIMIT $4`,
      [query.status, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(rows, limit, (r) => [r.created_key, r.id], flagView);
  }

  async get(id: string, manager: EntityManager = this.dataSource.manager, lock = false): Promise<FraudFlagView | null> {
    if (!isUuid(id)) return null;
    const rows: FlagRow[] = await manager.query(`SELECT ${FLAG_COLUMNS} FROM gift_fraud_flags WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
    return rows[0] ? flagView(rows[0]) : null;
  }

  async receipts(flagId: string, manager: EntityManager = this.dataSource.manager): Promise<FlaggedReceiptView[]> {
    const rows: { id: string; sender_id: string; receiver_id: string; room_id: string; coins: string; diamonds: string; state: string; created_at: Date }[] =
      await manager.query(
        `SELECT r.id, r.sender_id, r.receiver_id, r.room_id, r.coins, r.diamonds, r.state, r.created_at
           FROM gift_fraud_flag_receipts f JOIN gift_receipts r ON r.id = f.receipt_id
          WHERE f.flag_id = $1 ORDER BY r.id`,
        [flagId],
      );
    return rows.map((r) => ({
      id: String(r.id),
      senderId: r.sender_id,
      receiverId: r.receiver_id,
      roomId: r.room_id,
      coins: Number(r.coins),
      diamonds: Number(r.diamonds),
      state: r.state,
      createdAt: r.created_at.toISOString(),
    }));
  }

  async reviews(flagId: string): Promise<FraudReviewView[]> {
    const rows: { decision: 'release' | 'reverse'; note: string; reviewed_by: string; effect: Record<string, unknown>; created_at: Date }[] =
      await this.dataSource.query(`SELECT decision, note, reviewed_by, effect, created_at FROM gift_fraud_reviews WHERE flag_id = $1 ORDER BY id`, [flagId]);
    return rows.map((r) => ({ decision: r.decision, note: r.note, reviewedBy: r.reviewed_by, effect: r.effect, at: r.created_at.toISOString() }));
  }

  /** The flag's receipts still held, locked for the review deciding on them. */
  async lockHeldReceipts(tx: EntityManager, flagId: string): Promise<{ id: string; senderId: string; coins: number; diamonds: number }[]> {
    const rows: { id: string; sender_id: string; coins: string; diamonds: string }[] = await tx.query(
      `SELECT r.id, r.sender_id, r.coins, r.diamonds FROM gift_fraud_flag_receipts f JOIN gift_receipts r ON r.id = f.receipt_id
        WHERE f.flag_id = $1 AND r.state = 'held' ORDER BY r.id FOR UPDATE OF r`,
      [flagId],
    );
    return rows.map((r) => ({ id: String(r.id), senderId: r.sender_id, coins: Number(r.coins), diamonds: Number(r.diamonds) }));
  }

  /**
   * Held receipts back to pending, except those another open flag still holds: the settlement
   * flow then settles them once their hold has passed. Returns the released ids.
   */
  async releaseReceipts(tx: EntityManager, flagId: string, receiptIds: string[]): Promise<string[]> {
    if (receiptIds.length === 0) return [];
    const rows = await modifyReturning<{ id: string }>(
      tx,
      `UPDATE gift_receipts r SET state = 'pending'
        WHERE r.id = ANY($2::bigint[]) AND r.state = 'held'
          AND NOT EXISTS (SELECT 1 FROM gift_fraud_flag_receipts f JOIN gift_fraud_flags g ON g.id = f.flag_id
                           WHERE f.receipt_id = r.id AND g.id <> $1 AND g.status = 'open')
        RETURNING r.id`,
      [flagId, receiptIds],
    );
    return rows.map((r) => String(r.id));
  }

  /** Closes the flag and writes the review's audit row, in the caller's transaction. */
  async closeFlag(
    tx: EntityManager,
    review: { flagId: string; status: Exclude<FlagStatus, 'open'>; decision: 'release' | 'reverse'; reviewedBy: string; note: string; effect: Record<string, unknown> },
  ): Promise<void> {
    await tx.query(
      `UPDATE gift_fraud_flags SET status = $2, reviewed_by = $3, reviewed_at = now(), note = $4, updated_at = now() WHERE id = $1 AND status = 'open'`,
      [review.flagId, review.status, review.reviewedBy, review.note],
    );
    await tx.query(
      `INSERT INTO gift_fraud_reviews (flag_id, reviewed_by, decision, note, effect) VALUES ($1, $2, $3, $4, $5)`,
      [review.flagId, review.reviewedBy, review.decision, review.note, review.effect],
    );
  }
}

/** Who is support staff (`staff_members`); granted and revoked with scripts/staff.ts. */
export class StaffMembers {
  constructor(private readonly dataSource: DataSource) {}

  async roleOf(userId: string): Promise<string | null> {
    if (!isUuid(userId)) return null;
    const rows: { role: string }[] = await this.dataSource.query(`SELECT role FROM staff_members WHERE user_id = $1`, [userId]);
    return rows[0]?.role ?? null;
  }

  /** Idempotent: a second grant changes the role and keeps the first grant's record otherwise. */
  async grant(userId: string, role: 'support' | 'admin', grantedBy: string): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO staff_members (user_id, role, granted_by) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET role = EXCLUDED.role`,
      [userId, role, grantedBy],
    );
  }

  async revoke(userId: string): Promise<boolean> {
    const rows = await modifyReturning(this.dataSource.manager, `DELETE FROM staff_members WHERE user_id = $1 RETURNING user_id`, [userId]);
    return rows.length > 0;
  }
}
