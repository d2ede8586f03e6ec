import type { DataSource } from 'typeorm';
import { visibleVipTier, type BadgeFacts } from '../../domain/profiles/badges';
import { cursorTimestamp, decodeCursor, isUuid, pageLimit, toPage, type Page } from './pagination';
import { preparedRead } from './prepared-read';

/** A user as lists and the CP partner line show them. */
export interface UserCard {
  userId: string;
  displayName: string;
  avatarUrl: string | null;
  wealthLevel: number;
  charmLevel: number;
  /** 0 when the user has no VIP now. */
  vipTier: number;
}

/** A follower or followed user, with when the follow was made. */
export interface FollowCard extends UserCard {
  since: string;
}

/** A medal on a profile: the catalogue's names by language; the service picks the viewer's. */
export interface DisplayedMedal {
  id: string;
  slot: number;
  category: string;
  names: Record<string, string>;
  iconKey: string;
}

/** What anyone (not blocked either way) may see of a user. */
export interface PublicProfile {
  id: string;
  displayName: string;
  avatarUrl: string | null;
  region: string | null;
  wealthLevel: number;
  charmLevel: number;
  /** Null when the user has no VIP now (the tier is shown only while it hasn't expired). */
  vip: { tier: number } | null;
  /** The medals the user chose to show, by display slot, with their catalogue names (every language). */
  medals: DisplayedMedal[];
  /** The open CP pair's other user; null when none (or when the viewer and the partner blocked each other). */
  cpPartner: { userId: string; displayName: string; avatarUrl: string | null; formedAt: string } | null;
  followerCount: number;
  followingCount: number;
  /** Whether the viewer follows this user. */
  followedByMe: boolean;
}

export interface PublicProfileOptions {
  /** Builds an uploaded avatar's public URL from its key (as UserDirectory does). */
  mediaUrl?: (key: string) => string;
  clock?: () => number;
}

/** "Either of the two blocked the other", for a viewer ($1) and a user column. */
const blockedEitherWay = (viewer: string, other: string) =>
  `EXISTS (SELECT 1 FROM user_blocks b
            WHERE (b.blocker_id = ${viewer} AND b.blocked_id = ${other}) OR (b.blocker_id = ${other} AND b.blocked_id = ${viewer}))`;

/**
 * The open CP pair of user column `u` (LATERAL, one row at most): each side has its own
 * partial unique index, so ordering keeps this to one row even if a user were on both sides.
 */
const openPair = (u: string) =>
  `LATERAL (SELECT p.formed_at, CASE WHEN p.user_a = ${u} THEN p.user_b ELSE p.user_a END AS partner_id
              FROM cp_pairs p
             WHERE p.ended_at IS NULL AND (p.user_a = ${u} OR p.user_b = ${u})
             ORDER BY p.formed_at, p.id
             LIMIT 1)`;

/** Medals a user shows, by slot, with what the catalogue says of each (one query with the profile). */
const DISPLAYED_MEDALS = (u: string) =>
  `COALESCE((SELECT json_agg(json_build_object('id', m.medal_id, 'slot', m.display_slot, 'category', d.category,
                                               'names', d.names, 'iconKey', d.icon_key) ORDER BY m.display_slot)
               FROM user_medals m JOIN medals d ON d.id = m.medal_id
              WHERE m.user_id = ${u} AND m.display_slot IS NOT NULL), '[]'::json)`;

const ISO = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

interface CardRow {
  user_id: string;
  display_name: string;
  avatar_url: string | null;
  avatar_key: string | null;
  wealth_level: number;
  charm_level: number;
  vip_tier: number;
  vip_expires_at: Date | null;
}

const CARD_COLUMNS = (u: string) =>
  `${u}.id AS user_id, ${u}.display_name, ${u}.avatar_url, ${u}.avatar_key, ${u}.wealth_level, ${u}.charm_level, ${u}.vip_tier, ${u}.vip_expires_at`;

/**
 * Users as others see them: the public profile, followers and following lists, and the facts
 * room badges are drawn from. Everything here is hidden between two users where either blocked
 * the other: a hidden profile reads exactly like a missing one.
 */
export class PublicProfiles {
  private readonly clock: () => number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: PublicProfileOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
  }

  /** Null when there is no such user, or either of the two blocked the other. One round trip. */
  async profile(viewerId: string, userId: string): Promise<PublicProfile | null> {
    if (!isUuid(viewerId) || !isUuid(userId)) return null;
    const rows: (CardRow & {
      region: string | null;
      followers: string;
      following: string;
      followed_by_me: boolean;
      medals: DisplayedMedal[];
      partner_id: string | null;
      partner_name: string | null;
      partner_avatar_url: string | null;
      partner_avatar_key: string | null;
      partner_formed_at: string | null;
    })[] = await preparedRead(
      this.dataSource,
      'profiles.profile',
      `SELECT ${CARD_COLUMNS('u')}, u.region,
              COALESCE(c.followers, 0) AS followers, COALESCE(c.following, 0) AS following,
              EXISTS (SELECT 1 FROM user_follows f WHERE f.follower_id = $1 AND f.followee_id = u.id) AS followed_by_me,
              ${DISPLAYED_MEDALS('u.id')} AS medals,
              partner.id AS partner_id, partner.display_name AS partner_name,
              partner.avatar_url AS partner_avatar_url, partner.avatar_key AS partner_avatar_key,
              CASE WHEN partner.id IS NULL THEN NULL ELSE ${ISO('cp.formed_at')} END AS partner_formed_at
         FROM users u
         LEFT JOIN user_follow_counts c ON c.user_id = u.id
         LEFT JOIN ${openPair('u.id')} cp ON true
         LEFT JOIN users partner ON partner.id = cp.partner_id AND NOT ${blockedEitherWay('$1', 'cp.partner_id')}
        WHERE u.id = $2 AND NOT ${blockedEitherWay('$1', 'u.id')}`,
      [viewerId, userId],
    );
    const row = rows[0];
    if (!row) return null;
    const tier = this.vipTier(row);
    return {
      id: row.user_id,
      displayName: row.display_name,
      avatarUrl: this.avatar(row.avatar_key, row.avatar_url),
      region: row.region,
      wealthLevel: row.wealth_level,
      charmLevel: row.charm_level,
      vip: tier > 0 ? { tier } : null,
      medals: row.medals,
      cpPartner:
        row.partner_id === null
          ? null
          : {
              userId: row.partner_id,
              displayName: row.partner_name!,
              avatarUrl: this.avatar(row.partner_avatar_key, row.partner_avatar_url),
              formedAt: row.partner_formed_at!,
            },
      followerCount: Number(row.followers),
      followingCount: Number(row.following),
      followedByMe: row.followed_by_me,
    };
  }

  /** Whether the viewer may see the user at all (exists, and neither blocked the other). */
  async isVisible(viewerId: string, userId: string): Promise<boolean> {
    if (!isUuid(viewerId) || !isUuid(userId)) return false;
    const rows = await preparedRead(this.dataSource, 'profiles.visible', `SELECT 1 FROM users u WHERE u.id = $2 AND NOT ${blockedEitherWay('$1', 'u.id')}`, [
      viewerId,
      userId,
    ]);
    return rows.length > 0;
  }

  /** Who follows the user, newest first, leaving out anyone blocked either way with the viewer. */
  async followers(viewerId: string, userId: string, page: { cursor?: string; limit: number }): Promise<Page<FollowCard>> {
    return this.list('followee_id', 'follower_id', viewerId, userId, page);
  }

  /** Whom the user follows, newest first, leaving out anyone blocked either way with the viewer. */
  async following(viewerId: string, userId: string, page: { cursor?: string; limit: number }): Promise<Page<FollowCard>> {
    return this.list('follower_id', 'followee_id', viewerId, userId, page);
  }

  /**
   * The facts badges are read from, for many users in one query (a room's seats and chat);
   * ids with no user are left out.
   */
  async badgeFacts(ids: readonly string[]): Promise<Map<string, BadgeFacts>> {
    const wanted = [...new Set(ids.filter(isUuid))];
    if (wanted.length === 0) return new Map();
    const rows: { id: string; vip_tier: number; vip_expires_at: Date | null; wealth_level: number; charm_level: number; partner_id: string | null }[] =
      await this.dataSource.query(
        `SELECT u.id, u.vip_tier, u.vip_expires_at, u.wealth_level, u.charm_level, cp.partner_id
           FROM users u
           LEFT JOIN ${openPair('u.id')} cp ON true
          WHERE u.id = ANY($1::uuid[])`,
        [wanted],
      );
    return new Map(
      rows.map((r) => [
        r.id,
        {
          vipTier: r.vip_tier,
          vipExpiresAtMs: r.vip_expires_at ? r.vip_expires_at.getTime() : null,
          wealthLevel: r.wealth_level,
          charmLevel: r.charm_level,
          cpPartnerId: r.partner_id,
        },
      ]),
    );
  }

  private async list(
    ownerColumn: 'followee_id' | 'follower_id',
    otherColumn: 'follower_id' | 'followee_id',
    viewerId: string,
    userId: string,
    page: { cursor?: string; limit: number },
  ): Promise<Page<FollowCard>> {
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, ['timestamp', 'uuid']);
    if (!isUuid(viewerId) || !isUuid(userId)) return { items: [], nextCursor: null };
    // Walks ix_user_follows_{followee,follower}_recent newest first; blocked users are skipped
    // before the limit, so a page is full whenever there is more.
    const rows: (CardRow & { created_at: Date; created_key: string })[] = await preparedRead(
      this.dataSource,
      // One text per direction: the columns are part of it.
      `profiles.follows.${ownerColumn}`,
      `SELECT ${CARD_COLUMNS('o')}, f.created_at, ${cursorTimestamp('f.created_at')} AS created_key
         FROM user_follows f
         JOIN users o ON o.id = f.${otherColumn}
        WHERE f.${ownerColumn} = $2
          AND ($3::timestamptz IS NULL OR (f.created_at, f.${otherColumn}) < ($3::timestamptz, $4::uuid))
          AND NOT ${blockedEitherWay('$1', `f.${otherColumn}`)}
        ORDER BY f.created_at DESC, f.${otherColumn} DESC
        LIMIT $5`,
      [viewerId, userId, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(
      rows,
      limit,
      (r) => [r.created_key, r.user_id],
      (r) => ({ ...this.card(r), since: r.created_at.toISOString() }),
    );
  }

  private card(row: CardRow): UserCard {
    return {
      userId: row.user_id,
      displayName: row.display_name,
      avatarUrl: this.avatar(row.avatar_key, row.avatar_url),
      wealthLevel: row.wealth_level,
      charmLevel: row.charm_level,
      vipTier: this.vipTier(row),
    };
  }

  private vipTier(row: { vip_tier: number; vip_expires_at: Date | null }): number {
    return visibleVipTier(row.vip_tier, row.vip_expires_at ? row.vip_expires_at.getTime() : null, this.clock());
  }

  /** An uploaded avatar (by key) wins over the URL a social sign-in brought, as on GET /v1/me. */
  private avatar(key: string | null, url: string | null): string | null {
    const { mediaUrl } = this.options;
    return key !== null && mediaUrl ? mediaUrl(key) : url;
  }
}
