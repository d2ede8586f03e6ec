import type { CpRecords } from '../../db/repositories/cp';
import { ErrorCode } from '../../domain/errors';
import type { Logger } from '../../platform/logging';
import type { CpIntimacy } from './cp-intimacy';
import type { CpProposalFlows } from './proposal-flows';

/** Proposals younger than this are left to the API, which starts their flow after the commit. */
const START_GRACE_MS = 30_000;
/** How far back the intimacy repair looks for gifts no listener counted. */
const REPAIR_WINDOW_MS = 2 * 86_400_000;
const BATCH = 100;

/**
 * The CP repair pass, run by the worker every CP_SWEEP_SECONDS. It fixes what a process dying
 * after a commit leaves behind, each step idempotent:
 *  - a proposal committed whose flow never started: start it (its timer counts from the
 *    proposal's own expiry, so a late start expires it on time or at once);
 *  - a pending proposal one of whose parties was paired elsewhere (the cancel signal was lost):
 *    signal it again, and its flow refunds;
 *  - gifts between partners the after-commit listener did not count: count them.
 */
export class CpSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly deps: { records: CpRecords; flows: CpProposalFlows; intimacy: CpIntimacy; logger?: Pick<Logger, 'warn' | 'info'>; clock?: () => number },
  ) {}

  async sweep(): Promise<{ started: number; cancelled: number; counted: number }> {
    const now = (this.deps.clock ?? Date.now)();
    let started = 0;
    for (const p of await this.deps.records.unstarted(new Date(now - START_GRACE_MS), BATCH)) {
      await this.deps.flows.start(p);
      await this.deps.records.markFlowStarted(p.id);
      started += 1;
    }
    let cancelled = 0;
    for (const id of await this.deps.records.doomed(BATCH)) {
      if (await this.deps.flows.cancel(id, ErrorCode.PartnerTaken)) cancelled += 1;
    }
    const counted = await this.deps.intimacy.repair(new Date(now - REPAIR_WINDOW_MS));
    if (started || cancelled || counted) this.deps.logger?.info({ started, cancelled, counted }, 'CP sweep repaired what a crash left');
    return { started, cancelled, counted };
  }

  start(everyMs: number): void {
    if (everyMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.sweep()
        .catch((err: unknown) => this.deps.logger?.warn({ err }, 'the CP sweep failed; it runs again'))
        .finally(() => (this.running = null));
    }, everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
