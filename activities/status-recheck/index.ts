import type { DataSource } from 'typeorm';
import { AppError, ErrorCode } from '../../domain/errors';
import type { UserEventPublisher } from '../../platform/events/publisher';
import type { Logger } from '../../platform/logging';
import { LevelAnnouncer } from '../../services/levels/level-announcer';
import { MedalService } from '../../services/medals/medal-service';
import { InboxNotifier, type Notifier } from '../../services/notifications/notifier';
import type { ProgressEvents } from '../../services/progress';
import { asActivity } from '../failures';

export interface RecheckStatusInput {
  /** ISO instants: users active in [since, asOf] are evaluated. */
  since: string;
  asOf: string;
  maxUsers: number;
}

export interface RecheckStatusResult {
  asOf: string;
  levelUpsAnnounced: number;
  usersChecked: number;
  medalsAwarded: number;
  medalsAnnounced: number;
}

export interface StatusRecheckActivityDeps {
  dataSource: DataSource;
  events: UserEventPublisher;
  /** Default: the inbox + socket event. */
  notifier?: Notifier;
  progress?: ProgressEvents;
  /** Where a failure for one user is logged (the run goes on). */
  statusLogger?: Pick<Logger, 'warn'>;
}

export type StatusRecheckActivities = ReturnType<typeof createStatusRecheckActivities>;

/** A level-up younger than this is left to the process that is announcing it right now. */
const LIVE_PATH_GRACE_MS = 60_000;

export function createStatusRecheckActivities({ dataSource, events, notifier, progress, statusLogger }: StatusRecheckActivityDeps) {
  const tell = notifier ?? new InboxNotifier(dataSource, events);
  const levels = new LevelAnnouncer({ dataSource, notifier: tell, events, progress, logger: statusLogger });
  // Display slots do not matter here (nothing is displayed); awards and rewards do.
  const medals = new MedalService({ dataSource, notifier: tell, settings: { displaySlots: 3 }, logger: statusLogger });

  return {
    /**
     * The repair path of levels and medals, run by the status-recheck Schedule: announces
     * level-ups nobody announced (the process died after the commit), then evaluates the medals
     * of every user active in the window (a lost progress event still awards) and re-sends
     * medal notifications that were not sent. Every step is idempotent, so a retry or an
     * overlapping run changes nothing twice.
     */
    async recheckStatus(input: RecheckStatusInput): Promise<RecheckStatusResult> {
      return asActivity(async () => {
        const since = new Date(input.since);
        const asOf = new Date(input.asOf);
        if (Number.isNaN(since.getTime()) || Number.isNaN(asOf.getTime()) || since >= asOf || !(input.maxUsers >= 1)) {
          throw new AppError(ErrorCode.ValidationFailed, 'a re-check needs since < asOf and maxUsers >= 1');
        }
        const levelUpsAnnounced = await levels.announcePending(new Date(asOf.getTime() - LIVE_PATH_GRACE_MS), 1_000);
        const recheck = await medals.recheck({ since, asOf, maxUsers: input.maxUsers });
        return { asOf: asOf.toISOString(), levelUpsAnnounced, ...recheck };
      });
    },
  };
}
