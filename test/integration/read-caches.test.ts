import { createRoomService } from '../../services/rooms';
import { startApi } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { apiClient, RoomJanitor, UNLIMITED_RATES } from '../support/room-api';
import { createRoom, createUser } from '../support/rooms';

/**
 * The two hot reads served from each API process's memory (issue 8, item 12): a profile, and a
 * page of the popular list. Other suites run with both caches off, so they can assert a change
 * at once; this one runs with them on, for a minute, and shows what a client sees.
 */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let janitor: RoomJanitor;
let services: ReturnType<typeof createRoomService>;

beforeAll(async () => {
  stack = await connectRealStack('read-caches');
  api = await startApi(stack, { ...UNLIMITED_RATES, PROFILE_CACHE_MS: 60_000, ROOM_POPULAR_CACHE_MS: 60_000 });
  services = createRoomService({ config: stack.config, dataSource: stack.dataSource, redis: stack.redis });
  janitor = new RoomJanitor(services.rooms, services.live);
});

afterAll(async () => {
  await janitor?.sweep();
  await api?.close();
  await stack?.close();
});

it('serves a profile from memory until this process changes it, then the change at once', async () => {
  const user = await createUser(stack, 'Cached');
  const client = apiClient(api.url).as(user);
  const first = await client.get('/me');
  expect(first.status).toBe(200);
  // A change behind the API's back (another process, a script) is not seen within the minute...
  await stack.dataSource.query(`UPDATE users SET display_name = 'Renamed elsewhere' WHERE id = $1`, [user.userId]);
  expect((await client.get('/me')).body).toEqual(first.body);
  // ...but a change through this process is: its own writes drop its copy.
  expect((await client.patch('/me', { displayName: 'Renamed here' })).status).toBe(200);
  expect((await client.get('/me')).body).toMatchObject({ id: user.userId, displayName: 'Renamed here' });
});

it('serves a page of the popular list from memory; another page is its own entry', async () => {
  const owner = await createUser(stack, 'Host');
  const room = janitor.room(await createRoom(services.rooms, owner.userId, { name: 'Before rename' }));
  await janitor.enter(room, owner.userId);
  const client = apiClient(api.url).as(owner);
  const page = await client.get('/rooms?sort=popular&limit=50');
  expect(page.status).toBe(200);
  await stack.dataSource.query(`UPDATE rooms SET name = 'After rename' WHERE id = $1`, [room.id]);
  expect((await client.get('/rooms?sort=popular&limit=50')).body).toEqual(page.body);
  const other = (await client.get('/rooms?sort=popular&limit=49')).body as { items: { id: string; name: string }[] };
  expect(other.items.find((r) => r.id === room.id)?.name ?? 'After rename').toBe('After rename');
});
