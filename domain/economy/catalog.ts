import type { CatalogGift, GiftAnimation } from './gifts';
import { offeredIn } from './gifts';

/** A tab of the gift panel. */
export interface GiftCategory {
  id: string;
  /** Localized names; "en" is always there (the database requires it). */
  names: Record<string, string>;
  sortOrder: number;
}

/** The whole catalog as loaded, disabled gifts included (the send path must recognise them). */
export interface GiftCatalogData {
  /** A fingerprint of the content: equal versions, equal catalogs. */
  version: string;
  /** The newest gift row's updated_at (ISO), for operators; the version is what decides. */
  updatedAt: string | null;
  categories: GiftCategory[];
  gifts: CatalogGift[];
}

export interface ListedGift {
  id: string;
  name: string;
  names: Record<string, string>;
  /** The price in the listing's region (its regional price where there is one). */
  priceCoins: number;
  diamondValue: number;
  minVipTier: number;
  animation: GiftAnimation;
  sortOrder: number;
}

export interface ListedCategory {
  id: string;
  name: string;
  names: Record<string, string>;
  gifts: ListedGift[];
}

export interface GiftListing {
  region: string | null;
  categories: ListedCategory[];
}

export const FALLBACK_LANGUAGE = 'en';

/** The languages any name of the catalog is written in. */
export function catalogLanguages(catalog: GiftCatalogData): Set<string> {
  const out = new Set<string>([FALLBACK_LANGUAGE]);
  for (const item of [...catalog.categories, ...catalog.gifts]) for (const key of Object.keys(item.names)) out.add(key);
  return out;
}

/**
 * The first language of an Accept-Language header (by q, then order) the catalog has names in,
 * matching a full tag ("pt-BR") before its primary subtag ("pt"); "en" when none. Malformed
 * parts are skipped: the header is advice, never a reason to refuse.
 */
export function preferredLanguage(acceptLanguage: string | undefined, available: ReadonlySet<string>): string {
  if (!acceptLanguage) return FALLBACK_LANGUAGE;
  const byLower = new Map([...available].map((l) => [l.toLowerCase(), l]));
  const ranges = acceptLanguage
    .slice(0, 512)
    .split(',')
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { tag: tag.trim().toLowerCase(), q: q === undefined ? 1 : Number(q), index };
    })
    .filter((r) => /^[a-z]{1,8}(-[a-z0-9]{1,8})*$/.test(r.tag) && r.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { tag } of ranges) {
    const hit = byLower.get(tag) ?? byLower.get(tag.split('-')[0]!);
    if (hit) return hit;
  }
  return FALLBACK_LANGUAGE;
}

export function localizedName(names: Record<string, string>, language: string): string {
  return names[language] ?? names[FALLBACK_LANGUAGE] ?? Object.values(names)[0] ?? '';
}

const bySortOrder = (a: { sortOrder: number; id: string }, b: { sortOrder: number; id: string }) =>
  a.sortOrder - b.sortOrder || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The gift panel for one region: each category with the gifts offered there (enabled, and
 * offered everywhere or in this region), at the region's price, in sort order. A category with
 * nothing to offer is left out. VIP gifts are listed with their tier: the app shows them locked.
 */
export function listGifts(catalog: GiftCatalogData, region: string | null, language: string): GiftListing {
  const offered = catalog.gifts.filter((g) => offeredIn(g, region)).sort(bySortOrder);
  const categories = [...catalog.categories].sort(bySortOrder).flatMap((category): ListedCategory[] => {
    const gifts = offered
      .filter((g) => g.categoryId === category.id)
      .map((g) => ({
        id: g.id,
        name: localizedName(g.names, language),
        names: g.names,
        priceCoins: (region !== null ? g.regionPrices[region] : undefined) ?? g.priceCoins,
        diamondValue: g.diamondValue,
        minVipTier: g.minVipTier,
        animation: g.animation,
        sortOrder: g.sortOrder,
      }));
    return gifts.length ? [{ id: category.id, name: localizedName(category.names, language), names: category.names, gifts }] : [];
  });
  return { region, categories };
}
