import type { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import { LiveStateRefusal, type RoomLiveState, type RoomSnapshot } from '../../db/live/room-live-state';
import { sameGrant } from '../../domain/media/grants';
import type { MediaServer } from '../../platform/media/livekit';
import type { Logger } from '../../platform/logging';
import type { MediaAccess } from './media-access';
import { mediaConnectionId, parseMediaConnectionId } from './media-connections';

export interface SeatBinderSettings {
  /** How often every media room is compared with its seat grid. */
  reconcileMs: number;
  /** Connection leases' lifetime (ROOM_CONNECTION_LEASE_SECONDS): media connections are renewed well inside it. */
  leaseMs: number;
}

export interface ReconcileReport {
  rooms: number;
  participants: number;
  /** Permissions corrected on the media server. */
  permissions: number;
  /** Participants removed (not members), and rooms closed (closed in Aura). */
  removed: number;
  closedRooms: number;
  /** Media connections counted again in the live state (a missed participant_joined, or a swept lease). */
  reconnected: number;
  failures: number;
}

interface RoomEvent {
  type: string;
  room: string;
  data: { userId?: string; seats?: { userId: string | null }[] };
}

/** The binder's counters; results: updated, absent (nobody on the media server), failed. */
export function createSeatBinderMetrics(registry?: Registry) {
  const registers = registry ? [registry] : [];
  return {
    permissionUpdates: new Counter({
      name: 'aura_media_permission_updates_total',
      help: 'Participant permission updates sent to the media server, by result',
      labelNames: ['result', 'trigger'] as const,
      registers,
    }),
    removals: new Counter({
      name: 'aura_media_participant_removals_total',
      help: 'Participants removed from the media server, by result',
      labelNames: ['result', 'trigger'] as const,
      registers,
    }),
    reconcileRepairs: new Counter({
      name: 'aura_media_reconcile_repairs_total',
      help: 'Drift found and repaired by the reconcile loop, by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
  };
}
export type SeatBinderMetrics = ReturnType<typeof createSeatBinderMetrics>;

export type GrantTrigger = 'event' | 'reconcile' | 'webhook';

/** Sets a user's media permissions from the seat grid; a failure is logged and counted (the reconcile loop repairs it). */
export async function applyGrant(
  deps: { access: MediaAccess; metrics: SeatBinderMetrics; logger: Logger },
  roomId: string,
  userId: string,
  snapshot: Pick<RoomSnapshot, 'room' | 'seats'>,
  trigger: GrantTrigger,
): Promise<void> {
  const { grant } = deps.access.permissionsFor(snapshot, userId);
  try {
    const result = await deps.access.media.setPermissions(roomId, userId, grant);
    deps.metrics.permissionUpdates.inc({ result, trigger });
  } catch (err) {
    deps.metrics.permissionUpdates.inc({ result: 'failed', trigger });
    deps.logger.warn({ err, roomId, userId, trigger }, 'could not update a participant permission on the media server');
  }
}

/**
 * Makes the media server follow the seat grid, whatever changed it (a seat taken, left or
 * moved, a lock, a moderator's mute, a removal, a kick or ban, leaving, the ghost-seat sweep, a
 * room closing): it listens to every room's events (one pattern subscription) and, room by
 * room in order, re-reads the live seat grid and applies what it implies: permissions updated
 * (revoking a source makes LiveKit unpublish those tracks at once), participants removed, rooms
 * closed. Decisions are always taken from a fresh read, never from the event alone, so a late
 * or repeated event applies the current state, and several binders (one per worker) agree.
 *
 * A periodic reconcile repairs what an event could not: a missed message (pub/sub drops what is
 * published while the subscriber reconnects), a failed call to the media server, a participant
 * who is not a member. It also renews the leases of media connections (see media-presence.ts).
 */
export class SeatBinder {
  private readonly queues = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private reconciling: Promise<ReconcileReport> | null = null;
  private stopped = false;

  constructor(
    private readonly deps: {
      access: MediaAccess;
      live: RoomLiveState;
      /** A connection of its own: it is put in subscriber mode. */
      subscriber: Redis;
      logger: Logger;
      metrics: SeatBinderMetrics;
    },
    private readonly settings: SeatBinderSettings,
  ) {}

  private get media(): MediaServer {
    return this.deps.access.media;
  }

  /** Subscribes to every room's events and starts the reconcile loop. */
  async start(): Promise<void> {
    this.deps.subscriber.on('pmessage', (_pattern: string, _channel: string, message: string) => this.onMessage(message));
    // Anything published while the subscription was down is caught by the next reconcile; run one now.
    this.deps.subscriber.on('ready', () => void this.reconcileSoon());
    await this.deps.subscriber.psubscribe('aura:room:*');
    // Leases of media connections must be renewed well inside their lifetime.
    const every = Math.max(250, Math.min(this.settings.reconcileMs, Math.floor(this.settings.leaseMs / 3)));
    this.timer = setInterval(() => void this.reconcileSoon(), every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.deps.subscriber.punsubscribe().catch(() => undefined);
    this.deps.subscriber.disconnect();
    await this.idle();
    await this.reconciling?.catch(() => undefined);
  }

  /** Resolves once every event received so far has been applied (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()]);
  }

  /** One event from a room's channel. Only seat, member and room-closing events matter here. */
  onMessage(message: string): void {
    // The envelope's type is near its start: skip chat and the rest without parsing them.
    const head = message.slice(0, 120);
    if (!head.includes('"type":"seat.updated"') && !head.includes('"type":"member.left"') && !head.includes('"type":"room.closed"')) return;
    let event: RoomEvent;
    try {
      event = JSON.parse(message) as RoomEvent;
    } catch {
      return;
    }
    this.inOrder(event.room, () => this.apply(event));
  }

  private inOrder(roomId: string, task: () => Promise<void>): void {
    const previous = this.queues.get(roomId) ?? Promise.resolve();
    const next = previous
      .then(task)
      .catch((err: unknown) => this.deps.logger.warn({ err, roomId }, 'seat binder could not apply a room event; the reconcile loop will'))
      .finally(() => {
        if (this.queues.get(roomId) === next) this.queues.delete(roomId);
      });
    this.queues.set(roomId, next);
  }

  private async apply(event: RoomEvent): Promise<void> {
    const roomId = event.room;
    if (event.type === 'room.closed') {
      await this.media.closeRoom(roomId);
      return;
    }
    if (event.type === 'member.left') {
      if (event.data.userId) await this.remove(roomId, event.data.userId, 'event');
      return;
    }
    // seat.updated: the subject and everyone on the seats it names.
    const users = new Set<string>();
    if (event.data.userId) users.add(event.data.userId);
    for (const seat of event.data.seats ?? []) if (seat.userId) users.add(seat.userId);
    if (users.size === 0) return;
    const snapshot = await this.liveSnapshot(roomId);
    if (!snapshot || snapshot.status !== 'open') return; // room.closed follows (or already came)
    await Promise.all([...users].map((userId) => this.grant(roomId, userId, snapshot, 'event')));
  }

  /** Sets the user's permissions from the seat grid; failures are counted and left to the reconcile. */
  grant(roomId: string, userId: string, snapshot: Pick<RoomSnapshot, 'room' | 'seats'>, trigger: GrantTrigger): Promise<void> {
    return applyGrant(this.deps, roomId, userId, snapshot, trigger);
  }

  private async remove(roomId: string, userId: string, trigger: 'event' | 'reconcile'): Promise<void> {
    try {
      const result = await this.media.removeParticipant(roomId, userId);
      this.deps.metrics.removals.inc({ result, trigger });
    } catch (err) {
      this.deps.metrics.removals.inc({ result: 'failed', trigger });
      this.deps.logger.warn({ err, roomId, userId, trigger }, 'could not remove a participant from the media server');
    }
  }

  private async liveSnapshot(roomId: string, forUser?: string): Promise<RoomSnapshot | null> {
    try {
      return await this.deps.live.snapshot(roomId, forUser);
    } catch (err) {
      if (err instanceof LiveStateRefusal) return null; // not live (expired, or Redis lost it): nothing to decide from
      throw err;
    }
  }

  private reconcileSoon(): Promise<ReconcileReport | null> {
    if (this.stopped) return Promise.resolve(null);
    if (this.reconciling) return this.reconciling; // never two at once
    this.reconciling = this.reconcile()
      .catch((err: unknown) => {
        this.deps.logger.warn({ err }, 'media reconcile failed; next round retries');
        return null as unknown as ReconcileReport;
      })
      .finally(() => {
        this.reconciling = null;
      });
    return this.reconciling;
  }

  /**
   * One pass over every room open on the media server: each participant's permission compared
   * with the seat grid, non-members removed, rooms closed in Aura closed there, and the leases
   * of media connections renewed (or re-counted when swept). Each room runs in its event queue,
   * so a pass never interleaves with an event being applied.
   */
  async reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = { rooms: 0, participants: 0, permissions: 0, removed: 0, closedRooms: 0, reconnected: 0, failures: 0 };
    const rooms = await this.media.listRooms();
    for (const roomId of rooms) {
      report.rooms++;
      await new Promise<void>((resolve) => {
        this.inOrder(roomId, () => this.reconcileRoom(roomId, report).finally(resolve));
      });
    }
    return report;
  }

  private async reconcileRoom(roomId: string, report: ReconcileReport): Promise<void> {
    try {
      const participants = await this.media.listParticipants(roomId);
      const snapshot = await this.liveSnapshot(roomId);
      if (!snapshot) return; // not live in Redis: decide nothing (a rebuild brings members back)
      if (snapshot.status !== 'open') {
        await this.media.closeRoom(roomId);
        report.closedRooms++;
        this.deps.metrics.reconcileRepairs.inc({ kind: 'room-closed' });
        return;
      }
      const leases: string[] = [];
      const byLease = new Map<string, string>();
      for (const p of participants) {
        report.participants++;
        if (!(await this.deps.live.isMember(roomId, p.userId))) {
          await this.remove(roomId, p.userId, 'reconcile');
          report.removed++;
          this.deps.metrics.reconcileRepairs.inc({ kind: 'not-member' });
          continue;
        }
        const wanted = this.deps.access.permissionsFor(snapshot, p.userId).grant;
        if (!sameGrant(wanted, p.grant)) {
          await this.grant(roomId, p.userId, snapshot, 'reconcile');
          report.permissions++;
          this.deps.metrics.reconcileRepairs.inc({ kind: 'permission' });
        }
        const lease = `${roomId}|${p.userId}|${mediaConnectionId(p.sid)}`;
        leases.push(lease);
        byLease.set(lease, p.userId);
      }
      // Lost leases: the participant_joined webhook never came, or the lease ran out between
      // passes (this worker stalled). A member still connected to the media counts again.
      for (const lost of await this.deps.live.renewLeases(leases)) {
        const userId = byLease.get(lost)!;
        const sid = parseMediaConnectionId(lost.split('|')[2] ?? '');
        if (!sid) continue;
        try {
          await this.deps.live.join(roomId, userId, mediaConnectionId(sid), { memberOnly: true });
          report.reconnected++;
          this.deps.metrics.reconcileRepairs.inc({ kind: 'presence' });
        } catch (err) {
          if (!(err instanceof LiveStateRefusal)) throw err; // removed meanwhile: the next pass removes them from the media too
        }
      }
    } catch (err) {
      report.failures++;
      this.deps.logger.warn({ err, roomId }, 'could not reconcile a media room');
    }
  }
}
