import type { StaffMembers } from '../../db/repositories/gift-fraud';
import { AppError, ErrorCode } from '../../domain/errors';
import { MicroCache } from '../../platform/cache/micro-cache';

/**
 * Who may use the staff routes: a row in `staff_members`. Each process keeps an answer for
 * `ttlMs` (a few seconds), so a revocation takes at most that long to reach every process and
 * a busy reviewer costs one PostgreSQL read per few seconds, not one per request.
 */
export class StaffAccess {
  private readonly cache: MicroCache<string | null>;

  constructor(
    private readonly members: StaffMembers,
    ttlMs = 5_000,
  ) {
    this.cache = new MicroCache(ttlMs, 1_000);
  }

  /** The caller's staff role; 403 STAFF_REQUIRED for everyone else. */
  async require(userId: string): Promise<string> {
    const role = await this.cache.get(userId, () => this.members.roleOf(userId));
    if (!role) throw new AppError(ErrorCode.StaffRequired, 'this is for support staff');
    return role;
  }
}
