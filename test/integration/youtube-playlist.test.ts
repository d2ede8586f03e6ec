import { randomUUID } from 'node:crypto';
import { videoCatalogFromConfig } from '../../platform/media/from-config';
import { startApi, startEdge } from '../support/app-harness';
import { startFakeYouTube, type FakeYouTube } from '../support/fake-youtube';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { apiClient, errorCode, RoomJanitor, UNLIMITED_RATES, type ApiClient } from '../support/room-api';
import { createRoom, createUser, type TestUser } from '../support/rooms';

/**
 * The playlist wired as in production: the API's video catalog is the real YouTube Data API
 * client with its Redis cache (videoCatalogFromConfig), over a local server speaking videos.list.
 */
let stack: RealStack;
let youtube: FakeYouTube;
let edge: Awaited<ReturnType<typeof startEdge>>;
let api: Awaited<ReturnType<typeof startApi>>;
let client: ApiClient;
let janitor: RoomJanitor;
let owner: TestUser;

/** A fresh 11-character id per test, so the shared Redis cache starts cold for it. */
const newVideoId = () => randomUUID().replace(/-/g, '').slice(0, 11);

beforeAll(async () => {
  stack = await connectRealStack('youtube-playlist');
  youtube = await startFakeYouTube();
  const config = { ...stack.config, ...UNLIMITED_RATES, YOUTUBE_API_URL: youtube.url, YOUTUBE_API_KEY: youtube.apiKey, MEDIA_TIMEOUT_MS: 500 };
  const videoCatalog = videoCatalogFromConfig(config, stack.redis) ?? undefined;
  expect(videoCatalog).toBeDefined();
  edge = await startEdge(stack);
  api = await startApi(stack, config, undefined, { videoCatalog });
  client = apiClient(api.url);
  janitor = new RoomJanitor(edge.rooms, edge.live);
  owner = await createUser(stack, 'DJ');
});

afterAll(async () => {
  await janitor?.sweep();
  await api?.close();
  await edge?.close();
  await youtube?.close();
  await stack?.close();
});

it('adds a video by its YouTube link with the title and duration YouTube gives, and asks YouTube once per video', async () => {
  const id = newVideoId();
  youtube.controls.addVideo({ id, title: 'Lo-fi beats to chat to', channelTitle: 'Aura Radio', duration: 'PT3M33S' });
  const first = janitor.room(await createRoom(edge.rooms, owner.userId));
  const second = janitor.room(await createRoom(edge.rooms, owner.userId));

  const added = await client.as(owner).post(`/rooms/${first.id}/playlist`, { url: `https://youtu.be/${id}?si=share` });
  expect(added.status).toBe(201);
  const list = await client.as(owner).get<{ current: { videoId: string; title: string; durationMs: number } | null; items: unknown[] }>(`/rooms/${first.id}/playlist`);
  expect(list.body.current).toMatchObject({ videoId: id, title: 'Lo-fi beats to chat to', durationMs: 213_000 });

  // The same video in another room comes from the cache: YouTube was asked once.
  expect((await client.as(owner).post(`/rooms/${second.id}/playlist`, { url: `https://www.youtube.com/watch?v=${id}&t=42s` })).status).toBe(201);
  expect(youtube.controls.callsFor(id)).toBe(1);
});

it('refuses a video that does not exist on YouTube, and one whose owner forbids embedding', async () => {
  const room = janitor.room(await createRoom(edge.rooms, owner.userId));
  const missing = await client.as(owner).post(`/rooms/${room.id}/playlist`, { videoId: newVideoId() });
  expect(missing.status).toBe(422);
  const id = newVideoId();
  youtube.controls.addVideo({ id, title: 'Not for embedding', duration: 'PT2M', embeddable: false });
  const refused = await client.as(owner).post(`/rooms/${room.id}/playlist`, { videoId: id });
  expect(refused.status).toBe(422);
  expect(errorCode(refused)).toMatch(/EMBED/);
});

it('answers 503 DEPENDENCY_UNAVAILABLE with Retry-After while YouTube fails, and adds nothing', async () => {
  const id = newVideoId();
  youtube.controls.addVideo({ id, title: 'Back soon', duration: 'PT1M' });
  const room = janitor.room(await createRoom(edge.rooms, owner.userId));
  youtube.controls.failNext(3, 503); // every attempt of the lookup
  const refused = await client.as(owner).post(`/rooms/${room.id}/playlist`, { videoId: id });
  expect({ status: refused.status, code: errorCode(refused) }).toEqual({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
  expect(refused.headers.get('retry-after')).not.toBeNull();
  expect((await client.as(owner).get<{ current: unknown }>(`/rooms/${room.id}/playlist`)).body.current).toBeNull();
});
