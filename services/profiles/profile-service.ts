import type { FollowCard, PublicProfile, PublicProfiles } from '../../db/repositories/profiles';
import type { Page } from '../../db/repositories/pagination';
import { AppError, ErrorCode } from '../../domain/errors';

/**
 * Other users' profiles and their follow lists. A user hidden from the viewer (either blocked
 * the other) answers exactly as a user that doesn't exist: USER_NOT_FOUND, same message.
 */
export class ProfileService {
  constructor(private readonly profiles: PublicProfiles) {}

  async view(viewerId: string, userId: string): Promise<PublicProfile> {
    const profile = await this.profiles.profile(viewerId, userId);
    if (!profile) throw notFound();
    return profile;
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
