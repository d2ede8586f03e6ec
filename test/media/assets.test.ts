import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { objectStoreFromConfig, type S3ObjectStore } from '../../platform/storage/object-store';
import { createMediaSweep } from '../../services/media';
import { startApi } from '../support/app-harness';
import { jpegHeader, pngImage, svgaFile } from '../support/images';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { apiClient, errorCode, UNLIMITED_RATES, type ApiClient, type ApiReply } from '../support/room-api';
import { createUser, type TestUser } from '../support/rooms';
import { testLogger } from '../support/app-harness';

/**
 * Media assets end to end on the real stack: the API, PostgreSQL, Redis and SeaweedFS's S3
 * gateway. Files are PUT to the presigned URL with fetch, exactly as a phone would, and read
 * back through the public (CDN) URL.
 */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let client: ApiClient;
let store: S3ObjectStore;
let alice: TestUser;
let bob: TestUser;

const MEDIA_SETTINGS = { ...UNLIMITED_RATES, MEDIA_UPLOADS_PER_USER_PER_HOUR: 1000 };

beforeAll(async () => {
  stack = await connectRealStack('media-assets');
  api = await startApi(stack, MEDIA_SETTINGS);
  client = apiClient(api.url);
  store = objectStoreFromConfig(stack.config);
  [alice, bob] = [await createUser(stack, 'Alice'), await createUser(stack, 'Bob')];
});

afterAll(async () => {
  store?.destroy();
  await api?.close();
  await stack?.close();
});

const as = (user: TestUser) => client.as(user);
const refusal = (reply: ApiReply<unknown>) => ({ status: reply.status, code: errorCode(reply) });

interface Started {
  uploadId: string;
  key: string;
  url: string;
  method: string;
  headers: Record<string, string>;
  expiresAt: string;
}

interface UploadView {
  uploadId: string;
  key: string;
  status: string;
  url: string | null;
  width: number | null;
  height: number | null;
  bytes: number;
}

async function start(user: TestUser, kind: string, contentType: string, bytes: number): Promise<Started> {
  const reply = await as(user).post<Started>('/media/uploads', { kind, contentType, bytes });
  if (reply.status !== 201) throw new Error(`upload refused: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** PUTs the bytes the way a client does: to the presigned URL, with exactly the headers it was given. */
async function put(started: Started, body: Buffer, headers: Record<string, string> = started.headers): Promise<number> {
  const res = await fetch(started.url, { method: started.method, headers, body });
  await res.arrayBuffer();
  return res.status;
}

const complete = (user: TestUser, uploadId: string) => as(user).post<UploadView>(`/media/uploads/${uploadId}/complete`);

/** Starts, uploads and completes; returns the completed view. */
async function uploaded(user: TestUser, kind: string, contentType: string, file: Buffer): Promise<UploadView & { started: Started }> {
  const started = await start(user, kind, contentType, file.length);
  expect(await put(started, file)).toBe(200);
  const done = await complete(user, started.uploadId);
  if (done.status !== 200) throw new Error(`completion refused: ${done.status} ${JSON.stringify(done.body)}`);
  return { ...done.body, started };
}

async function publicStatus(key: string): Promise<number> {
  const res = await fetch(store.publicUrl(key));
  await res.arrayBuffer();
  return res.status;
}

async function uploadRow(id: string): Promise<{ status: string; used_by: string | null } | undefined> {
  const rows: { status: string; used_by: string | null }[] = await stack.dataSource.query(`SELECT status, used_by FROM media_uploads WHERE id = $1`, [id]);
  return rows[0];
}

async function profile(user: TestUser): Promise<{ avatarUrl: string | null }> {
  return (await as(user).get<{ avatarUrl: string | null }>('/me')).body;
}

describe('an avatar, from upload to profile', () => {
  it('uploads a real PNG by presigned PUT, verifies it, serves it from the CDN URL and shows it on the profile', async () => {
    const png = pngImage(128, 128, 3);
    const started = await start(alice, 'avatar', 'image/png', png.length);
    expect(started).toEqual({
      uploadId: expect.any(String),
      key: `avatar/${alice.userId}/${started.uploadId}.png`,
      url: expect.stringContaining(`/${stack.config.S3_BUCKET}/avatar/${alice.userId}/`),
      method: 'PUT',
      headers: { 'Content-Type': 'image/png', 'Content-Length': String(png.length) },
      expiresAt: expect.any(String),
    });
    expect(await put(started, png)).toBe(200);

    const done = await complete(alice, started.uploadId);
    expect(done.status).toBe(200);
    const cdnUrl = `${stack.config.MEDIA_CDN_BASE_URL}/${started.key}`;
    expect(done.body).toMatchObject({ uploadId: started.uploadId, key: started.key, status: 'ready', url: cdnUrl, width: 128, height: 128, bytes: png.length });
    // Completing again answers the same.
    expect(await complete(alice, started.uploadId)).toMatchObject({ status: 200, body: done.body });
    expect((await as(alice).get(`/media/uploads/${started.uploadId}`)).body).toEqual(done.body);

    const served = await fetch(cdnUrl);
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(png)).toBe(true);

    const patched = await as(alice).patch<{ avatarUrl: string }>('/me', { avatarKey: started.key, displayName: 'Alice A' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ avatarUrl: cdnUrl, displayName: 'Alice A' });
    expect(await profile(alice)).toMatchObject({ avatarUrl: cdnUrl });
    expect(await uploadRow(started.uploadId)).toEqual({ status: 'ready', used_by: `user:${alice.userId}` });
    // Setting the same key again changes nothing and deletes nothing.
    expect((await as(alice).patch('/me', { avatarKey: started.key })).status).toBe(200);
    expect(await publicStatus(started.key)).toBe(200);
  });

  it('deletes the replaced avatar from the store once the new one is saved, and removes it with null', async () => {
    const first = await uploaded(bob, 'avatar', 'image/png', pngImage(96, 96, 1));
    expect((await as(bob).patch('/me', { avatarKey: first.key })).status).toBe(200);
    const second = await uploaded(bob, 'avatar', 'image/jpeg', jpegHeader(800, 600));
    expect(second).toMatchObject({ width: 800, height: 600 });

    expect((await as(bob).patch('/me', { avatarKey: second.key })).body).toMatchObject({ avatarUrl: second.url });
    expect(await publicStatus(first.key)).toBe(404);
    expect(await uploadRow(first.uploadId)).toBeUndefined();
    expect(await publicStatus(second.key)).toBe(200);

    expect((await as(bob).patch('/me', { avatarKey: null })).body).toMatchObject({ avatarUrl: null });
    expect(await publicStatus(second.key)).toBe(404);
  });

  it('builds avatarUrl from the key, over a URL a social sign-in left', async () => {
    const carol = await createUser(stack, 'Carol');
    await stack.dataSource.query(`UPDATE users SET avatar_url = 'https://lh3.googleusercontent.test/carol.png' WHERE id = $1`, [carol.userId]);
    expect(await profile(carol)).toMatchObject({ avatarUrl: 'https://lh3.googleusercontent.test/carol.png' });
    const file = await uploaded(carol, 'avatar', 'image/png', pngImage(64, 64));
    await as(carol).patch('/me', { avatarKey: file.key });
    expect(await profile(carol)).toMatchObject({ avatarUrl: file.url });
  });
});

describe('the store and the verification refuse what is not what was declared', () => {
  it('refuses at the store a PUT of another length than the signed one; completion then finds nothing', async () => {
    const png = pngImage(100, 100);
    const started = await start(alice, 'avatar', 'image/png', png.length);
    const shorter = png.subarray(0, png.length - 10);
    expect(await put(started, shorter, { ...started.headers, 'Content-Length': String(shorter.length) })).toBe(403);
    expect(await put(started, png, { ...started.headers, 'Content-Type': 'text/html' })).toBe(403);
    expect(refusal(await complete(alice, started.uploadId))).toEqual({ status: 409, code: 'MEDIA_NOT_UPLOADED' });
    expect(await uploadRow(started.uploadId)).toMatchObject({ status: 'pending' });
  });

  it('rejects a file declared image/png that is not a PNG, and deletes it', async () => {
    const fake = Buffer.from('<html><body>not a picture at all, but declared as one</body></html>');
    const started = await start(alice, 'avatar', 'image/png', fake.length);
    expect(await put(started, fake)).toBe(200);
    expect(await publicStatus(started.key)).toBe(200);

    const refused = await complete(alice, started.uploadId);
    expect(refusal(refused)).toEqual({ status: 422, code: 'MEDIA_CONTENT_MISMATCH' });
    expect(await publicStatus(started.key)).toBe(404);
    expect((await as(alice).get(`/media/uploads/${started.uploadId}`)).body).toMatchObject({
      status: 'rejected',
      url: null,
      rejection: { code: 'MEDIA_CONTENT_MISMATCH' },
    });
    expect(refusal(await complete(alice, started.uploadId))).toEqual({ status: 422, code: 'MEDIA_CONTENT_MISMATCH' });
    expect(refusal(await as(alice).patch('/me', { avatarKey: started.key }))).toEqual({ status: 409, code: 'MEDIA_NOT_READY' });
  });

  it.each([
    ['an avatar smaller than 64 px', 'avatar', pngImage(32, 32)],
    ['an avatar more than 2:1', 'avatar', pngImage(400, 100)],
    ['a cover narrower than 320 px', 'room-cover', pngImage(300, 200)],
    ['a cover wider than 4096 px', 'room-cover', pngImage(4100, 200)],
  ])('rejects %s: 422 MEDIA_DIMENSIONS_OUT_OF_RANGE, object deleted', async (_, kind, file) => {
    const started = await start(alice, kind, 'image/png', file.length);
    expect(await put(started, file)).toBe(200);
    expect(refusal(await complete(alice, started.uploadId))).toEqual({ status: 422, code: 'MEDIA_DIMENSIONS_OUT_OF_RANGE' });
    expect(await publicStatus(started.key)).toBe(404);
  });

  it('refuses to start uploads of a type, size or kind the caller may not, recording nothing', async () => {
    const before = await stack.dataSource.query(`SELECT count(*)::int AS n FROM media_uploads WHERE owner_id = $1`, [bob.userId]);
    expect(refusal(await as(bob).post('/media/uploads', { kind: 'avatar', contentType: 'image/gif', bytes: 100 }))).toEqual({ status: 422, code: 'MEDIA_TYPE_NOT_ALLOWED' });
    expect(refusal(await as(bob).post('/media/uploads', { kind: 'avatar', contentType: 'image/png', bytes: 5 * 1024 * 1024 + 1 }))).toEqual({
      status: 422,
      code: 'MEDIA_TOO_LARGE',
    });
    expect(refusal(await as(bob).post('/media/uploads', { kind: 'gift-animation', contentType: 'video/mp4', bytes: 100 }))).toEqual({ status: 403, code: 'MEDIA_STAFF_ONLY' });
    expect(refusal(await as(bob).post('/media/uploads', { kind: 'avatar', contentType: 'image/png', bytes: 0 }))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    expect(await stack.dataSource.query(`SELECT count(*)::int AS n FROM media_uploads WHERE owner_id = $1`, [bob.userId])).toEqual(before);
  });

  it('limits uploads per user per hour: 429 RATE_LIMITED with Retry-After', async () => {
    const limited = await startApi(stack, { ...UNLIMITED_RATES, MEDIA_UPLOADS_PER_USER_PER_HOUR: 2 });
    try {
      const dave = await createUser(stack, 'Dave');
      const limitedClient = apiClient(limited.url).as(dave);
      for (let i = 0; i < 2; i++) expect((await limitedClient.post('/media/uploads', { kind: 'avatar', contentType: 'image/png', bytes: 100 })).status).toBe(201);
      const third = await limitedClient.post('/media/uploads', { kind: 'avatar', contentType: 'image/png', bytes: 100 });
      expect(refusal(third)).toEqual({ status: 429, code: 'RATE_LIMITED' });
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });

  it('answers 410 MEDIA_UPLOAD_EXPIRED for an upload completed after its URL and grace ran out', async () => {
    const png = pngImage(80, 80);
    const started = await start(alice, 'avatar', 'image/png', png.length);
    expect(await put(started, png)).toBe(200);
    await stack.dataSource.query(`UPDATE media_uploads SET expires_at = now() - interval '1 day' WHERE id = $1`, [started.uploadId]);
    expect(refusal(await complete(alice, started.uploadId))).toEqual({ status: 410, code: 'MEDIA_UPLOAD_EXPIRED' });
  });

  it('shows an upload to its owner only', async () => {
    const started = await start(alice, 'avatar', 'image/png', 100);
    expect(refusal(await as(bob).get(`/media/uploads/${started.uploadId}`))).toEqual({ status: 404, code: 'MEDIA_UPLOAD_NOT_FOUND' });
    expect(refusal(await complete(bob, started.uploadId))).toEqual({ status: 404, code: 'MEDIA_UPLOAD_NOT_FOUND' });
    expect((await as(alice).get(`/media/uploads/${started.uploadId}`)).body).toMatchObject({ status: 'pending', url: null });
  });
});

describe('what a profile accepts as its avatar', () => {
  it('refuses someone else\'s key, a pending key, a key of another kind and any URL, changing nothing', async () => {
    const erin = await createUser(stack, 'Erin');
    const before = await profile(erin);
    const alices = await uploaded(alice, 'avatar', 'image/png', pngImage(70, 70));
    const pending = await start(erin, 'avatar', 'image/png', 100);
    const cover = await uploaded(erin, 'room-cover', 'image/png', pngImage(320, 180));

    expect(refusal(await as(erin).patch('/me', { avatarKey: alices.key }))).toEqual({ status: 422, code: 'MEDIA_KEY_UNKNOWN' });
    expect(refusal(await as(erin).patch('/me', { avatarKey: pending.key, displayName: 'Changed' }))).toEqual({ status: 409, code: 'MEDIA_NOT_READY' });
    expect(refusal(await as(erin).patch('/me', { avatarKey: cover.key }))).toEqual({ status: 422, code: 'MEDIA_KIND_MISMATCH' });
    expect(refusal(await as(erin).patch('/me', { avatarKey: `avatar/${erin.userId}/${randomUUID()}.png` }))).toEqual({ status: 422, code: 'MEDIA_KEY_UNKNOWN' });
    expect(refusal(await as(erin).patch('/me', { avatarKey: alices.url }))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    expect(refusal(await as(erin).patch('/me', { avatarUrl: alices.url }))).toEqual({ status: 400, code: 'MEDIA_URL_NOT_ACCEPTED' });
    expect(await profile(erin)).toEqual(before);
    expect(await uploadRow(alices.uploadId)).toEqual({ status: 'ready', used_by: null });
  });

  it('refuses a file already in use elsewhere', async () => {
    const file = await uploaded(alice, 'room-cover', 'image/png', pngImage(640, 360));
    const room = (await as(alice).post<{ id: string }>('/rooms', { type: 'voice', name: 'Cover twice', seatCount: 8 })).body;
    const other = (await as(alice).post<{ id: string }>('/rooms', { type: 'voice', name: 'Cover twice 2', seatCount: 8 })).body;
    try {
      expect((await as(alice).patch(`/rooms/${room.id}`, { coverKey: file.key })).status).toBe(200);
      expect(refusal(await as(alice).patch(`/rooms/${other.id}`, { coverKey: file.key }))).toEqual({ status: 409, code: 'MEDIA_IN_USE' });
    } finally {
      await as(alice).post(`/rooms/${room.id}/close`);
      await as(alice).post(`/rooms/${other.id}/close`);
    }
  });
});

describe('room covers', () => {
  it('are set by the owner or an admin from their own upload, never by a member; the view builds coverUrl from the key', async () => {
    const [owner, admin, member] = [await createUser(stack, 'Owner'), await createUser(stack, 'Admin'), await createUser(stack, 'Member')];
    const room = (await as(owner).post<{ id: string; coverUrl: string | null }>('/rooms', { type: 'voice', name: 'Covered', seatCount: 8 })).body;
    try {
      expect(room.coverUrl).toBeNull();
      expect((await as(owner).put(`/rooms/${room.id}/admins/${admin.userId}`)).status).toBe(204);

      const membersCover = await uploaded(member, 'room-cover', 'image/png', pngImage(400, 225));
      expect(refusal(await as(member).patch(`/rooms/${room.id}`, { coverKey: membersCover.key }))).toEqual({ status: 403, code: 'MODERATOR_REQUIRED' });
      expect(await uploadRow(membersCover.uploadId)).toEqual({ status: 'ready', used_by: null });

      const adminsCover = await uploaded(admin, 'room-cover', 'image/png', pngImage(1280, 720, 9));
      const set = await as(admin).patch<{ coverUrl: string }>(`/rooms/${room.id}`, { coverKey: adminsCover.key });
      expect(set.status).toBe(200);
      expect(set.body.coverUrl).toBe(`${stack.config.MEDIA_CDN_BASE_URL}/${adminsCover.key}`);
      expect((await as(member).get(`/rooms/${room.id}`)).body).toMatchObject({ coverUrl: adminsCover.url });

      // The admin's file is not the owner's to use; the owner's own replaces it, and it leaves the store.
      expect(refusal(await as(owner).patch(`/rooms/${room.id}`, { coverKey: membersCover.key }))).toEqual({ status: 422, code: 'MEDIA_KEY_UNKNOWN' });
      const ownersCover = await uploaded(owner, 'room-cover', 'image/png', pngImage(320, 180));
      expect((await as(owner).patch(`/rooms/${room.id}`, { coverKey: ownersCover.key, topic: 'new cover' })).body).toMatchObject({
        coverUrl: ownersCover.url,
        topic: 'new cover',
      });
      expect(await publicStatus(adminsCover.key)).toBe(404);

      const log: { items: { action: string; details: unknown }[] } = (await as(owner).get<{ items: { action: string; details: unknown }[] }>(`/rooms/${room.id}/moderation-log`)).body;
      expect(log.items.filter((e) => e.action === 'update-room').length).toBe(2);

      expect((await as(owner).patch(`/rooms/${room.id}`, { coverKey: null })).body).toMatchObject({ coverUrl: null });
      expect(await publicStatus(ownersCover.key)).toBe(404);
    } finally {
      await as(owner).post(`/rooms/${room.id}/close`);
    }
  });
});

describe('gift animations, by staff', () => {
  let staff: TestUser;
  let original: unknown;

  beforeAll(async () => {
    staff = await createUser(stack, 'Staff');
    await stack.dataSource.query(`INSERT INTO staff_members (user_id, granted_by) VALUES ($1, 'media test')`, [staff.userId]);
    [{ animation: original }] = await stack.dataSource.query(`SELECT animation FROM gifts WHERE id = 'rose'`);
  });

  afterAll(async () => {
    // The catalog is shared by the run's other suites: the seed's animation goes back.
    await stack.dataSource.query(`UPDATE gifts SET animation = $1 WHERE id = 'rose'`, [JSON.stringify(original)]);
  });

  it('uploads an SVGA and sets it as a gift\'s animation: audited, and the catalog (and its ETag) follows', async () => {
    const before = await as(alice).get<{ categories: { gifts: { id: string; animation: { url: string } }[] }[] }>('/gifts');
    const etagBefore = before.headers.get('etag');

    const file = await uploaded(staff, 'gift-animation', 'application/octet-stream', svgaFile(4096));
    expect(file.key).toMatch(new RegExp(`^gift-animation/${staff.userId}/[0-9a-f-]{36}\\.svga$`));
    expect(refusal(await as(alice).put('/staff/gifts/rose/animation', { key: file.key }))).toEqual({ status: 403, code: 'STAFF_REQUIRED' });

    const set = await as(staff).put<{ giftId: string; animation: { url: string; format: string }; catalogVersion: string }>('/staff/gifts/rose/animation', { key: file.key });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ giftId: 'rose', animation: { format: 'svga', url: file.url, durationMs: 2000, display: 'banner' }, catalogVersion: expect.any(String) });

    const audit: { changed_by: string; before: { url: string }; after: { url: string } }[] = await stack.dataSource.query(
      `SELECT changed_by, before, after FROM gift_catalog_changes WHERE gift_id = 'rose' ORDER BY id DESC LIMIT 1`,
    );
    expect(audit).toEqual([{ changed_by: staff.userId, before: expect.objectContaining({ url: (original as { url: string }).url }), after: expect.objectContaining({ url: file.url }) }]);

    const after = await as(alice).get<{ categories: { gifts: { id: string; animation: { url: string } }[] }[] }>('/gifts');
    const rose = after.body.categories.flatMap((c) => c.gifts).find((g) => g.id === 'rose');
    expect(rose?.animation.url).toBe(file.url);
    expect(after.headers.get('etag')).not.toBe(etagBefore);
  });

  it('refuses a format the file cannot play, a file of another kind and an unknown gift', async () => {
    const json = Buffer.from('{"v":"5.7.0","fr":30,"layers":[]}');
    const lottie = await uploaded(staff, 'gift-animation', 'application/json', json);
    expect(refusal(await as(staff).put('/staff/gifts/heart/animation', { key: lottie.key, format: 'vap' }))).toEqual({ status: 422, code: 'MEDIA_KIND_MISMATCH' });
    expect(refusal(await as(staff).put('/staff/gifts/no-such-gift/animation', { key: lottie.key }))).toEqual({ status: 404, code: 'GIFT_NOT_FOUND' });
    const avatar = await uploaded(staff, 'avatar', 'image/png', pngImage(64, 64));
    expect(refusal(await as(staff).put('/staff/gifts/heart/animation', { key: avatar.key }))).toEqual({ status: 422, code: 'MEDIA_KIND_MISMATCH' });
    expect(await uploadRow(lottie.uploadId)).toEqual({ status: 'ready', used_by: null });
  });
});

describe('when the object store stalls or is gone', () => {
  let stalled: net.Server;
  const held: net.Socket[] = [];

  beforeAll(async () => {
    // Accepts connections and never answers a byte.
    stalled = net.createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => stalled.close(() => resolve()));
  });

  it.each([
    ['stalls', () => `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`],
    ['refuses connections', () => 'http://127.0.0.1:1'],
  ])('answers 503 DEPENDENCY_UNAVAILABLE with Retry-After when it %s, and the upload stays pending', async (_, endpoint) => {
    const broken = await startApi(stack, { ...MEDIA_SETTINGS, S3_ENDPOINT: endpoint(), MEDIA_STORE_TIMEOUT_MS: 300, MEDIA_STORE_ATTEMPTS: 2 });
    try {
      const frank = apiClient(broken.url).as(await createUser(stack, 'Frank'));
      // Signing is local: the upload starts; completing must reach the store.
      const started = (await frank.post<Started>('/media/uploads', { kind: 'avatar', contentType: 'image/png', bytes: 100 })).body;
      const reply = await frank.post(`/media/uploads/${started.uploadId}/complete`);
      expect(refusal(reply)).toEqual({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
      expect(reply.headers.get('retry-after')).toBe('2');
      expect(await uploadRow(started.uploadId)).toMatchObject({ status: 'pending' });
    } finally {
      await broken.close();
    }
  });
});

describe('the sweep', () => {
  it('deletes uploads left pending past their expiry (objects and rows), and leaves files in use alone', async () => {
    const png = pngImage(90, 90);
    const uploadedNotCompleted = await start(alice, 'avatar', 'image/png', png.length);
    expect(await put(uploadedNotCompleted, png)).toBe(200);
    const neverUploaded = await start(alice, 'avatar', 'image/png', 100);
    const inUse = await uploaded(alice, 'avatar', 'image/png', pngImage(100, 100, 5));
    expect((await as(alice).patch('/me', { avatarKey: inUse.key })).status).toBe(200);
    const fresh = await start(alice, 'avatar', 'image/png', 100);
    await stack.dataSource.query(`UPDATE media_uploads SET expires_at = now() - interval '2 hours' WHERE id = ANY($1::uuid[])`, [
      [uploadedNotCompleted.uploadId, neverUploaded.uploadId],
    ]);

    const sweep = createMediaSweep({ config: stack.config, dataSource: stack.dataSource, store, logger: testLogger });
    const result = await sweep.sweep();
    expect(result.failed).toBe(0);
    expect(result.deleted).toBeGreaterThanOrEqual(2);

    expect(await uploadRow(uploadedNotCompleted.uploadId)).toBeUndefined();
    expect(await uploadRow(neverUploaded.uploadId)).toBeUndefined();
    expect(await publicStatus(uploadedNotCompleted.key)).toBe(404);
    expect(await uploadRow(inUse.uploadId)).toEqual({ status: 'ready', used_by: `user:${alice.userId}` });
    expect(await publicStatus(inUse.key)).toBe(200);
    expect(await uploadRow(fresh.uploadId)).toMatchObject({ status: 'pending' });
    expect(await profile(alice)).toMatchObject({ avatarUrl: inUse.url });
  });

  it('deletes completed files nobody used within a day', async () => {
    const unused = await uploaded(bob, 'avatar', 'image/png', pngImage(66, 66));
    await stack.dataSource.query(`UPDATE media_uploads SET completed_at = now() - interval '25 hours' WHERE id = $1`, [unused.uploadId]);
    const sweep = createMediaSweep({ config: stack.config, dataSource: stack.dataSource, store, logger: testLogger });
    await sweep.sweep();
    expect(await uploadRow(unused.uploadId)).toBeUndefined();
    expect(await publicStatus(unused.key)).toBe(404);
  });
});
