import type { FollowCard, PublicProfile, PublicProfiles } from '../../db/repositories/profiles';
import { localizedName, preferredLanguage } from '../../domain/economy/catalog';
import type { Page } from '../../db/repositories/pagination';
import { AppError, ErrorCode } from '../../domain/errors';

/**
 * Other users' profiles and their follow lists. A user hidden from the viewer (either blocked
 * the other) answers exactly as a user that doesn't exist: USER_NOT_FOUND, same message.
 */
/** A displayed medal as the viewer reads it: its name in the viewer's language. */
export interface ProfileMedal {
  id: string;
  slot: number;
  category: string;
  name: string;
  iconKey: string;
}

export type ProfileView = Omit<PublicProfile, 'medals'> & { medals: ProfileMedal[] };

export class ProfileService {
  constructor(private readonly profiles: PublicProfiles) {}

  /** `acceptLanguage`: the viewer's Accept-Language, for medal names (as GET /v1/medals reads it). */
  async view(viewerId: string, userId: string, acceptLanguage?: string): Promise<ProfileView> {
    const profile = await this.profiles.profile(viewerId, userId);
    if (!profile) throw notFound();
    return {
      ...profile,
      medals: profile.medals.map(({ names, ...medal }) => ({
        id: medal.id,
        slot: medal.slot,
        category: medal.category,
        name: localizedName(names, preferredLanguage(acceptLanguage, new Set(Object.keys(names)))),
        iconKey: medal.iconKey,
      })),
    };
  }

  async followers(viewerId: string, userId: string, page: { cursor?: string; limit: number }): Promise<Page<FollowCard>> {
    await this.requireVisible(viewerId, userId);
    return this.profiles.followers(viewerId, userId, page);
  }

  async following(viewerId: string, userId: string, page: { cursor?: string; limit: number }): Promise<Page<FollowCard>> {
    await this.requireVisible(viewerId, userId);
    return this.profiles.following(viewerId, userId, page);
  }

  private async requireVisible(viewerId: string, userId: string): Promise<void> {
    if (!(await this.profiles.isVisible(viewerId, userId))) throw notFound();
  }
}

function notFound(): AppError {
  return new AppError(ErrorCode.UserNotFound, 'no such user');
}
