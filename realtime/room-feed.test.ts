import { RoomFeed, seqOf, typeOf, type FeedTransport, type ReadEvents } from './room-feed';

/**
 * The feed's ordering logic with an in-memory transport (the real edge is covered in
 * test/rooms). Each fake socket records exactly what it would have received.
 */
interface FakeSocket {
  name: string;
  open: boolean;
  got: number[];
  resynced?: string;
}

function event(seq: number, type = 'test.tick'): string {
  return `{"seq":${seq},"room":"r","type":"${type}","at":0,"data":{}}`;
}

type FeedOptions = ConstructorParameters<typeof RoomFeed<FakeSocket>>[6];

/** A feed over fake sockets; `readEvents` answers from `stream` unless given. */
function setup(stream: string[] = [], ringSize = 8, overrides: { readEvents?: ReadEvents; options?: FeedOptions } = {}) {
  const subscribed = new Set<FakeSocket>();
  const transport: FeedTransport<FakeSocket> = {
    publish: (_topic, message) => subscribed.forEach((s) => s.got.push(seqOf(message))),
    subscribe: (s) => subscribed.add(s),
    unsubscribe: (s) => subscribed.delete(s),
    send: (s, message) => s.got.push(seqOf(message)),
    isOpen: (s) => s.open,
    resync: (s, reason) => {
      s.resynced = reason;
      subscribed.delete(s);
    },
  };
  const reads: number[] = [];
  const readEvents: ReadEvents = async (_room, after) => {
    reads.push(after);
    const events = stream.filter((e) => seqOf(e) > after);
    const complete = events.length === 0 || seqOf(events[0]!) === after + 1;
    return { recovered: complete, seq: events.length ? seqOf(events.at(-1)!) : after, events: complete ? events : [] };
  };
  const errors: unknown[] = [];
  const feed = new RoomFeed<FakeSocket>('r', 'topic', transport, overrides.readEvents ?? readEvents, (e) => errors.push(e), undefined, {
    ringSize,
    ...overrides.options,
  });
  const socket = (name: string): FakeSocket => ({ name, open: true, got: [] });
  return { feed, socket, reads, errors };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

it('reads seq and type from the envelope without parsing it', () => {
  expect(seqOf(event(1043))).toBe(1043);
  expect(typeOf(event(7, 'seat.updated'))).toBe('seat.updated');
});

it('sets its baseline from the first socket and drops events the snapshot already had', async () => {
  const { feed, socket } = setup();
  const a = socket('a');
  feed.receive(event(4)); // arrived before the snapshot reply: held back
  feed.receive(event(5));
  feed.receive(event(6));
  await feed.attach(a, 5, 'e1');
  feed.receive(event(7));
  expect(a.got).toEqual([6, 7]);
});

it('catches a socket that is behind up from its ring, then subscribes it with nothing doubled', async () => {
  const { feed, socket } = setup();
  const [a, b] = [socket('a'), socket('b')];
  await feed.attach(a, 0, 'e1');
  range(1, 5).forEach((n) => feed.receive(event(n)));
  await feed.attach(b, 2, 'e1');
  feed.receive(event(6));
  expect(b.got).toEqual([3, 4, 5, 6]);
  expect(a.got).toEqual(range(1, 6));
});

it('parks a socket whose snapshot is ahead of the feed until the feed gets there', async () => {
  const { feed, socket } = setup();
  const [a, b] = [socket('a'), socket('b')];
  await feed.attach(a, 10, 'e1');
  await feed.attach(b, 12, 'e1'); // its snapshot already includes 11 and 12
  feed.receive(event(11));
  feed.receive(event(12));
  feed.receive(event(13));
  expect(b.got).toEqual([13]);
  expect(a.got).toEqual([11, 12, 13]);
});

it('reads the stream for a socket further behind than its ring holds', async () => {
  const stream = range(1, 30).map((n) => event(n));
  const { feed, socket, reads } = setup(stream, 8);
  const [a, b] = [socket('a'), socket('b')];
  await feed.attach(a, 0, 'e1');
  stream.forEach((e) => feed.receive(e));
  await feed.attach(b, 3, 'e1');
  expect(reads).toEqual([3]);
  expect(b.got).toEqual(range(4, 30));
});

it('fills a gap in pub/sub from the stream, in order, before anything after it', async () => {
  const stream = range(1, 6).map((n) => event(n));
  const { feed, socket } = setup(stream);
  const a = socket('a');
  await feed.attach(a, 1, 'e1');
  feed.receive(event(2));
  feed.receive(event(5)); // 3 and 4 were lost
  feed.receive(event(6));
  await new Promise((resolve) => setImmediate(resolve)); // the repair's read resolves
  expect(a.got).toEqual([2, 3, 4, 5, 6]);
});

it('tells every socket to resume when a gap can no longer be filled', async () => {
  const { feed, socket } = setup([event(9)]); // the stream lost 3..8
  const [a, b] = [socket('a'), socket('b')];
  await feed.attach(a, 2, 'e1');
  await feed.attach(b, 2, 'e1');
  feed.receive(event(9));
  await new Promise((resolve) => setImmediate(resolve));
  expect([a.resynced, b.resynced]).toEqual(['feed lost events', 'feed lost events']);
  expect(feed.size).toBe(0);
});

it('stops sending to a detached socket', async () => {
  const { feed, socket } = setup();
  const a = socket('a');
  await feed.attach(a, 0, 'e1');
  feed.receive(event(1));
  feed.detach(a);
  feed.receive(event(2));
  expect(a.got).toEqual([1]);
  expect(feed.size).toBe(0);
});

it('keeps the socket that brings a rebuilt room\'s new numbering, and has the others resume', async () => {
  const { feed, socket } = setup();
  const [old, fresh] = [socket('old'), socket('fresh')];
  await feed.attach(old, 40, 'e1');
  await feed.attach(fresh, 3, 'e2'); // Redis lost the room; it was rebuilt under a new epoch
  expect(old.resynced).toBe('room state was rebuilt');
  expect(fresh.resynced).toBeUndefined();
  feed.receive(event(4));
  expect(fresh.got).toEqual([4]);
  expect(feed.size).toBe(1);
});

it('has everyone resume when an event arrives under a number already used for another', async () => {
  const { feed, socket } = setup();
  const a = socket('a');
  await feed.attach(a, 0, 'e1');
  feed.receive(event(1));
  feed.receive(event(2));
  feed.receive(event(2)); // the same event again (a repair overlapping pub/sub): ignored
  expect(a.resynced).toBeUndefined();
  feed.receive(event(2, 'other.event')); // Redis lost writes and numbered again
  expect(a.resynced).toBe('room state was rebuilt');
});

it('keeps its sockets through a repair Redis could not answer, and fills the gap once it does', async () => {
  const stream = range(1, 6).map((n) => event(n));
  // Redis is restarting: the first two reads fail the way an unreachable Redis fails.
  let failures = 2;
  let answered!: () => void;
  const repaired = new Promise<void>((resolve) => (answered = resolve));
  const readEvents: ReadEvents = async (_room, after) => {
    if (failures-- > 0) throw new Error('Connection is closed.');
    setImmediate(answered);
    const events = stream.filter((e) => seqOf(e) > after);
    return { recovered: true, seq: seqOf(events.at(-1)!), events };
  };
  const { feed, errors } = setup(stream, 8, {
    readEvents,
    options: { isTransient: (err) => (err as Error).message === 'Connection is closed.', repairRetryMs: [0] },
  });
  const a: FakeSocket = { name: 'a', open: true, got: [] };
  await feed.attach(a, 1, 'e1');
  feed.catchUp(); // pub/sub reconnected: what did it miss?
  feed.receive(event(6)); // arrives while the repair waits to retry
  await repaired;
  expect(a.resynced).toBeUndefined();
  expect(errors).toEqual([]);
  expect(a.got).toEqual([2, 3, 4, 5, 6]);
  feed.receive(event(7));
  expect(a.got).toEqual([2, 3, 4, 5, 6, 7]);
});

it('has everyone resume when a repair fails for another reason than Redis being unreachable', async () => {
  const transport: FeedTransport<FakeSocket> = {
    publish: () => undefined,
    subscribe: () => undefined,
    unsubscribe: () => undefined,
    send: () => undefined,
    isOpen: (s) => s.open,
    resync: (s, reason) => {
      s.resynced = reason;
    },
  };
  const errors: unknown[] = [];
  const feed = new RoomFeed<FakeSocket>('r', 'topic', transport, () => Promise.reject(new Error('ERR script bug')), (e) => errors.push(e), undefined, {
    isTransient: () => false,
  });
  const a: FakeSocket = { name: 'a', open: true, got: [] };
  await feed.attach(a, 1, 'e1');
  feed.catchUp();
  await new Promise((resolve) => setImmediate(resolve));
  expect(a.resynced).toBe('feed repair failed');
  expect(errors).toHaveLength(1);
});
