/**
 * One room's event feed on one edge process. Redis publishes each room event once; the feed
 * forwards it to every socket attached here, in sequence order, with no gaps.
 *
 * A socket attaches at the last sequence number it has (from a snapshot or a resume):
 * - behind the feed: the feed sends it the difference from its ring of recent events (or
 *   from the room's stream), then subscribes it;
 * - level with the feed: subscribed at once;
 * - ahead of the feed (its snapshot saw events still in flight to this edge): parked until
 *   the feed reaches that number.
 * JavaScript runs each step to completion, so nothing slips in between a catch-up and the
 * subscription.
 */

/** How the feed reaches sockets; uWebSockets.js in production, `ws` in the benchmark baseline. */
export interface FeedTransport<S> {
  /** Sends to every socket subscribed to the topic. */
  publish(topic: string, message: string): void;
  subscribe(socket: S, topic: string): void;
  unsubscribe(socket: S, topic: string): void;
  send(socket: S, message: string): void;
  isOpen(socket: S): boolean;
  /** The socket can't be brought up to date here: it must reconnect and resume. */
  resync(socket: S, reason: string): void;
}

/** Reads events from the room's stream (see RoomLiveState.readEvents). */
export type ReadEvents = (roomId: string, afterSeq: number, epoch: string) => Promise<{ recovered: boolean; seq: number; events: string[] }>;

/** The sequence number of an event, read from its envelope (`{"seq":N,...`) without parsing it. */
export function seqOf(event: string): number {
  return Number(event.slice(7, event.indexOf(',', 7)));
}

/** The event type, read from the envelope (`…,"type":"x",…`). */
export function typeOf(event: string): string {
  const start = event.indexOf('"type":"') + 8;
  return event.slice(start, event.indexOf('"', start));
}

/** Waits before retrying a repair Redis could not answer: soon (a restart takes a moment), then every 2 s. */
const REPAIR_RETRY_MS = [100, 250, 500, 1_000, 2_000];

export class RoomFeed<S> {
  /** The last sequence number published to this feed's sockets; null until the first attach. */
  private seq: number | null = null;
  private epoch: string | null = null;
  private readonly ring: (string | undefined)[];
  /** Events that arrive while the feed has no baseline yet, or while it repairs a gap. */
  private backlog: string[] = [];
  private repairing = false;
  private readonly parked = new Map<S, number>();
  private readonly attached = new Set<S>();
  /** Sockets let into the room and on their way to being attached (snapshot or stream read pending). */
  private readonly joining = new Set<S>();
  private readonly maxCatchUpBytes: number;
  private readonly isTransient: (err: unknown) => boolean;
  private readonly repairRetryMs: readonly number[];
  /** Failed repair attempts in a row (Redis unreachable), for the backoff. */
  private repairFailures = 0;
  /** Bumped by every reset, so a read started before it can't apply to the new baseline. */
  private generation = 0;

  constructor(
    readonly roomId: string,
    readonly topic: string,
    private readonly transport: FeedTransport<S>,
    private readonly readEvents: ReadEvents,
    private readonly onError: (err: unknown) => void,
    /** Called after an event went out, for events the edge itself must act on. */
    private readonly onEvent: (event: string, type: string) => void = () => undefined,
    options: {
      ringSize?: number;
      maxCatchUpBytes?: number;
      /** A read that failed because Redis was briefly unreachable: retried, not a reason to resync everyone. */
      isTransient?: (err: unknown) => boolean;
      /** Waits before each retry of a failed repair; the last one repeats. */
      repairRetryMs?: readonly number[];
    } = {},
  ) {
    this.ring = new Array<string | undefined>(options.ringSize ?? 4096);
    this.maxCatchUpBytes = options.maxCatchUpBytes ?? Infinity;
    this.isTransient = options.isTransient ?? (() => false);
    this.repairRetryMs = options.repairRetryMs ?? REPAIR_RETRY_MS;
  }

  get size(): number {
    return this.attached.size + this.parked.size + this.joining.size;
  }

  sockets(): S[] {
    return [...new Set([...this.attached, ...this.parked.keys(), ...this.joining])];
  }

  /** Counts a socket in the room from the moment it is let in, before its snapshot is read. */
  reserve(socket: S): void {
    this.joining.add(socket);
  }

  /** Checks the room's stream for events this feed may have missed (after a pub/sub reconnect). */
  catchUp(): void {
    if (this.seq !== null) this.repair();
  }

  /** An event from Redis pub/sub. */
  receive(event: string): void {
    if (this.seq === null || this.repairing) {
      // Bounded: past the ring's size the oldest go, and the gap is read from the stream later.
      if (this.backlog.push(event) > this.ring.length) this.backlog.shift();
      return;
    }
    this.apply(event);
  }

  private apply(event: string): void {
    const seq = seqOf(event);
    const current = this.seq!;
    if (seq <= current) {
      // Already delivered (a repair overlapped pub/sub) -- unless it is a different event under a
      // number already used: Redis lost its latest writes and numbers again. Everyone resumes.
      const known = this.ring[seq % this.ring.length];
      if (known !== undefined && seqOf(known) === seq && known !== event) this.reset('room state was rebuilt');
      return;
    }
    if (seq > current + 1) {
      // Pub/sub lost messages (a Redis reconnect): fetch the gap from the stream.
      this.backlog.push(event);
      this.repair();
      return;
    }
    this.transport.publish(this.topic, event);
    this.ring[seq % this.ring.length] = event;
    this.seq = seq;
    if (this.parked.size) this.releaseParked();
    this.onEvent(event, typeOf(event));
  }

  private releaseParked(): void {
    for (const [socket, at] of this.parked) {
      if (at <= this.seq!) {
        this.parked.delete(socket);
        this.subscribe(socket);
      }
    }
  }

  private subscribe(socket: S): void {
    if (!this.transport.isOpen(socket)) return;
    this.transport.subscribe(socket, this.topic);
    this.attached.add(socket);
  }

  private repair(): void {
    if (this.repairing) return;
    this.repairing = true;
    this.readGap();
  }

  /**
   * Reads what the feed missed. Redis being unreachable is no reason to drop anyone: after a
   * Redis restart the subscriber is often back before the command connection, so the first
   * read fails; it is tried again (with a backoff) while the feed has sockets, events that
   * arrive meanwhile wait in the backlog, and the sockets stay attached. Only a stream that
   * no longer has the events (or another kind of failure) makes everyone resume.
   */
  private readGap(): void {
    const generation = this.generation;
    this.readEvents(this.roomId, this.seq!, this.epoch!).then(
      ({ recovered, events }) => {
        if (generation !== this.generation) return; // reset meanwhile: this read is for the old baseline
        this.repairing = false;
        this.repairFailures = 0;
        if (!recovered) {
          this.reset('feed lost events');
          return;
        }
        const backlog = this.backlog;
        this.backlog = [];
        for (const event of events) this.apply(event);
        for (const event of backlog) this.receive(event);
      },
      (err: unknown) => {
        if (generation !== this.generation) return;
        if (this.isTransient(err) && this.size > 0) {
          const wait = this.repairRetryMs[Math.min(this.repairFailures, this.repairRetryMs.length - 1)]!;
          this.repairFailures += 1;
          setTimeout(() => {
            if (generation === this.generation) this.retryRepair();
          }, wait).unref();
          return;
        }
        this.repairing = false;
        this.repairFailures = 0;
        this.onError(err);
        this.reset('feed repair failed');
      },
    );
  }

  private retryRepair(): void {
    if (this.size > 0) {
      this.readGap();
      return;
    }
    // Everyone left while waiting: the next attach sets a new baseline.
    this.reset('no sockets left');
  }

  /**
   * Every socket here must resume; the next attach sets a new baseline. `keep` (a socket that
   * brings the new baseline) stays counted throughout, so the feed is never idle meanwhile.
   */
  private reset(reason: string, keep?: S): void {
    const sockets = this.sockets().filter((socket) => socket !== keep);
    this.attached.clear();
    this.parked.clear();
    this.joining.clear();
    if (keep !== undefined) this.joining.add(keep);
    this.seq = null;
    this.epoch = null;
    this.backlog = [];
    this.repairing = false;
    this.repairFailures = 0;
    this.generation += 1;
    for (const socket of sockets) this.transport.resync(socket, reason);
  }

  /**
   * Brings a socket that has everything up to `delivered` (of room epoch `epoch`) into the
   * live feed. Resolves once it is subscribed or parked.
   */
  async attach(socket: S, delivered: number, epoch: string): Promise<void> {
    this.joining.add(socket);
    try {
      await this.attachOnce(socket, delivered, epoch);
    } finally {
      this.joining.delete(socket); // attached, parked, or gone
    }
  }

  private async attachOnce(socket: S, delivered: number, epoch: string): Promise<void> {
    if (!this.transport.isOpen(socket)) return;
    if (this.epoch !== null && this.epoch !== epoch) {
      // The room's state was rebuilt: this socket has the new numbering, the others resume.
      this.reset('room state was rebuilt', socket);
    }
    if (this.seq === null) {
      this.seq = delivered;
      this.epoch = epoch;
      this.subscribe(socket);
      const backlog = this.backlog;
      this.backlog = [];
      for (const event of backlog) this.receive(event);
      return;
    }
    if (delivered > this.seq) {
      this.park(socket, delivered);
      return;
    }
    const missing = this.fromRing(delivered);
    if (missing) {
      if (!this.sendable(missing)) return this.transport.resync(socket, 'too far behind');
      for (const event of missing) this.transport.send(socket, event);
      this.subscribe(socket);
      return;
    }
    // Too far behind the ring: read the stream, then attach again from where that ends.
    const read = await this.readEvents(this.roomId, delivered, epoch);
    if (!this.transport.isOpen(socket) || !this.joining.has(socket)) return;
    if (!read.recovered || !this.sendable(read.events)) {
      this.transport.resync(socket, 'too far behind');
      return;
    }
    for (const event of read.events) this.transport.send(socket, event);
    return this.attachOnce(socket, read.seq, epoch);
  }

  /** A catch-up larger than this would overrun the socket's buffer: a fresh snapshot is cheaper. */
  private sendable(events: string[]): boolean {
    let bytes = 0;
    for (const event of events) bytes += event.length;
    return bytes <= this.maxCatchUpBytes;
  }

  /**
   * Waits for the feed to reach what the socket already has. Should pub/sub have lost those
   * events (a reconnect), the feed reads them from the stream after a short wait.
   */
  private park(socket: S, at: number): void {
    this.parked.set(socket, at);
    setTimeout(() => {
      if (this.parked.get(socket) === at && (this.seq === null || this.seq < at)) this.catchUp();
    }, 2_000).unref();
  }

  /** Events after `from` up to the feed's position, if the ring still has all of them. */
  private fromRing(from: number): string[] | null {
    const to = this.seq!;
    if (to - from >= this.ring.length) return null;
    const out: string[] = [];
    for (let seq = from + 1; seq <= to; seq++) {
      const event = this.ring[seq % this.ring.length];
      if (!event || seqOf(event) !== seq) return null;
      out.push(event);
    }
    return out;
  }

  detach(socket: S): void {
    this.joining.delete(socket);
    this.parked.delete(socket);
    if (this.attached.delete(socket) && this.transport.isOpen(socket)) this.transport.unsubscribe(socket, this.topic);
  }
}
