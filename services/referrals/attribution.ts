import { randomInt } from 'node:crypto';
import type { ReferralRecords } from '../../db/repositories/referrals';
import { publicReason, type AttributionResult, type AttributionVia } from '../../domain/referrals/attribution';
import { inviteLink, newInviteCode, normalizeInviteCode } from '../../domain/referrals/codes';
import { AppError, ErrorCode } from '../../domain/errors';
import type { Logger } from '../../platform/logging';
import type { ReferralFlows } from './flow-client';

export interface ReferralSettings {
  /** `https://<linkBase>/i/<code>`. */
  linkBase: string;
  windowMs: number;
  /** How long after sign-up a code may still arrive (the store's install referrer). */
  lateAttributionMs: number;
  networkWindowMs: number;
}

/** Where the sign-up came from: the session's device and the client address. */
export interface SignUpOrigin {
  deviceId?: string;
  ip?: string;
}

/**
 * Invite codes and attribution. A sign-in with a code never fails because of it: the code's
 * fate is answered beside the tokens. An attribution starts the referee's flow once; a start
 * that fails leaves the record, and the referee's next nudge starts it (see ReferralNudges).
 */
export class ReferralAttribution {
  constructor(
    private readonly deps: {
      records: ReferralRecords;
      flows: ReferralFlows;
      settings: ReferralSettings;
      logger?: Pick<Logger, 'warn'>;
      /** Told of each new referee (the nudges' cache). */
      onAttributed?: (refereeId: string) => void;
    },
  ) {}

  async myReferral(userId: string): Promise<{ code: string; link: string }> {
    const code = await this.deps.records.inviteCodeOf(userId, () => newInviteCode(randomInt));
    return { code, link: inviteLink(this.deps.settings.linkBase, code) };
  }

  /** At sign-in (phone or social) with a code: never throws; `unavailable` when PostgreSQL or Temporal failed. */
  async atSignUp(user: { id: string; isNew: boolean }, typedCode: string, origin: SignUpOrigin): Promise<AttributionResult> {
    try {
      return await this.attribute(user.id, typedCode, 'sign-up', { signedUpNow: user.isNew }, origin);
    } catch (err) {
      this.deps.logger?.warn({ err, userId: user.id }, 'referral attribution failed at sign-in; the app may send the code again');
      return { status: 'unavailable' };
    }
  }

  /** Later (the install referrer arrived after sign-up): within the late window; a refusal is 422 REFERRAL_REFUSED. */
  async later(userId: string, typedCode: string, origin: SignUpOrigin): Promise<AttributionResult & { status: 'attributed' }> {
    const result = await this.attribute(userId, typedCode, 'later', { lateWindowMs: this.deps.settings.lateAttributionMs }, origin);
    if (result.status === 'refused') throw new AppError(ErrorCode.ReferralRefused, 'the invite code was not accepted', { reason: result.reason });
    if (result.status !== 'attributed') throw new AppError(ErrorCode.DependencyUnavailable, 'try again');
    return result;
  }

  private async attribute(
    refereeId: string,
    typedCode: string,
    via: AttributionVia,
    newUser: { signedUpNow: boolean } | { lateWindowMs: number },
    origin: SignUpOrigin,
  ): Promise<AttributionResult> {
    const { settings } = this.deps;
    const outcome = await this.deps.records.attribute({
      refereeId,
      code: normalizeInviteCode(typedCode),
      via,
      newUser,
      deviceId: origin.deviceId,
      ip: origin.ip,
      windowMs: settings.windowMs,
      networkWindowMs: settings.networkWindowMs,
    });
    if (!outcome.ok) return { status: 'refused', reason: publicReason(outcome.reason) };
    this.deps.onAttributed?.(refereeId);
    try {
      await this.deps.flows.start({ refereeId, referrerId: outcome.referrerId, windowEndsAt: outcome.windowEndsAt });
      await this.deps.records.markFlowStarted(refereeId);
    } catch (err) {
      // The attribution stands; the referee's next sign-in, claim or recharge starts the flow.
      this.deps.logger?.warn({ err, refereeId }, 'the referral flow did not start; the next nudge starts it');
    }
    return { status: 'attributed', referrerId: outcome.referrerId };
  }
}
