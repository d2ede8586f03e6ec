import type { AccountBans, BanRecord } from '../../db/repositories/account-bans';
import { AppError, ErrorCode } from '../../domain/errors';
import { canonicalText } from '../../domain/input/text';
import { canonicalBanSubject, type BanKind, type BanList } from '../../platform/auth/ban-list';
import type { Logger } from '../../platform/logging';

export interface NewAccountBan {
  kind: BanKind;
  /** A user id, an IP address or a device id (`X-Device-Id`). */
  subject: string;
  reason: string;
  /** Who decided: an operator's name, or a staff user's id. */
  by: string;
  /** Until when; absent or null for good. */
  expiresAt?: Date | null;
}

export interface BanServiceDeps {
  records: AccountBans;
  bans: BanList;
  /** Signs a banned account out everywhere (its sockets close). */
  sessions: { revokeAll(userId: string, reason: string): Promise<number> };
  logger: Logger;
  clock?: () => number;
}

/** A subject's canonical spelling (see canonicalBanSubject), or a 400 naming what it should be. */
export function banSubject(kind: BanKind, value: string): string {
  const subject = canonicalBanSubject(kind, value);
  if (subject !== null) return subject;
  if (kind === 'user') throw new AppError(ErrorCode.ValidationFailed, 'a user ban names a user id (UUID)');
  if (kind === 'ip') throw new AppError(ErrorCode.ValidationFailed, 'an IP ban names an IPv4 or IPv6 address');
  throw new AppError(ErrorCode.ValidationFailed, 'a device id is 1-128 letters, digits, dots, colons, dashes or underscores');
}

/**
 * Account, IP and device bans: recorded in PostgreSQL first, then copied to Redis and announced
 * to every process's in-memory copy. A user ban also signs the account out everywhere. Used by
 * scripts/ban.ts (support tooling) and whatever admin surface comes next.
 */
export class BanService {
  constructor(private readonly deps: BanServiceDeps) {}

  async ban(input: NewAccountBan): Promise<BanRecord> {
    const subject = banSubject(input.kind, input.subject);
    const reason = this.text(input.reason, 'reason', 200);
    const by = this.text(input.by, 'by', 128);
    const now = (this.deps.clock ?? Date.now)();
    if (input.expiresAt && input.expiresAt.getTime() <= now) throw new AppError(ErrorCode.ValidationFailed, 'a ban must end in the future');
    const record = await this.deps.records.record({ kind: input.kind, subject, reason, createdBy: by, expiresAt: input.expiresAt ?? null });
    await this.copy(() => this.deps.bans.ban(input.kind, subject, reason, undefined, { id: record.id, expiresAt: record.expiresAt?.getTime() ?? null }));
    if (input.kind === 'user') await this.deps.sessions.revokeAll(subject, 'banned');
    return record;
  }

  /** Lifts the ban in force on a subject; false if there was none. A lifted user may sign in again. */
  async lift(input: { kind: BanKind; subject: string; by: string }): Promise<boolean> {
    const subject = banSubject(input.kind, input.subject);
    const lifted = await this.deps.records.lift(input.kind, subject, this.text(input.by, 'by', 128));
    // Lift the copy even with no record in force: it clears a copy left without one.
    await this.copy(() => this.deps.bans.lift(input.kind, subject));
    return lifted;
  }

  /**
   * The record is committed; the copies follow. Every process's in-memory copy reads the record
   * within a second anyway, so a failed copy only leaves Redis behind: it is told to rebuild
   * from PostgreSQL, and if even that fails the caller hears that the change is recorded but
   * not yet everywhere (running it again is safe).
   */
  private async copy(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      this.deps.logger.error({ err }, 'a ban was recorded but its Redis copy failed; asking Redis to rebuild it');
      try {
        await this.deps.bans.invalidate();
      } catch {
        throw new AppError(ErrorCode.DependencyUnavailable, 'the ban is recorded but Redis could not be updated; run it again', { recorded: true });
      }
    }
  }

  private text(value: string, field: string, max: number): string {
    const checked = canonicalText(value.trim());
    if (!checked.ok || checked.value.length === 0 || checked.value.length > max) {
      throw new AppError(ErrorCode.ValidationFailed, `${field}: 1-${max} characters of plain text`);
    }
    return checked.value;
  }
}
