import type { DataSource, EntityManager } from 'typeorm';
import { MAX_REFUSED_ATTEMPTS, type AttributionVia, type RefusalReason } from '../../domain/referrals/attribution';
import { networkOf } from '../../domain/referrals/network';
import {
  REFERRAL_MILESTONES,
  referralPayoutKey,
  type MilestoneFacts,
  type MilestoneReward,
  type ReferralMilestone,
} from '../../domain/referrals/milestones';
import { AppError, ErrorCode } from '../../domain/errors';
import { Ledger } from './ledger';
import { cursorTimestamp, decodeCursor, isUuid, pageLimit, toPage, type Page } from './pagination';
import { PG_UNIQUE_VIOLATION, isPgError } from './pg-errors';
import { modifyReturning } from './sql';

export interface AttributionAttempt {
  refereeId: string;
  /** The code in its stored form; null when what was sent can be no code. */
  code: string | null;
  via: AttributionVia;
  /** Sign-up: the sign-in created the user. Later: the user must be younger than `lateWindowMs`. */
  newUser: { signedUpNow: boolean } | { lateWindowMs: number };
  deviceId?: string;
  ip?: string;
  windowMs: number;
  /** How far back sessions on the same network count. */
  networkWindowMs: number;
}

export type AttributionOutcome =
  | { ok: true; referrerId: string; attributedAt: Date; windowEndsAt: Date; replay: boolean }
  | { ok: false; reason: RefusalReason; referrerId: string | null };

/** What a referee's flow and the nudges need to know (one primary-key read). */
export interface RefereeRecord {
  refereeId: string;
  referrerId: string;
  attributedAt: Date;
  windowEndsAt: Date;
  flowStarted: boolean;
  ended: boolean;
}

export interface RefereeView {
  userId: string;
  displayName: string | null;
  attributedAt: string;
  windowEndsAt: string;
  status: 'open' | 'completed' | 'expired';
  milestones: { milestone: ReferralMilestone; paidAt: string | null; coins: number | null }[];
}

export interface ReferralStats {
  attributed: number;
  qualified: number;
  coinsEarned: number;
}

/**
 * Referrals as PostgreSQL records them: invite codes on users, attributions (one per referee),
 * refusals, milestone payouts. The record the flows, the API and the leaderboards read.
 */
export class ReferralRecords {
  private readonly ledger: Ledger;

  constructor(private readonly dataSource: DataSource) {
    this.ledger = new Ledger(dataSource);
  }

  /** The user's invite code, assigned on first ask with `draw` (a collision draws again). */
  async inviteCodeOf(userId: string, draw: () => string): Promise<string> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const existing: { invite_code: string | null }[] = await this.dataSource.query(`SELECT invite_code FROM users WHERE id = $1`, [userId]);
      if (!existing[0]) throw new AppError(ErrorCode.UserNotFound, 'the signed-in user does not exist');
      if (existing[0].invite_code) return existing[0].invite_code;
      try {
        const set = await modifyReturning<{ invite_code: string }>(
          this.dataSource.manager,
          `UPDATE users SET invite_code = $2 WHERE id = $1 AND invite_code IS NULL RETURNING invite_code`,
          [userId, draw()],
        );
        if (set[0]) return set[0].invite_code;
        // A concurrent request assigned one: read it on the next turn.
      } catch (err) {
        if (!isPgError(err, PG_UNIQUE_VIOLATION, 'invite_code')) throw err; // another user holds that code: draw again
      }
    }
    throw new Error('no free invite code after 8 draws');
  }

  /**
   * Attributes the referee to the code's owner, or records why not, in one transaction. Checks,
   * in order: already attributed (the same referrer again is a replay, answered as before), too
   * many refused attempts, not a new user, unknown code, own code, a device or a network that
   * already belongs to the referrer or another referred account. Attempts on one device or
   * network are serialised, so two accounts signing up at once on one phone can't both pass.
   */
  async attribute(a: AttributionAttempt): Promise<AttributionOutcome> {
    const network = networkOf(a.ip);
    return this.dataSource.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`referral-referee:${a.refereeId}`]);
      const refuse = async (reason: RefusalReason, referrerId: string | null = null): Promise<AttributionOutcome> => {
        await tx.query(
          `INSERT INTO referral_refusals (referee_id, invite_code, referrer_id, reason, via, device_id, network)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [a.refereeId, a.code, referrerId, reason, a.via, a.deviceId ?? null, network?.cidr ?? null],
        );
        return { ok: false, reason, referrerId };
      };

      const owner: { id: string }[] = a.code ? await tx.query(`SELECT id FROM users WHERE invite_code = $1`, [a.code]) : [];
      const referrerId = owner[0]?.id ?? null;

      const existing: { referrer_id: string; attributed_at: Date; window_ends_at: Date }[] = await tx.query(
        `SELECT referrer_id, attributed_at, window_ends_at FROM referrals WHERE referee_id = $1`,
        [a.refereeId],
      );
      if (existing[0]) {
        if (existing[0].referrer_id === referrerId) {
          return { ok: true, referrerId, attributedAt: existing[0].attributed_at, windowEndsAt: existing[0].window_ends_at, replay: true };
        }
        return refuse('already_attributed', referrerId);
      }
      const [{ refused }] = (await tx.query(`SELECT count(*)::int AS refused FROM referral_refusals WHERE referee_id = $1`, [a.refereeId])) as [
        { refused: number },
      ];
      if (refused >= MAX_REFUSED_ATTEMPTS) return { ok: false, reason: 'too_many_attempts', referrerId };

      if ('lateWindowMs' in a.newUser) {
        const fresh: { fresh: boolean }[] = await tx.query(
          `SELECT created_at > now() - make_interval(secs => $2::double precision / 1000) AS fresh FROM users WHERE id = $1`,
          [a.refereeId, a.newUser.lateWindowMs],
        );
        if (!fresh[0]?.fresh) return refuse('not_new_user', referrerId);
      } else if (!a.newUser.signedUpNow) {
        return refuse('not_new_user', referrerId);
      }
      if (!referrerId) return refuse('unknown_code');
      if (referrerId === a.refereeId) return refuse('self', referrerId);

      // Whose sessions count: the referrer's, and any referred account's (but the referee's own).
      const counted = `s.user_id <> $1 AND (s.user_id = $2 OR EXISTS (SELECT 1 FROM referrals r WHERE r.referee_id = s.user_id))`;
      if (a.deviceId) {
        await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`referral-device:${a.deviceId}`]);
        const seen: unknown[] = await tx.query(`SELECT 1 FROM sessions s WHERE s.device_id = $3 AND ${counted} LIMIT 1`, [a.refereeId, referrerId, a.deviceId]);
        if (seen.length) return refuse('same_device', referrerId);
      }
      if (network) {
        await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`referral-network:${network.cidr}`]);
        const seen: unknown[] = await tx.query(
          `SELECT 1 FROM sessions s
            WHERE s.ip IS NOT NULL AND (s.ip <<= $3::cidr OR ($4::cidr IS NOT NULL AND s.ip <<= $4::cidr))
              AND s.last_used_at > now() - make_interval(secs => $5::double precision / 1000)
              AND ${counted}
            LIMIT 1`,
          [a.refereeId, referrerId, network.cidr, network.mappedCidr, a.networkWindowMs],
        );
        if (seen.length) return refuse('same_network', referrerId);
      }

      const [row] = (await tx.query(
        `INSERT INTO referrals (referee_id, referrer_id, invite_code, via, window_ends_at, device_id, network)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::double precision / 1000), $6, $7)
         RETURNING attributed_at, window_ends_at`,
        [a.refereeId, referrerId, a.code, a.via, a.windowMs, a.deviceId ?? null, network?.cidr ?? null],
      )) as [{ attributed_at: Date; window_ends_at: Date }];
      return { ok: true, referrerId, attributedAt: row.attributed_at, windowEndsAt: row.window_ends_at, replay: false };
    });
  }

  async referee(refereeId: string): Promise<RefereeRecord | null> {
    if (!isUuid(refereeId)) return null;
    const rows: { referrer_id: string; attributed_at: Date; window_ends_at: Date; flow_started: boolean; ended: boolean }[] = await this.dataSource.query(
      `SELECT referrer_id, attributed_at, window_ends_at, flow_started_at IS NOT NULL AS flow_started, ended_at IS NOT NULL AS ended
         FROM referrals WHERE referee_id = $1`,
      [refereeId],
    );
    const r = rows[0];
    return r
      ? { refereeId, referrerId: r.referrer_id, attributedAt: r.attributed_at, windowEndsAt: r.window_ends_at, flowStarted: r.flow_started, ended: r.ended }
      : null;
  }

  async markFlowStarted(refereeId: string): Promise<void> {
    await this.dataSource.query(`UPDATE referrals SET flow_started_at = now() WHERE referee_id = $1 AND flow_started_at IS NULL`, [refereeId]);
  }

  async markEnded(refereeId: string, reason: 'completed' | 'expired'): Promise<void> {
    await this.dataSource.query(`UPDATE referrals SET ended_at = now(), end_reason = $2 WHERE referee_id = $1 AND ended_at IS NULL`, [refereeId, reason]);
  }

  /**
   * What the referee did from sign-up to the end of the window, from the records: sign-in days
   * (refresh tokens of their sessions, by local date in their zone), a credited recharge, the
   * longest daily-reward streak claimed.
   */
  async milestoneFacts(refereeId: string): Promise<MilestoneFacts> {
    const rows: { active_days: number; recharged: boolean; longest_streak: number }[] = await this.dataSource.query(
      `SELECT
         (SELECT count(DISTINCT (t.created_at AT TIME ZONE u.time_zone)::date)::int
            FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id
           WHERE s.user_id = r.referee_id AND t.created_at >= u.created_at AND t.created_at < r.window_ends_at) AS active_days,
         EXISTS (SELECT 1 FROM ledger_entries l
                  WHERE l.user_id = r.referee_id AND l.reason = 'recharge' AND l.currency = 'coins'
                    AND l.created_at >= u.created_at AND l.created_at < r.window_ends_at) AS recharged,
         (SELECT coalesce(max(c.streak), 0)::int FROM daily_reward_claims c
           WHERE c.user_id = r.referee_id AND c.created_at >= u.created_at AND c.created_at < r.window_ends_at) AS longest_streak
       FROM referrals r JOIN users u ON u.id = r.referee_id
      WHERE r.referee_id = $1`,
      [refereeId],
    );
    const row = rows[0];
    if (!row) throw new AppError(ErrorCode.NotFound, 'no referral for this user');
    return { activeDays: row.active_days, recharged: row.recharged, longestStreak: row.longest_streak };
  }

  /**
   * Pays one milestone to both sides, once: two ledger credits (keys per referee, milestone and
   * side), the payout row, and the referral's qualification (its first payout), in one
   * transaction. A second call finds the payout and changes nothing.
   */
  async payMilestone(refereeId: string, reward: MilestoneReward): Promise<{ referrerId: string; qualifiedAt: Date; applied: boolean }> {
    return this.dataSource.transaction(async (tx) => {
      const referral: { referrer_id: string }[] = await tx.query(`SELECT referrer_id FROM referrals WHERE referee_id = $1 FOR UPDATE`, [refereeId]);
      const referrerId = referral[0]?.referrer_id;
      if (!referrerId) throw new AppError(ErrorCode.NotFound, 'no referral for this user');
      const paid: unknown[] = await tx.query(`SELECT 1 FROM referral_payouts WHERE referee_id = $1 AND milestone = $2`, [refereeId, reward.milestone]);
      let applied = false;
      if (!paid.length) {
        const referrerEntry = await this.credit(tx, referrerId, reward.referrerCoins, refereeId, reward.milestone, 'referrer');
        const refereeEntry = await this.credit(tx, refereeId, reward.refereeCoins, refereeId, reward.milestone, 'referee');
        await tx.query(
          `INSERT INTO referral_payouts (referee_id, milestone, referrer_id, referrer_coins, referee_coins, referrer_entry_id, referee_entry_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [refereeId, reward.milestone, referrerId, reward.referrerCoins, reward.refereeCoins, referrerEntry, refereeEntry],
        );
        applied = true;
      }
      const [row] = await modifyReturning<{ qualified_at: Date }>(
        tx,
        `UPDATE referrals SET qualified_at = coalesce(qualified_at, now()) WHERE referee_id = $1 RETURNING qualified_at`,
        [refereeId],
      );
      return { referrerId, qualifiedAt: row!.qualified_at, applied };
    });
  }

  private async credit(tx: EntityManager, userId: string, coins: number, refereeId: string, milestone: ReferralMilestone, side: 'referrer' | 'referee') {
    if (coins <= 0) return null;
    const entry = await this.ledger.creditCoins(
      { userId, amount: coins, reason: 'referral_reward', idempotencyKey: referralPayoutKey(refereeId, milestone, side), metadata: { refereeId, milestone, side } },
      tx,
    );
    return entry.entryId;
  }

  /** The referrer's referees, newest first, with each milestone's payout. */
  async listReferees(referrerId: string, page: { cursor?: string; limit: number }): Promise<Page<RefereeView>> {
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, ['timestamp', 'uuid']);
    const rows: {
      referee_id: string;
      display_name: string | null;
      attributed_at: Date;
      window_ends_at: Date;
      end_reason: 'completed' | 'expired' | null;
      attributed_key: string;
      payouts: { milestone: ReferralMilestone; paidAt: string; coins: number }[];
    }[] = await this.dataSource.query(
      `SELECT r.referee_id, u.display_name, r.attributed_at, r.window_ends_at, r.end_reason, ${cursorTimestamp('r.attributed_at')} AS attributed_key,
              COALESCE((SELECT json_agg(json_build_object('milestone', p.milestone, 'coins', p.referrer_coins,
                         'paidAt', to_char(p.paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
                         FROM referral_payouts p WHERE p.referee_id = r.referee_id), '[]'::json) AS payouts
         FROM referrals r JOIN users u ON u.id = r.referee_id
        WHERE r.referrer_id = $1 AND ($2::timestamptz IS NULL OR (r.attributed_at, r.referee_id) < ($2::timestamptz, $3::uuid))
        ORDER BY r.attributed_at DESC, r.referee_id DESC
        LIMIT $4`,
      [referrerId, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(
      rows,
      limit,
      (r) => [r.attributed_key, r.referee_id],
      (r) => ({
        userId: r.referee_id,
        displayName: r.display_name,
        attributedAt: r.attributed_at.toISOString(),
        windowEndsAt: r.window_ends_at.toISOString(),
        status: r.end_reason ?? 'open',
        milestones: REFERRAL_MILESTONES.map((milestone) => {
          const paid = r.payouts.find((p) => p.milestone === milestone);
          return { milestone, paidAt: paid?.paidAt ?? null, coins: paid?.coins ?? null };
        }),
      }),
    );
  }

  async stats(referrerId: string): Promise<ReferralStats> {
    const [row] = (await this.dataSource.query(
      `SELECT (SELECT count(*)::int FROM referrals WHERE referrer_id = $1) AS attributed,
              (SELECT count(*)::int FROM referrals WHERE referrer_id = $1 AND qualified_at IS NOT NULL) AS qualified,
              (SELECT coalesce(sum(referrer_coins), 0)::bigint FROM referral_payouts WHERE referrer_id = $1) AS coins`,
      [referrerId],
    )) as [{ attributed: number; qualified: number; coins: string }];
    return { attributed: row.attributed, qualified: row.qualified, coinsEarned: Number(row.coins) };
  }

  /** Qualified referrals (referee, referrer) since `from` and before `until` (all of them without bounds): a leaderboard's record. */
  async qualifiedPairs(range: { from: Date; until: Date } | null): Promise<[refereeId: string, referrerId: string][]> {
    const rows: { referee_id: string; referrer_id: string }[] = await this.dataSource.query(
      `SELECT referee_id, referrer_id FROM referrals
        WHERE qualified_at IS NOT NULL AND ($1::timestamptz IS NULL OR (qualified_at >= $1 AND qualified_at < $2))`,
      [range?.from ?? null, range?.until ?? null],
    );
    return rows.map((r) => [r.referee_id, r.referrer_id]);
  }
}
