import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import type { Config } from '../../config';
import { GiftCatalogRecords } from '../../db/repositories/gift-catalog';
import { isDatabaseUnavailable } from '../../platform/dependency-errors';
import type { Logger } from '../../platform/logging';
import { GiftCatalog } from './catalog';

export { GiftCatalog, GIFT_CATALOG_REDIS_KEY, type RenderedListing } from './catalog';

/** The catalog over the real stores, as the API builds it (`start()` it for the background refresh). */
export function createGiftCatalog(deps: {
  config: Pick<Config, 'GIFT_CATALOG_REFRESH_MS'>;
  dataSource: DataSource;
  redis: Redis;
  logger: Logger;
  registry?: Registry;
}): GiftCatalog {
  return new GiftCatalog({
    source: new GiftCatalogRecords(deps.dataSource),
    redis: deps.redis,
    logger: deps.logger,
    refreshMs: deps.config.GIFT_CATALOG_REFRESH_MS,
    ...(deps.registry ? { registry: deps.registry } : {}),
  });
}

/** The most a listing waits for the caller's profile region before listing without one. */
export const VIEWER_REGION_WAIT_MS = 1_000;

/**
 * The region a listing defaults to: the caller's profile region, one primary-key read. The
 * catalog answers while PostgreSQL is down, so this must not take it down with it: while the
 * catalog's own refreshes fail it does not ask, and a read that fails or takes longer than
 * VIEWER_REGION_WAIT_MS answers "no region" (gifts offered everywhere).
 */
export class ViewerRegions {
  private readonly records: GiftCatalogRecords;

  constructor(
    dataSource: DataSource,
    private readonly catalog: GiftCatalog,
    private readonly logger: Logger,
    private readonly waitMs = VIEWER_REGION_WAIT_MS,
  ) {
    this.records = new GiftCatalogRecords(dataSource);
  }

  async of(userId: string): Promise<string | null> {
    if (!this.catalog.databaseAnswering && this.catalog.version !== null) return null;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.waitMs);
    });
    const read = this.records.regionOf(userId);
    try {
      const region = await Promise.race([read, gaveUp]);
      if (region !== 'timeout') return region;
      read.catch(() => undefined);
      this.logger.warn('the profile region did not come in time; listing gifts without one');
      return null;
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      this.logger.warn({ err }, 'the profile region is unavailable; listing gifts without one');
      return null;
    } finally {
      clearTimeout(timer);
    }
  }
}
