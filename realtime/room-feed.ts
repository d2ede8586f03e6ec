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

  constructor(
    readonly roomId: string,
    readonly topic: string,
    private readonly transport: FeedTransport<S>,
    private readonly readEvents: ReadEvents,
    private readonly onError: (err: unknown) => void,
    /** Called after an event went out, for events the edge itself must act on. */
    private readonly onEvent: (event: string, type: string) => void = () => undefined,
    ringSize = 4096,
  ) {
    this.ring = new Array<string | undefined>(ringSize);
  }

  get size(): number {
    return this.attached.size + this.parked.size;
  }

  sockets(): S[] {
    return [...this.attached, ...this.parked.keys()];
  }

  /** An event from Redis pub/sub. */
  receive(event: string): void {
    if (this.seq === null || this.repairing) {
      this.backlog.push(event);
      return;
    }
    this.apply(event);
  }

  private apply(event: string): void {
    const seq = seqOf(event);
    const current = this.seq!;
    if (seq <= current) return; // already delivered (a repair overlapped pub/sub)
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
    this.readEvents(this.roomId, this.seq!, this.epoch!).then(
      ({ recovered, events }) => {
        this.repairing = false;
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
        this.repairing = false;
        this.onError(err);
        this.reset('feed repair failed');
      },
    );
  }

  /** Every socket here must resume; the next attach sets a new baseline. */
  private reset(reason: string): void {
    const sockets = this.sockets();
    this.attached.clear();
    this.parked.clear();
    this.seq = null;
    this.epoch = null;
    this.backlog = [];
    for (const socket of sockets) this.transport.resync(socket, reason);
  }

  /**
   * Brings a socket that has everything up to `delivered` (of room epoch `epoch`) into the
   * live feed. Resolves once it is subscribed or parked.
   */
  async attach(socket: S, delivered: number, epoch: string): Promise<void> {
    if (!this.transport.isOpen(socket)) return;
    if (this.epoch !== null && this.epoch !== epoch) this.reset('room state was rebuilt');
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
      this.parked.set(socket, delivered);
      return;
    }
    const missing = this.fromRing(delivered);
    if (missing) {
      for (const event of missing) this.transport.send(socket, event);
      this.subscribe(socket);
      return;
    }
    // Too far behind the ring: read the stream, then attach again from where that ends.
    const read = await this.readEvents(this.roomId, delivered, epoch);
    if (!this.transport.isOpen(socket)) return;
    if (!read.recovered) {
      this.transport.resync(socket, 'too far behind');
      return;
    }
    for (const event of read.events) this.transport.send(socket, event);
    return this.attach(socket, read.seq, epoch);
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
    this.parked.delete(socket);
    if (this.attached.delete(socket) && this.transport.isOpen(socket)) this.transport.unsubscribe(socket, this.topic);
  }
}
