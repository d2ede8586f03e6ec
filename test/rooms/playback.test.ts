import { randomUUID } from 'node:crypto';
import { startApi, startEdge } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { apiClient, errorCode, RoomJanitor, UNLIMITED_RATES, type ApiClient } from '../support/room-api';
import { createRoom, createUser, join, type TestUser } from '../support/rooms';
import { TestSocket } from '../support/ws-client';
import { createPlaybackService, type PlaybackService } from '../../services/playback';
import { VideoCatalogUnavailable, VideoNotFound, type VideoCatalog, type VideoMeta } from '../../platform/media/video-catalog';
import type { LivePlayback } from '../../db/repositories/room-playlists';

/**
 * Rooms' YouTube playlists and shared playback on the real stack (PostgreSQL, Redis, the API,
 * the uWS edge). Video facts come from a small in-test catalog (a fake of the provider port; the
 * YouTube client's wire tests are test/providers/youtube.test.ts).
 */

class FakeCatalog implements VideoCatalog {
  readonly videos = new Map<string, VideoMeta>();
  down = false;
  stall = false;
  lookups = 0;

  add(overrides: Partial<VideoMeta> = {}): VideoMeta {
    const id = overrides.id ?? randomUUID().replace(/-/g, '').slice(0, 11);
    const video: VideoMeta = {
      id,
      title: `Video ${id}`,
      channelTitle: 'A channel',
      durationMs: 200_000,
      thumbnails: [{ url: `https://i.ytimg.test/vi/${id}/hq.jpg`, width: 480, height: 360 }],
      embeddable: true,
      regionsAllowed: null,
      regionsBlocked: null,
      liveBroadcastContent: 'none',
      ageRestricted: false,
      ...overrides,
    };
    this.videos.set(id, video);
    return video;
  }

  async lookup(videoId: string, options: { signal?: AbortSignal } = {}): Promise<VideoMeta> {
    this.lookups++;
    if (this.stall) {
      return new Promise((_, reject) => options.signal?.addEventListener('abort', () => reject(new VideoCatalogUnavailable('timed out'))));
    }
    if (this.down) throw new VideoCatalogUnavailable('503 from the catalog');
    const video = this.videos.get(videoId);
    if (!video) throw new VideoNotFound(videoId);
    return video;
  }
}

let stack: RealStack;
let edge: Awaited<ReturnType<typeof startEdge>>;
let api: Awaited<ReturnType<typeof startApi>>;
let bare: Awaited<ReturnType<typeof startApi>>;
let client: ApiClient;
let janitor: RoomJanitor;
let service: PlaybackService;
const catalog = new FakeCatalog();
let owner: TestUser;

beforeAll(async () => {
  stack = await connectRealStack('rooms-playback');
  edge = await startEdge(stack, { playbackSweepMs: 50 });
  const limits = { ...UNLIMITED_RATES, PLAYLIST_MAX_ITEMS_PER_USER: 2, PLAYLIST_MAX_ITEMS: 6, PLAYLIST_MAX_VIDEO_SECONDS: 3600, MEDIA_TIMEOUT_MS: 200 };
  api = await startApi(stack, limits, undefined, { videoCatalog: catalog });
  bare = await startApi(stack, UNLIMITED_RATES); // no video catalog configured
  client = apiClient(api.url);
  janitor = new RoomJanitor(edge.rooms, edge.live);
  // The sweeper, driven by the test's clock.
  service = createPlaybackService({ config: stack.config, dataSource: stack.dataSource, live: edge.live, rooms: edge.rooms });
  owner = await createUser(stack, 'Owner');
});

afterAll(async () => {
  await janitor?.sweep();
  await api?.close();
  await bare?.close();
  await edge?.close();
  await stack?.close();
});

interface PlaybackEvent {
  seq: number;
  type: string;
  data: LivePlayback & { reason: string; byUserId: string | null };
}

const as = (user: TestUser) => client.as(user);
const playbackEvents = (socket: TestSocket, roomId: string) => socket.roomEvents(roomId).filter((e) => e.type === 'playback.updated') as unknown as PlaybackEvent[];
const untilPlayback = (socket: TestSocket, test: (d: PlaybackEvent['data']) => boolean) =>
  socket.until((m) => m.type === 'playback.updated' && test(m.data as PlaybackEvent['data'])) as unknown as Promise<PlaybackEvent>;

/** Everything the socket was sent up to now: a ping's answer comes after every earlier frame. */
async function flush(socket: TestSocket): Promise<void> {
  const ref = `flush-${randomUUID()}`;
  socket.send({ type: 'ping', ref });
  await socket.until((m) => m.ref === ref);
}

/** One clock-offset sample over the socket, as the app takes it: offset = serverTime - midpoint. */
async function timeSample(socket: TestSocket): Promise<{ offset: number; rtt: number }> {
  const ref = `t-${randomUUID()}`;
  const t0 = performance.timeOrigin + performance.now();
  socket.send({ type: 'time', t0, ref });
  const reply = (await socket.until((m) => m.ref === ref)) as { t0: number; serverTime: number };
  const t1 = performance.timeOrigin + performance.now();
  expect(reply.t0).toBe(t0);
  return { offset: reply.serverTime - (t0 + t1) / 2, rtt: t1 - t0 };
}

/** The best of a few samples (the smallest round trip bounds the offset's error best). */
async function clockOffset(socket: TestSocket): Promise<{ offset: number; rtt: number }> {
  const samples = [];
  for (let i = 0; i < 5; i++) samples.push(await timeSample(socket));
  return samples.reduce((best, s) => (s.rtt < best.rtt ? s : best));
}

/** The app's formula: position = positionMs + (serverNow - at) while playing. */
function positionNow(p: LivePlayback, offset: number, localNow: number): number {
  if (p.state !== 'playing') return p.positionMs;
  return Math.min(p.durationMs!, p.positionMs + (localNow + offset - p.at));
}

async function musicOrVoiceRoom(type: 'voice' | 'music' = 'voice', region: string | null = 'IN') {
  return janitor.room(await createRoom(edge.rooms, owner.userId, { type, region }));
}

async function addVideo(user: TestUser, roomId: string, video: VideoMeta) {
  return as(user).post<{ item: { id: string }; playback: LivePlayback }>(`/rooms/${roomId}/playlist`, { videoId: video.id });
}

describe('playback in sync', () => {
  it('two clients joining at different times compute the same position, within their measured round trips', async () => {
    const room = await musicOrVoiceRoom();
    const added = await addVideo(owner, room.id, catalog.add({ durationMs: 3_600_000 }));
    expect(added.status).toBe(201);
    expect(added.body.playback).toMatchObject({ state: 'playing', positionMs: 0, version: 1 });
    expect(await as(owner).post(`/rooms/${room.id}/playback/seek`, { positionMs: 60_000 })).toMatchObject({ status: 200 });

    const [a, b] = [await createUser(stack, 'Early'), await createUser(stack, 'Late')];
    const early = await TestSocket.connect(edge.url, { token: a.token });
    const earlySnapshot = (await join(early, room.id)).data as unknown as { playback: LivePlayback };
    const earlyClock = await clockOffset(early);
    const late = await TestSocket.connect(edge.url, { token: b.token });
    const lateSnapshot = (await join(late, room.id)).data as unknown as { playback: LivePlayback };
    const lateClock = await clockOffset(late);
    expect(lateSnapshot.playback).toEqual(earlySnapshot.playback);
    expect(earlySnapshot.playback).toMatchObject({ state: 'playing', positionMs: 60_000, videoId: expect.any(String), endsAt: expect.any(Number) });

    const localNow = performance.timeOrigin + performance.now();
    const pEarly = positionNow(earlySnapshot.playback, earlyClock.offset, localNow);
    const pLate = positionNow(lateSnapshot.playback, lateClock.offset, localNow);
    // Each offset is off by at most half its round trip (plus the server clock's 1 ms step).
    const tolerance = earlyClock.rtt / 2 + lateClock.rtt / 2 + 2;
    expect(Math.abs(pEarly - pLate)).toBeLessThanOrEqual(tolerance);
    // And both agree with where the server has it (this process is also the server).
    const truth = earlySnapshot.playback.positionMs + (Date.now() - earlySnapshot.playback.at);
    expect(Math.abs(pEarly - truth)).toBeLessThanOrEqual(earlyClock.rtt / 2 + 2 + (Date.now() - localNow));
    await Promise.all([early.close(), late.close()]);
  });

  it('a seek reaches every listener exactly once, in order with the room’s other events', async () => {
    const room = await musicOrVoiceRoom();
    await addVideo(owner, room.id, catalog.add());
    const users = await Promise.all(Array.from({ length: 3 }, () => createUser(stack)));
    const sockets = await Promise.all(users.map((u) => TestSocket.connect(edge.url, { token: u.token })));
    for (const s of sockets) await join(s, room.id);
    const seek = await as(owner).post<{ playback: LivePlayback; serverTime: number }>(`/rooms/${room.id}/playback/seek`, { positionMs: 42_000, version: 1 });
    expect(seek.status).toBe(200);
    expect(seek.body.playback).toMatchObject({ positionMs: 42_000, version: 2, state: 'playing' });
    for (const s of sockets) {
      const event = await untilPlayback(s, (d) => d.version === 2);
      expect(event.data).toMatchObject({ reason: 'seek', positionMs: 42_000, byUserId: owner.userId, at: seek.body.playback.at });
      await flush(s);
      expect(playbackEvents(s, room.id).filter((e) => e.data.reason === 'seek')).toHaveLength(1);
    }
    // A stale version is refused with where playback is now, and announces nothing.
    const stale = await as(owner).post(`/rooms/${room.id}/playback/pause`, { version: 1 });
    expect({ status: stale.status, code: errorCode(stale) }).toEqual({ status: 409, code: 'PLAYBACK_CHANGED' });
    expect((stale.body as { error: { details: { playback: LivePlayback } } }).error.details.playback.version).toBe(2);
    const paused = await as(owner).post<{ playback: LivePlayback }>(`/rooms/${room.id}/playback/pause`, { version: 2 });
    expect(paused.body.playback).toMatchObject({ state: 'paused', version: 3, endsAt: null });
    for (const s of sockets) {
      await untilPlayback(s, (d) => d.version === 3);
      await flush(s);
      expect(playbackEvents(s, room.id).map((e) => e.data.reason)).toEqual(['seek', 'pause']);
    }
    await Promise.all(sockets.map((s) => s.close()));
  });

  it('a late joiner’s snapshot and GET /playback say the same', async () => {
    const room = await musicOrVoiceRoom();
    await addVideo(owner, room.id, catalog.add());
    const reply = await as(owner).get<{ playback: LivePlayback; serverTime: number }>(`/rooms/${room.id}/playback`);
    const snapshot = await edge.live.snapshot(room.id);
    expect(snapshot.playback).toEqual(reply.body.playback);
    expect(reply.body.serverTime).toEqual(expect.any(Number));
  });
});

describe('an item that ends', () => {
  it('moves the playlist on with nobody connected, when the sweeper runs past its end (a controlled clock)', async () => {
    const room = await musicOrVoiceRoom();
    const first = await addVideo(owner, room.id, catalog.add({ durationMs: 90_000 }));
    const second = await addVideo(owner, room.id, catalog.add({ durationMs: 120_000 }));
    const endsAt = first.body.playback.endsAt!;
    expect((await service.advanceEnded(endsAt - 1)).advanced).not.toContain(room.id);
    // Two sweepers at once (two edges): the room moves on once.
    const [x, y] = await Promise.all([service.advanceEnded(endsAt + 1), service.advanceEnded(endsAt + 1)]);
    expect([...x.advanced, ...y.advanced].filter((id) => id === room.id)).toHaveLength(1);
    const after = (await as(owner).get<{ playback: LivePlayback }>(`/rooms/${room.id}/playback`)).body.playback;
    expect(after).toMatchObject({ state: 'playing', itemId: second.body.item.id, positionMs: 0, at: endsAt + 1, endsAt: endsAt + 1 + 120_000, version: 2 });
    expect((await edge.live.snapshot(room.id)).playback).toEqual(after);
    // The last one ending leaves the room idle.
    expect((await service.advanceEnded(after.endsAt! + 1)).advanced).toContain(room.id);
    expect((await edge.live.snapshot(room.id)).playback).toMatchObject({ state: 'idle', itemId: null });
    const list = await as(owner).get<{ current: unknown; items: unknown[] }>(`/rooms/${room.id}/playlist`);
    expect(list.body).toMatchObject({ current: null, items: [] });
  });

  it('starts the next one on the edge’s own sweeper, announced to the room (a short video)', async () => {
    const room = await musicOrVoiceRoom();
    const listener = await createUser(stack);
    const socket = await TestSocket.connect(edge.url, { token: listener.token });
    await join(socket, room.id);
    await addVideo(owner, room.id, catalog.add({ durationMs: 300 }));
    const next = await addVideo(owner, room.id, catalog.add({ durationMs: 600_000 }));
    const ended = await untilPlayback(socket, (d) => d.reason === 'ended');
    expect(ended.data).toMatchObject({ itemId: next.body.item.id, state: 'playing', positionMs: 0, byUserId: null });
    const advanced = await socket.until((m) => m.type === 'playlist.updated' && (m.data as { reason: string }).reason === 'advanced');
    expect(advanced).toMatchObject({ data: { length: 0, head: [] }, seq: ended.seq - 1 });
    await socket.close();
  });
});

describe('who may', () => {
  it('refuses a member under "moderators" (nothing changes) and lets them under "everyone"', async () => {
    const room = await musicOrVoiceRoom();
    const member = await createUser(stack);
    const video = catalog.add();
    expect(errorCode(await addVideo(member, room.id, video))).toBe('NOT_IN_ROOM');
    await janitor.enter(room, member.userId);
    const refused = await addVideo(member, room.id, video);
    expect({ status: refused.status, code: errorCode(refused) }).toEqual({ status: 403, code: 'MODERATOR_REQUIRED' });
    expect(errorCode(await as(member).post(`/rooms/${room.id}/playback/play`, {}))).toBe('MODERATOR_REQUIRED');
    expect((await as(owner).get(`/rooms/${room.id}/playlist`)).body).toMatchObject({ current: null, items: [] });

    const patched = await as(owner).patch(`/rooms/${room.id}`, { playlistPolicy: 'everyone' });
    expect(patched.body).toMatchObject({ playlistPolicy: 'everyone' });
    const log = await as(owner).get<{ items: { action: string; details: { fields: string[] } }[] }>(`/rooms/${room.id}/moderation-log`);
    expect(log.body.items[0]).toMatchObject({ action: 'update-room', details: { fields: ['playlistPolicy'] } });
    expect((await addVideo(member, room.id, video)).status).toBe(201);
    expect((await as(member).post(`/rooms/${room.id}/playback/pause`, {})).status).toBe(200);
  });

  it('holds each member to the per-user limit, the room to its cap, and a video to one place in the queue', async () => {
    const room = await musicOrVoiceRoom();
    await as(owner).patch(`/rooms/${room.id}`, { playlistPolicy: 'everyone' });
    const member = await createUser(stack);
    await janitor.enter(room, member.userId);
    const [v1, v2, v3] = [catalog.add(), catalog.add(), catalog.add()];
    expect((await addVideo(member, room.id, v1)).status).toBe(201); // plays at once: not counted as waiting
    expect((await addVideo(member, room.id, v2)).status).toBe(201);
    expect(errorCode(await addVideo(member, room.id, v2))).toBe('PLAYLIST_DUPLICATE');
    expect((await addVideo(member, room.id, v3)).status).toBe(201);
    const over = await addVideo(member, room.id, catalog.add());
    expect({ status: over.status, code: errorCode(over) }).toEqual({ status: 409, code: 'PLAYLIST_USER_LIMIT' });
    for (let i = 0; i < 3; i++) expect((await addVideo(owner, room.id, catalog.add())).status).toBe(201);
    expect(errorCode(await addVideo(owner, room.id, catalog.add()))).toBe('PLAYLIST_FULL'); // 6 in all
    const lookups = catalog.lookups;
    expect(errorCode(await addVideo(owner, room.id, catalog.add()))).toBe('PLAYLIST_FULL');
    expect(catalog.lookups).toBe(lookups); // refused before YouTube was asked
  });
});

describe('the playlist', () => {
  it('reorders, removes (own items, others’ by moderators, audited) and removing the current item moves on', async () => {
    const room = await musicOrVoiceRoom();
    await as(owner).patch(`/rooms/${room.id}`, { playlistPolicy: 'everyone' });
    const member = await createUser(stack);
    const other = await createUser(stack);
    for (const u of [member, other]) await janitor.enter(room, u.userId);
    const current = (await addVideo(owner, room.id, catalog.add())).body.item.id;
    const mine = (await addVideo(member, room.id, catalog.add())).body.item.id;
    const theirs = (await addVideo(other, room.id, catalog.add())).body.item.id;
    const last = (await addVideo(owner, room.id, catalog.add())).body.item.id;

    const moved = await as(owner).post<{ items: { id: string }[] }>(`/rooms/${room.id}/playlist/${last}/move`, { index: 0 });
    expect(moved.body.items.map((i) => i.id)).toEqual([last, mine, theirs]);
    expect(errorCode(await as(owner).post(`/rooms/${room.id}/playlist/${current}/move`, { index: 1 }))).toBe('PLAYLIST_ITEM_NOT_QUEUED');
    expect(errorCode(await as(owner).post(`/rooms/${room.id}/playlist/${randomUUID()}/move`, { index: 1 }))).toBe('PLAYLIST_ITEM_NOT_FOUND');
    const page = await as(owner).get<{ current: { id: string }; items: { id: string }[]; nextCursor: string }>(`/rooms/${room.id}/playlist?limit=2`);
    expect(page.body.current.id).toBe(current);
    expect(page.body.items.map((i) => i.id)).toEqual([last, mine]);
    const rest = await as(owner).get<{ items: { id: string }[]; nextCursor: null }>(`/rooms/${room.id}/playlist?limit=2&cursor=${page.body.nextCursor}`);
    expect(rest.body).toMatchObject({ items: [{ id: theirs }], nextCursor: null });

    await as(owner).patch(`/rooms/${room.id}`, { playlistPolicy: 'moderators' });
    expect(errorCode(await as(member).delete(`/rooms/${room.id}/playlist/${theirs}`))).toBe('MODERATOR_REQUIRED');
    expect((await as(member).delete(`/rooms/${room.id}/playlist/${mine}`)).status).toBe(200);
    expect((await as(owner).delete(`/rooms/${room.id}/playlist/${theirs}`)).status).toBe(200);
    const log = await as(owner).get<{ items: { action: string; targetUserId: string }[] }>(`/rooms/${room.id}/moderation-log`);
    expect(log.body.items.filter((e) => e.action === 'playlist-remove')).toEqual([expect.objectContaining({ targetUserId: other.userId })]);

    const removed = await as(owner).delete<{ playback: LivePlayback }>(`/rooms/${room.id}/playlist/${current}`);
    expect(removed.body.playback).toMatchObject({ itemId: last, state: 'playing', positionMs: 0 });
    expect((await edge.live.snapshot(room.id)).playlist).toEqual({ length: 0, head: [] });
  });

  it('skips the current item once enough listeners vote for it', async () => {
    const room = await musicOrVoiceRoom();
    const users = await Promise.all(Array.from({ length: 4 }, () => createUser(stack)));
    for (const u of users) await janitor.enter(room, u.userId);
    const first = (await addVideo(owner, room.id, catalog.add())).body.item.id;
    const second = (await addVideo(owner, room.id, catalog.add())).body.item.id;
    const watcher = await TestSocket.connect(edge.url, { token: users[0]!.token });
    await join(watcher, room.id);

    const vote = (u: TestUser, itemId = first) => as(u).post<{ votes: number; needed: number; skipped: boolean }>(`/rooms/${room.id}/playlist/${itemId}/skip-votes`, {});
    expect(errorCode(await vote(owner))).toBe('NOT_IN_ROOM'); // voters are listeners
    expect((await vote(users[0]!)).body).toMatchObject({ votes: 1, needed: 2, skipped: false });
    expect((await vote(users[0]!)).body).toMatchObject({ votes: 1, needed: 2, skipped: false }); // once per user
    expect(errorCode(await vote(users[1]!, second))).toBe('PLAYLIST_ITEM_NOT_CURRENT');
    expect((await vote(users[1]!)).body).toMatchObject({ votes: 2, needed: 2, skipped: true });
    const skipped = await untilPlayback(watcher, (d) => d.reason === 'vote-skipped');
    expect(skipped.data.itemId).toBe(second);
    await flush(watcher);
    const votes = watcher.roomEvents(room.id).filter((e) => e.type === 'playlist.updated').map((e) => (e.data as { reason: string }).reason);
    expect(votes).toEqual(['skip-vote', 'vote-skipped']);
    await watcher.close();
  });
});

describe('videos refused', () => {
  it('refuses a video that may not be embedded, is blocked in the room’s region, is live, too long or unknown; nothing changes', async () => {
    const room = await musicOrVoiceRoom('voice', 'IN');
    const before = await edge.live.snapshot(room.id);
    const cases: [Partial<VideoMeta>, string][] = [
      [{ embeddable: false }, 'VIDEO_NOT_EMBEDDABLE'],
      [{ regionsBlocked: ['IN'] }, 'VIDEO_REGION_BLOCKED'],
      [{ regionsAllowed: ['US', 'GB'] }, 'VIDEO_REGION_BLOCKED'],
      [{ liveBroadcastContent: 'live', durationMs: 0 }, 'VIDEO_LIVE'],
      [{ durationMs: 3_600_001 }, 'VIDEO_TOO_LONG'],
    ];
    for (const [facts, code] of cases) {
      const reply = await addVideo(owner, room.id, catalog.add(facts));
      expect({ status: reply.status, code: errorCode(reply) }).toEqual({ status: 422, code });
    }
    expect(errorCode(await as(owner).post(`/rooms/${room.id}/playlist`, { videoId: 'NoSuchVid01' }))).toBe('VIDEO_NOT_FOUND');
    expect(errorCode(await as(owner).post(`/rooms/${room.id}/playlist`, { url: 'https://example.com/watch?v=abcdefghijk' }))).toBe('VALIDATION_FAILED');
    expect(await edge.live.snapshot(room.id)).toEqual(before);
    expect((await as(owner).get(`/rooms/${room.id}/playlist`)).body).toMatchObject({ current: null, items: [] });
  });

  it('adds by a YouTube link as by its id', async () => {
    const room = await musicOrVoiceRoom();
    const video = catalog.add();
    const reply = await as(owner).post<{ item: { videoId: string } }>(`/rooms/${room.id}/playlist`, { url: `https://youtu.be/${video.id}` });
    expect(reply.body.item.videoId).toBe(video.id);
  });

  it('answers 503 with Retry-After when the catalog is down, stalled or not configured, and changes nothing', async () => {
    const room = await musicOrVoiceRoom();
    const video = catalog.add();
    catalog.down = true;
    try {
      const down = await addVideo(owner, room.id, video);
      expect({ status: down.status, code: errorCode(down), retryAfter: down.headers.get('retry-after') }).toEqual({ status: 503, code: 'DEPENDENCY_UNAVAILABLE', retryAfter: '2' });
    } finally {
      catalog.down = false;
    }
    catalog.stall = true;
    try {
      expect(errorCode(await addVideo(owner, room.id, video))).toBe('DEPENDENCY_UNAVAILABLE'); // cut at 2 × MEDIA_TIMEOUT_MS
    } finally {
      catalog.stall = false;
    }
    const unconfigured = await apiClient(bare.url).as(owner).post(`/rooms/${room.id}/playlist`, { videoId: video.id });
    expect({ status: unconfigured.status, code: errorCode(unconfigured) }).toEqual({ status: 503, code: 'VIDEO_CATALOG_NOT_CONFIGURED' });
    expect((await as(owner).get(`/rooms/${room.id}/playlist`)).body).toMatchObject({ current: null, items: [] });
    expect((await edge.live.snapshot(room.id)).playback).toMatchObject({ state: 'idle', version: 0 });
  });
});

describe('racing controllers', () => {
  it('two "next" on the version they both saw: one wins, the other is told; one item is skipped', async () => {
    const room = await musicOrVoiceRoom();
    const admin = await createUser(stack, 'Admin');
    await edge.rooms.grantAdmin(owner.userId, room.id, admin.userId);
    const items = [];
    for (let i = 0; i < 3; i++) items.push((await addVideo(owner, room.id, catalog.add())).body.item.id);
    const replies = await Promise.all([owner, admin].map((u) => as(u).post(`/rooms/${room.id}/playback/next`, { version: 1 })));
    expect(replies.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(replies.map(errorCode).filter(Boolean)).toEqual(['PLAYBACK_CHANGED']);
    const now = (await as(owner).get<{ playback: LivePlayback }>(`/rooms/${room.id}/playback`)).body.playback;
    expect(now).toMatchObject({ itemId: items[1], version: 2 });
    expect((await edge.live.snapshot(room.id)).playback).toEqual(now);
  });

  it('many seeks without a version all apply in turn; the room ends on the last committed one', async () => {
    const room = await musicOrVoiceRoom();
    await addVideo(owner, room.id, catalog.add());
    const listener = await createUser(stack);
    const socket = await TestSocket.connect(edge.url, { token: listener.token });
    await join(socket, room.id);
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => as(owner).post<{ playback: LivePlayback }>(`/rooms/${room.id}/playback/seek`, { positionMs: (i + 1) * 1000 })));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(replies.map((r) => r.body.playback.version).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const record = (await as(owner).get<{ playback: LivePlayback }>(`/rooms/${room.id}/playback`)).body.playback;
    expect(record.version).toBe(11);
    await untilPlayback(socket, (d) => d.version === 11);
    expect((await edge.live.snapshot(room.id)).playback).toEqual(record);
    await flush(socket);
    // Each version announced at most once, in increasing order (a live step overtaken by a newer one emits nothing).
    const versions = playbackEvents(socket, room.id).map((e) => e.data.version);
    expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
    await socket.close();
  });
});

describe('music rooms', () => {
  it('the DJ seat sets the now-playing line; another seat may not; it goes when the DJ leaves the seat; a moderator’s stays', async () => {
    const room = await musicOrVoiceRoom('music');
    const [dj, singer] = [await createUser(stack, 'DJ'), await createUser(stack, 'Singer')];
    const socket = await TestSocket.connect(edge.url, { token: dj.token });
    await join(socket, room.id);
    await janitor.enter(room, singer.userId);
    await edge.rooms.takeSeat(dj.userId, room.id, 1);
    await edge.rooms.takeSeat(singer.userId, room.id, 2);

    expect(errorCode(await as(singer).put(`/rooms/${room.id}/now-playing`, { title: 'Mine' }))).toBe('DJ_SEAT_REQUIRED');
    const set = await as(dj).put<{ nowPlaying: unknown }>(`/rooms/${room.id}/now-playing`, { title: 'Blue in Green', artist: 'Miles Davis' });
    expect(set.body.nowPlaying).toMatchObject({ title: 'Blue in Green', artist: 'Miles Davis', byUserId: dj.userId, asDj: true });
    expect(await socket.until((m) => m.type === 'music.now-playing')).toMatchObject({ data: { nowPlaying: { title: 'Blue in Green' }, reason: 'set' } });
    expect((await edge.live.snapshot(room.id)).nowPlaying).toMatchObject({ title: 'Blue in Green' });

    await edge.rooms.leaveSeat(dj.userId, room.id);
    expect(await socket.until((m) => m.type === 'music.now-playing' && (m.data as { reason: string }).reason === 'dj-left')).toMatchObject({ data: { nowPlaying: null } });
    expect((await edge.live.snapshot(room.id)).nowPlaying).toBeNull();

    expect((await as(owner).put(`/rooms/${room.id}/now-playing`, { title: 'House music' })).body).toMatchObject({ nowPlaying: { asDj: false, artist: null } });
    await edge.rooms.takeSeat(dj.userId, room.id, 1);
    await edge.rooms.leaveSeat(dj.userId, room.id);
    expect((await edge.live.snapshot(room.id)).nowPlaying).toMatchObject({ title: 'House music' });
    expect(errorCode(await as(owner).put(`/rooms/${(await musicOrVoiceRoom('voice')).id}/now-playing`, { title: 'x' }))).toBe('NOT_A_MUSIC_ROOM');
    await socket.close();
  });
});

describe('a room Redis lost', () => {
  it('is rebuilt with its playback, playlist and (a moderator’s) now-playing line from PostgreSQL', async () => {
    const room = await musicOrVoiceRoom('music');
    await addVideo(owner, room.id, catalog.add());
    await addVideo(owner, room.id, catalog.add());
    await as(owner).post(`/rooms/${room.id}/playback/seek`, { positionMs: 5_000 });
    await as(owner).put(`/rooms/${room.id}/now-playing`, { title: 'Kept', artist: 'Owner' });
    const before = await edge.live.snapshot(room.id);
    await stack.redis.del(...(await stack.redis.keys(`aura:room:{${room.id}}:*`)));
    const user = await createUser(stack);
    const socket = await TestSocket.connect(edge.url, { token: user.token });
    const after = (await join(socket, room.id)).data as unknown as typeof before;
    expect(after.epoch).not.toBe(before.epoch);
    expect({ playback: after.playback, playlist: after.playlist, nowPlaying: after.nowPlaying }).toEqual({
      playback: before.playback,
      playlist: before.playlist,
      nowPlaying: before.nowPlaying,
    });
    await socket.close();
  });
});

describe('the time exchange', () => {
  it('answers at once with the server clock and the client’s t0, and refuses a bad t0', async () => {
    const user = await createUser(stack);
    const socket = await TestSocket.connect(edge.url, { token: user.token });
    const before = Date.now();
    const sample = await timeSample(socket);
    expect(Math.abs(sample.offset)).toBeLessThanOrEqual(sample.rtt / 2 + 2); // one clock here
    expect(before).toBeLessThanOrEqual(Date.now());
    socket.send({ type: 'time', t0: -1, ref: 'bad' });
    expect(await socket.until((m) => m.ref === 'bad')).toMatchObject({ type: 'error', code: 'VALIDATION_FAILED' });
    await socket.close();
  });
});
