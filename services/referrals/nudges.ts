import type { Redis } from 'ioredis';
import type { ReferralRecords, RefereeRecord } from '../../db/repositories/referrals';
import { MicroCache } from '../../platform/cache/micro-cache';
import type { Logger } from '../../platform/logging';
import type { ProgressEvent, ProgressListener } from '../progress';
import type { ReferralFlows } from './flow-client';

/** The events that can complete a milestone. */
const NUDGING = new Set<ProgressEvent['kind']>(['signed-in', 'daily-claimed', 'recharged']);

/**
 * Tells a referee's running flow that something happened (a sign-in, a claim, a recharge), so a
 * milestone pays within seconds instead of at the flow's next periodic check. Only for users who
 * are referees with an open flow: one primary-key read per user per `cacheMs` per process (most
 * users are no referee), and at most one signal per referee and event kind per `throttleSeconds`
 * across processes (Redis SET NX). Never starts a flow per request: the only start here repairs
 * an attribution whose own start failed. Idempotent; a lost nudge is repaired by the flow's own
 * periodic check.
 */
export class ReferralNudges implements ProgressListener {
  private readonly cache: MicroCache<RefereeRecord | null>;

  constructor(
    private readonly deps: {
      records: ReferralRecords;
      flows: ReferralFlows;
      redis: Redis;
      logger?: Pick<Logger, 'warn'>;
      cacheMs?: number;
      throttleSeconds?: number;
    },
  ) {
    this.cache = new MicroCache(deps.cacheMs ?? 60_000, 20_000);
  }

  /** A user just became a referee in this process: forget that they were not one. */
  forget(userId: string): void {
    this.cache.delete(userId);
  }

  async onProgress(event: ProgressEvent): Promise<void> {
    if (!NUDGING.has(event.kind)) return;
    const referee = await this.cache.get(event.userId, () => this.deps.records.referee(event.userId));
    if (!referee || referee.ended) return;
    const first = await this.deps.redis.set(`aura:referral:nudged:{${event.userId}}:${event.kind}`, '1', 'EX', this.deps.throttleSeconds ?? 600, 'NX');
    if (first !== 'OK') return;
    const sent = await this.deps.flows.nudge(event.userId, event.kind);
    if (sent === 'gone' && !referee.flowStarted) {
      await this.deps.flows.start(referee);
      await this.deps.records.markFlowStarted(referee.refereeId);
      this.cache.delete(event.userId);
    } else if (sent === 'gone') {
      this.cache.delete(event.userId); // ended meanwhile: the next read sees it
    }
  }
}
