import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Counter, Gauge, type Registry } from 'prom-client';
import { catalogLanguages, listGifts, preferredLanguage, type GiftCatalogData, type GiftListing } from '../../domain/economy/catalog';
import { AppError, ErrorCode } from '../../domain/errors';
import type { CatalogGift } from '../../domain/economy/gifts';
import type { Logger } from '../../platform/logging';

/** Where every process mirrors the catalog, so a process started while PostgreSQL is down can answer. */
export const GIFT_CATALOG_REDIS_KEY = 'aura:gift-catalog';

/** The record (PostgreSQL): db/repositories/gift-catalog.ts. */
export interface GiftCatalogSource {
  load(): Promise<GiftCatalogData>;
}

/** One region's listing, serialized once per catalog version, with its strong ETag. */
export interface RenderedListing {
  listing: GiftListing;
  json: string;
  etag: string;
}

interface Copy {
  data: GiftCatalogData;
  byId: Map<string, CatalogGift>;
  languages: Set<string>;
  /** By `${region}|${language}`: at most ~680 regions × the catalog's languages. */
  rendered: Map<string, RenderedListing>;
}

export interface GiftCatalogOptions {
  source: GiftCatalogSource;
  redis: Redis;
  logger: Logger;
  /** How often the copy is re-read from PostgreSQL (GIFT_CATALOG_REFRESH_MS). */
  refreshMs: number;
  /** Where the refresh metrics are scraped (the process's /metrics). */
  registry?: Registry;
  clock?: () => number;
}

/**
 * The gift catalog, cache first (the spec's graceful degradation). Each process keeps the whole
 * catalog in memory and re-reads it from PostgreSQL in the background every `refreshMs` (and on
 * a read that finds it older, for a process that was never started); each successful read is
 * mirrored to Redis. Reads never wait on PostgreSQL once there is a copy: a failed refresh keeps
 * the last copy (a warning and `aura_gift_catalog_refresh_failures_total`). A process with no
 * copy yet takes Redis's, then PostgreSQL's; with neither it answers DEPENDENCY_UNAVAILABLE.
 */
export class GiftCatalog {
  private copy: Copy | null = null;
  /** When PostgreSQL last answered a refresh (0: never). */
  private refreshedAt = 0;
  /** When the last refresh was tried, whatever came of it (reads trigger one past refreshMs). */
  private triedAt = 0;
  private lastRefreshFailed = false;
  private refreshing: Promise<void> | null = null;
  private coldLoad: Promise<Copy> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly clock: () => number;
  private readonly failures: Counter;

  constructor(private readonly options: GiftCatalogOptions) {
    this.clock = options.clock ?? Date.now;
    const registers = options.registry ? [options.registry] : [];
    this.failures = new Counter({
      name: 'aura_gift_catalog_refresh_failures_total',
      help: 'Gift catalog refreshes from PostgreSQL that failed (the last copy kept serving)',
      registers,
    });
    const age = () => (this.refreshedAt ? (this.clock() - this.refreshedAt) / 1000 : -1);
    new Gauge({
      name: 'aura_gift_catalog_age_seconds',
      help: 'Seconds since this process last read the gift catalog from PostgreSQL (-1: never)',
      registers,
      collect() {
        this.set(age());
      },
    });
  }

  /** Loads a copy (PostgreSQL, else Redis; neither is not fatal: reads retry) and keeps refreshing it. */
  async start(): Promise<void> {
    await this.refresh().catch(() => undefined);
    if (!this.copy) await this.current().catch(() => undefined);
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), this.options.refreshMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.refreshing?.catch(() => undefined);
  }

  /** Whether PostgreSQL answered the last refresh (false before the first): callers may skip asking it meanwhile. */
  get databaseAnswering(): boolean {
    return this.refreshedAt > 0 && !this.lastRefreshFailed;
  }

  /** The catalog's version in this process's copy (null: none yet). */
  get version(): string | null {
    return this.copy?.data.version ?? null;
  }

  /** A gift, enabled or not (the send path decides with `offerTo`); null if the catalog has no such id. */
  async gift(id: string): Promise<CatalogGift | null> {
    return (await this.current()).byId.get(id) ?? null;
  }

  /** The gift panel for a region (null: gifts offered everywhere only), names in the caller's language. */
  async listFor(region: string | null, acceptLanguage?: string): Promise<RenderedListing> {
    const copy = await this.current();
    const language = preferredLanguage(acceptLanguage, copy.languages);
    const key = `${region ?? ''}|${language}`;
    let rendered = copy.rendered.get(key);
    if (!rendered) {
      const listing = listGifts(copy.data, region, language);
      const json = JSON.stringify(listing);
      rendered = { listing, json, etag: `"${createHash('sha256').update(json).digest('base64url').slice(0, 32)}"` };
      copy.rendered.set(key, rendered);
    }
    return rendered;
  }

  /**
   * Re-reads the catalog from PostgreSQL (one at a time: concurrent calls share it) and mirrors
   * it to Redis. Rejects if PostgreSQL fails; the copy in hand stays.
   */
  refresh(): Promise<void> {
    this.refreshing ??= this.refreshOnce().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async refreshOnce(): Promise<void> {
    this.triedAt = this.clock();
    let data: GiftCatalogData;
    try {
      data = await this.options.source.load();
    } catch (err) {
      this.lastRefreshFailed = true;
      this.failures.inc();
      this.options.logger.warn(
        { err, version: this.version },
        this.copy ? 'gift catalog refresh failed; serving the last copy' : 'gift catalog refresh failed and there is no copy yet',
      );
      throw err;
    }
    this.lastRefreshFailed = false;
    this.refreshedAt = this.clock();
    if (this.copy?.data.version !== data.version) this.install(data);
    // Every time, not only on a change: a flushed or restarted Redis gets it back within refreshMs.
    await this.options.redis
      .set(GIFT_CATALOG_REDIS_KEY, JSON.stringify(data))
      .catch((err: unknown) => this.options.logger.warn({ err }, 'gift catalog could not be mirrored to Redis'));
  }

  /** The copy in hand (a refresh behind it when it is old), else a cold load. */
  private current(): Promise<Copy> {
    const copy = this.copy;
    if (copy) {
      if (this.clock() - this.triedAt >= this.options.refreshMs) void this.refresh().catch(() => undefined);
      return Promise.resolve(copy);
    }
    this.coldLoad ??= this.loadCold().finally(() => {
      this.coldLoad = null;
    });
    return this.coldLoad;
  }

  /** Redis's mirror first (it answers while PostgreSQL is down; PostgreSQL's newer copy follows in the background), then PostgreSQL. */
  private async loadCold(): Promise<Copy> {
    const mirrored = await this.fromRedis();
    if (this.copy) return this.copy; // a refresh got there first, with PostgreSQL's
    if (mirrored) {
      const copy = this.install(mirrored);
      void this.refresh().catch(() => undefined);
      return copy;
    }
    try {
      await this.refresh();
    } catch {
      // Logged by the refresh.
    }
    if (this.copy) return this.copy;
    throw new AppError(ErrorCode.DependencyUnavailable, 'the gift catalog is unavailable; retry shortly');
  }

  private async fromRedis(): Promise<GiftCatalogData | null> {
    try {
      const text = await this.options.redis.get(GIFT_CATALOG_REDIS_KEY);
      if (!text) return null;
      const data = JSON.parse(text) as GiftCatalogData;
      if (typeof data?.version !== 'string' || !Array.isArray(data.categories) || !Array.isArray(data.gifts)) {
        this.options.logger.warn('the gift catalog mirrored in Redis is malformed; ignoring it');
        return null;
      }
      return data;
    } catch (err) {
      this.options.logger.warn({ err }, 'gift catalog could not be read from Redis');
      return null;
    }
  }

  private install(data: GiftCatalogData): Copy {
    const copy: Copy = {
      data,
      byId: new Map(data.gifts.map((g) => [g.id, g])),
      languages: catalogLanguages(data),
      rendered: new Map(),
    };
    this.copy = copy;
    return copy;
  }
}
