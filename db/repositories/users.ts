import { randomInt } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { User } from '../entities';
import { Ledger } from './ledger';

/** Letters only, without vowels (no accidental words) and without digits (nothing that reads like a number). */
const TAG_LETTERS = 'BCDFGHJKLMNPQRSTVWXZ';

/**
 * The display name a new account starts with, whatever it signed in with: "Aura user" and a
 * random four-letter tag. Nothing from the phone number or the provider account, which would
 * otherwise show to everyone in a room.
 */
export function newUserDisplayName(): string {
  let tag = '';
  for (let i = 0; i < 4; i++) tag += TAG_LETTERS[randomInt(TAG_LETTERS.length)];
  return `Aura user ${tag}`;
}

export interface NewUser {
  displayName: string;
  timeZone?: string;
}

/** Users and their wallets: a user never exists without one. */
export interface UserProfile {
  id: string;
  displayName: string;
  timeZone: string;
  avatarUrl: string | null;
  language: string | null;
  region: string | null;
  birthday: string | null;
  createdAt: string;
  signInMethods: { provider: string; display: string | null; linkedAt: string }[];
}

export interface UserDirectoryOptions {
  /**
   * Builds an uploaded avatar's public URL from its key (MEDIA_CDN_BASE_URL + '/' + key). The
   * profile's avatarUrl is that URL when an uploaded avatar is set, else the URL a social
   * sign-in brought (users.avatar_url); without this, only the latter.
   */
  mediaUrl?: (key: string) => string;
}

export class UserDirectory {
  private readonly ledger: Ledger;

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: UserDirectoryOptions = {},
  ) {
    this.ledger = new Ledger(dataSource);
  }

  /** The profile screen in one round trip: the user and their linked sign-in methods. */
  async profile(id: string): Promise<UserProfile | null> {
    const rows: (UserProfile & { avatarKey: string | null })[] = await this.dataSource.query(
      `SELECT u.id, u.display_name AS "displayName", u.time_zone AS "timeZone", u.avatar_url AS "avatarUrl", u.avatar_key AS "avatarKey",
              u.language, u.region, to_char(u.birthday, 'YYYY-MM-DD') AS birthday,
              to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt",
              COALESCE((SELECT json_agg(json_build_object(
                         'provider', i.provider, 'display', i.display,
                         'linkedAt', to_char(i.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
                         ORDER BY i.created_at)
                        FROM user_identities i WHERE i.user_id = u.id), '[]'::json) AS "signInMethods"
         FROM users u WHERE u.id = $1`,
      [id],
    );
    const row = rows[0];
    if (!row) return null;
    const { avatarKey, ...profile } = row;
    const { mediaUrl } = this.options;
    return { ...profile, avatarUrl: avatarKey !== null && mediaUrl ? mediaUrl(avatarKey) : profile.avatarUrl };
  }

  /** Display names of many users in one query (a ranking page); ids with no user are left out. */
  async displayNames(ids: readonly string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows: { id: string; name: string }[] = await this.dataSource.query(
      `SELECT id, display_name AS name FROM users WHERE id = ANY($1::uuid[])`,
      [[...new Set(ids)]],
    );
    return new Map(rows.map((r) => [r.id, r.name]));
  }

  async findById(id: string): Promise<User | null> {
    return this.dataSource.getRepository(User).findOneBy({ id });
  }

  async create(input: NewUser & { id?: string }): Promise<User> {
    return this.dataSource.transaction(async (tx) => {
      const user = tx.getRepository(User).create({
        ...(input.id ? { id: input.id } : {}),
        displayName: input.displayName,
        timeZone: input.timeZone ?? 'UTC',
      });
      await tx.getRepository(User).save(user);
      await this.ledger.openWallet(user.id, tx);
      return user;
    });
  }
}
