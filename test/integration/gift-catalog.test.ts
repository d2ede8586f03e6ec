import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { createApiApp } from '../../api/app';
import { createDataSource } from '../../db/data-source';
import { SEED_CATEGORIES, SEED_GIFTS } from '../../db/migrations/1764500100000-GiftCatalogSeed';
import { AccountBans } from '../../db/repositories/account-bans';
import { GiftCatalogRecords } from '../../db/repositories/gift-catalog';
import { SessionRevocations } from '../../db/repositories/session-revocations';
import type { GiftListing } from '../../domain/economy/catalog';
import { AccessCache } from '../../platform/auth/access-cache';
import { BANS_KEY, BanList } from '../../platform/auth/ban-list';
import { RevokedSessions, revokedSessionKey } from '../../platform/auth/revoked-sessions';
import { createRedis } from '../../platform/redis';
import { migrateAndSeed } from '../../scripts/migrate';
import { startPostgres, type RunningService } from '../../scripts/stack/services';
import { GiftCatalog, GIFT_CATALOG_REDIS_KEY } from '../../services/gifts';
import { startApi, testLogger } from '../support/app-harness';
import { freePort } from '../support/ports';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { UNLIMITED_RATES } from '../support/room-api';

/**
 * The gift catalog: the seeded reference data listed per region (`GET /v1/gifts`), its ETag and
 * 304, and the spec's graceful degradation for catalog data: with PostgreSQL really stopped (a
 * cluster of this suite's own; the shared one serves the other suites), the API keeps answering
 * from its copy, and a freshly started catalog answers from the Redis mirror.
 */
let shared: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let token: string;
let userId: string;

beforeAll(async () => {
  shared = await connectRealStack('gift-catalog');
  api = await startApi(shared, UNLIMITED_RATES);
  const user = await shared.newUser();
  userId = user.id;
  token = await shared.tokens.sign({ userId });
});

afterAll(async () => {
  await api?.close();
  await shared?.close();
});

interface Reply {
  status: number;
  etag: string | null;
  headers: Headers;
  text: string;
  body: GiftListing & { error?: { code: string } };
}

async function getGifts(baseUrl: string, query = '', headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${baseUrl}/v1/gifts${query}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  const text = await res.text();
  return { status: res.status, etag: res.headers.get('etag'), headers: res.headers, text, body: text ? JSON.parse(text) : null };
}

const category = (listing: GiftListing, id: string) => listing.categories.find((c) => c.id === id);
// Other suites add gifts of their own to the shared database: only the seeded ones are compared.
const seededGiftIds = new Set(SEED_GIFTS.map((g) => g.id));
const giftIds = (listing: GiftListing) => listing.categories.flatMap((c) => c.gifts.map((g) => g.id)).filter((id) => seededGiftIds.has(id));
const seededCategoryIds = (listing: GiftListing) => listing.categories.map((c) => c.id).filter((id) => SEED_CATEGORIES.some((c) => c.id === id));
const gift = (listing: GiftListing, id: string) => listing.categories.flatMap((c) => c.gifts).find((g) => g.id === id);

describe('GET /v1/gifts', () => {
  it('lists the seeded catalog for a region: its country gifts, its prices, no disabled gift, VIP gifts with their tier', async () => {
    const india = await getGifts(api.url, '?region=IN');
    expect(india.status).toBe(200);
    expect(india.body.region).toBe('IN');
    expect(seededCategoryIds(india.body)).toEqual(['popular', 'lucky', 'vip', 'cp', 'country']);
    expect(category(india.body, 'country')!.gifts.map((g) => g.id)).toEqual(['cricket-bat', 'taj-mahal']);
    expect(gift(india.body, 'teddy-bear')!.priceCoins).toBe(79); // the regional price
    expect(gift(india.body, 'lucky-star')!.priceCoins).toBe(100);
    expect(giftIds(india.body)).not.toContain('balloon');
    expect(gift(india.body, 'vip-crown')).toMatchObject({ minVipTier: 1 });
    expect(gift(india.body, 'vip-dragon')).toMatchObject({ minVipTier: 3 });
    expect(gift(india.body, 'cp-ring')).toBeDefined();
    expect(category(india.body, 'popular')!.gifts.map((g) => g.id)).toEqual(['rose', 'heart', 'lollipop', 'kiss', 'teddy-bear', 'perfume', 'sports-car', 'rocket', 'castle']);
    expect(gift(india.body, 'rose')).toEqual({
      id: 'rose',
      name: 'Rose',
      names: { en: 'Rose', ar: 'وردة', hi: 'गुलाब' },
      priceCoins: 1,
      diamondValue: 1,
      minVipTier: 0,
      sortOrder: 10,
      animation: { format: 'svga', url: 'https://cdn.aura.example/gifts/rose.svga', durationMs: 2000, display: 'banner' },
    });
    expect(gift(india.body, 'rocket')!.animation).toMatchObject({ format: 'vap', display: 'fullscreen', soundUrl: 'https://cdn.aura.example/gifts/rocket.mp3' });

    const saudi = await getGifts(api.url, '?region=SA');
    expect(category(saudi.body, 'country')!.gifts.map((g) => g.id)).toEqual(['falcon']);
    expect(gift(saudi.body, 'teddy-bear')!.priceCoins).toBe(99);
    const egypt = await getGifts(api.url, '?region=EG');
    expect(category(egypt.body, 'country')!.gifts.map((g) => g.id)).toEqual(['pyramids']);
    expect(gift(egypt.body, 'lucky-star')!.priceCoins).toBe(80);

    // Every enabled seeded gift offered everywhere is listed everywhere.
    const everywhere = SEED_GIFTS.filter((g) => g.enabled !== false && !g.regions).map((g) => g.id).sort();
    const france = await getGifts(api.url, '?region=FR');
    expect(giftIds(france.body).sort()).toEqual(everywhere);
    expect(category(france.body, 'country')).toBeUndefined(); // nothing to offer there: no empty tab
  });

  it('defaults to the caller\'s profile region, and to none', async () => {
    const none = await getGifts(api.url);
    expect(none.status).toBe(200);
    expect(none.body.region).toBeNull();
    expect(category(none.body, 'country')).toBeUndefined();

    await shared.dataSource.query(`UPDATE users SET region = 'PK' WHERE id = $1`, [userId]);
    const pakistan = await getGifts(api.url);
    expect(pakistan.body.region).toBe('PK');
    expect(category(pakistan.body, 'country')!.gifts.map((g) => g.id)).toEqual(['cricket-bat', 'minar-e-pakistan']);
    expect(gift(pakistan.body, 'teddy-bear')!.priceCoins).toBe(79);
    // An explicit region wins over the profile's.
    expect((await getGifts(api.url, '?region=IN')).body.region).toBe('IN');
  });

  it('names things in the caller\'s language, falling back to English', async () => {
    const arabic = await getGifts(api.url, '?region=IN', { 'accept-language': 'ar-EG, en;q=0.5' });
    expect(gift(arabic.body, 'rose')!.name).toBe('وردة');
    expect(category(arabic.body, 'popular')!.name).toBe('الأكثر شيوعًا');
    const hindi = await getGifts(api.url, '?region=IN', { 'accept-language': 'fr-FR, hi;q=0.8, ar;q=0.2' });
    expect(gift(hindi.body, 'rose')!.name).toBe('गुलाब');
    const other = await getGifts(api.url, '?region=IN', { 'accept-language': 'de, ;;q=x, *' });
    expect(gift(other.body, 'rose')!.name).toBe('Rose');
    expect(hindi.etag).not.toBe(arabic.etag);
  });

  it('answers 304 to a matching If-None-Match; the ETag is per region', async () => {
    const first = await getGifts(api.url, '?region=IN');
    expect(first.etag).toMatch(/^"[\w-]{32}"$/);
    expect(first.headers.get('cache-control')).toBe('private, max-age=60');
    const again = await getGifts(api.url, '?region=IN');
    expect(again.etag).toBe(first.etag);
    expect(again.text).toBe(first.text);

    const notModified = await getGifts(api.url, '?region=IN', { 'if-none-match': first.etag! });
    expect(notModified.status).toBe(304);
    expect(notModified.text).toBe('');
    expect(notModified.etag).toBe(first.etag);
    const listed = await getGifts(api.url, '?region=IN', { 'if-none-match': `"stale", W/${first.etag!}` });
    expect(listed.status).toBe(304);

    const egypt = await getGifts(api.url, '?region=EG');
    expect(egypt.etag).not.toBe(first.etag);
    expect((await getGifts(api.url, '?region=EG', { 'if-none-match': first.etag! })).status).toBe(200);
  });

  it('refuses a malformed region', async () => {
    for (const query of ['?region=in', '?region=IND', '?region=', '?region=I%00', '?region=IN&region=PK', '?country=IN']) {
      const reply = await getGifts(api.url, query);
      expect({ query, status: reply.status }).toEqual({ query, status: 400 });
    }
  });
});

/** Polls a condition that turns true on its own (a copy going stale); fails after `withinMs`. */
async function waitUntil(condition: () => boolean, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('the condition did not come true in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('with PostgreSQL stopped', () => {
  let dir: string;
  let postgres: RunningService;
  let dataSource: DataSource;
  /** A Redis database of its own for the mirror: the shared API's catalog mirrors to database 0. */
  let mirror: Redis;
  let catalog: GiftCatalog;
  let registry: Registry;
  let accessCache: AccessCache;
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    dir = mkdtempSync('/tmp/aura-gifts-pg-');
    chmodSync(dir, 0o755); // the postgres account must reach its data dir
    postgres = await startPostgres({ dataDir: join(dir, 'postgres'), port: await freePort(), database: 'aura_gifts', output: { file: join(dir, 'postgres.log') } });
    await migrateAndSeed(postgres.url, { seed: false });
    dataSource = await createDataSource({ url: postgres.url, poolSize: 4, applicationName: 'test-gift-catalog' }).initialize();
    // This cluster's catalog differs from the shared one, so an answer shows where it came from.
    await dataSource.query(`UPDATE gifts SET price_coins = 2, updated_at = now() WHERE id = 'rose'`);

    mirror = createRedis(shared.config.REDIS_URL.replace(/\/\d+$/, '/1'), { name: 'test-gift-mirror' });
    await mirror.del(GIFT_CATALOG_REDIS_KEY);
    registry = new Registry();
    // A short period: reads while PostgreSQL is down keep setting off refreshes, and must not wait for them.
    catalog = new GiftCatalog({ source: new GiftCatalogRecords(dataSource), redis: mirror, logger: testLogger, refreshMs: 100, registry });
    await catalog.start();

    // The production settings: once the in-memory access copy is 3 s old (it can't resync from a
    // stopped PostgreSQL), session checks fall back to Redis's sign-out markers.
    const bans = new AccountBans(dataSource);
    const revocations = new SessionRevocations(dataSource);
    accessCache = new AccessCache(shared.redis, bans, revocations, testLogger);
    // Redis holds the ban list (loaded from PostgreSQL once, as every running stack has it).
    const banList = new BanList(shared.redis, { records: bans, cache: accessCache });
    await banList.reload();
    await accessCache.start();
    const app = createApiApp({
      config: { ...shared.config, ...UNLIMITED_RATES, DATABASE_URL: postgres.url },
      dataSource,
      redis: shared.redis,
      temporal: shared.temporal,
      tokens: shared.tokens,
      logger: testLogger,
      access: { cache: accessCache, bans: banList, revokedSessions: new RevokedSessions(shared.redis, { records: revocations, cache: accessCache }) },
      gifts: catalog,
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    // The shared Redis's ban list came from this suite's own PostgreSQL: the next reader reloads it
    // from the shared one.
    await shared.redis.del(BANS_KEY);
    await catalog?.stop();
    await accessCache?.stop();
    mirror?.disconnect();
    await dataSource?.destroy().catch(() => undefined);
    await postgres?.process.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps answering from the copy, with the same ETag and 304s; a fresh catalog answers from Redis; with no copy anywhere, 503', async () => {
    const warm = await getGifts(baseUrl, '?region=IN');
    expect(warm.status).toBe(200);
    expect(gift(warm.body, 'rose')!.priceCoins).toBe(2);
    const warmNone = await getGifts(baseUrl);
    expect(warmNone.body.region).toBeNull(); // the profile lookup ran against PostgreSQL: no such user here
    expect(await mirror.exists(GIFT_CATALOG_REDIS_KEY)).toBe(1);

    await postgres.process.stop();
    await expect(dataSource.query('SELECT 1')).rejects.toThrow();
    await expect(catalog.refresh()).rejects.toThrow();
    expect(catalog.databaseAnswering).toBe(false);
    // Past the access copy's freshness (it can't resync without PostgreSQL): from here the session
    // checks answer from Redis's sign-out markers, as they would in production.
    await waitUntil(() => !accessCache.fresh(), 10_000);

    for (let i = 0; i < 3; i++) {
      const down = await getGifts(baseUrl, '?region=IN');
      expect(down.status).toBe(200);
      expect(down.etag).toBe(warm.etag);
      expect(down.text).toBe(warm.text);
      const notModified = await getGifts(baseUrl, '?region=IN', { 'if-none-match': warm.etag! });
      expect(notModified.status).toBe(304);
      expect(notModified.etag).toBe(warm.etag);
    }
    // A signed-out session stays refused: its Redis marker answers for PostgreSQL.
    const signedOut = randomUUID();
    await shared.redis.set(revokedSessionKey(signedOut), '1', 'EX', 60);
    const revoked = await fetch(`${baseUrl}/v1/gifts?region=IN`, {
      headers: { authorization: `Bearer ${await shared.tokens.sign({ userId: randomUUID(), sessionId: signedOut })}` },
    });
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as { error: { code: string } }).error.code).toBe('SESSION_REVOKED');

    // No region given: the profile lookup would need PostgreSQL, so the panel has none.
    const none = await getGifts(baseUrl);
    expect(none.status).toBe(200);
    expect(none.etag).toBe(warmNone.etag);
    expect((await catalog.gift('rose'))!.priceCoins).toBe(2);
    const failures = (await registry.getSingleMetric('aura_gift_catalog_refresh_failures_total')!.get()).values[0]!.value;
    expect(failures).toBeGreaterThanOrEqual(1);

    // A process started now: no copy in memory, PostgreSQL down, the Redis mirror answers.
    const fresh = new GiftCatalog({ source: new GiftCatalogRecords(dataSource), redis: mirror, logger: testLogger, refreshMs: 100 });
    await fresh.start();
    try {
      expect((await fresh.listFor('IN')).etag).toBe(warm.etag);
      expect((await fresh.gift('rose'))!.priceCoins).toBe(2);
      expect(await fresh.gift('balloon')).toMatchObject({ enabled: false });
      expect(await fresh.gift('no-such-gift')).toBeNull();
    } finally {
      await fresh.stop();
    }

    // Nothing anywhere: the catalog says so (503) rather than answering an empty panel.
    await mirror.del(GIFT_CATALOG_REDIS_KEY);
    const bare = new GiftCatalog({ source: new GiftCatalogRecords(dataSource), redis: mirror, logger: testLogger, refreshMs: 100 });
    await expect(bare.listFor('IN')).rejects.toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
    await expect(bare.gift('rose')).rejects.toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
    await bare.stop();
  });
});
