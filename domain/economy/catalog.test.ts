import { listGifts, preferredLanguage, type GiftCatalogData } from './catalog';
import type { CatalogGift } from './gifts';

const animation = { format: 'svga', url: 'https://cdn.aura.example/gifts/x.svga', durationMs: 1000, display: 'banner' } as const;
const giftOf = (over: Partial<CatalogGift> & { id: string }): CatalogGift => ({
  categoryId: 'popular',
  names: { en: over.id },
  priceCoins: 10,
  diamondValue: 7,
  regions: null,
  regionPrices: {},
  minVipTier: 0,
  sortOrder: 0,
  enabled: true,
  animation,
  ...over,
});

const catalog: GiftCatalogData = {
  version: 'v1',
  updatedAt: null,
  categories: [
    { id: 'country', names: { en: 'Country' }, sortOrder: 50 },
    { id: 'popular', names: { en: 'Popular', 'pt-BR': 'Populares', pt: 'Popular (pt)' }, sortOrder: 10 },
  ],
  gifts: [
    giftOf({ id: 'b', sortOrder: 2, regionPrices: { IN: 8 } }),
    giftOf({ id: 'a', sortOrder: 2 }),
    giftOf({ id: 'first', sortOrder: 1 }),
    giftOf({ id: 'off', enabled: false }),
    giftOf({ id: 'taj', categoryId: 'country', regions: ['IN'] }),
  ],
};
const languages = new Set(['en', 'pt', 'pt-BR', 'ar']);

describe('preferredLanguage', () => {
  it.each([
    [undefined, 'en'],
    ['', 'en'],
    ['ar', 'ar'],
    ['AR-eg', 'ar'],
    ['pt-BR', 'pt-BR'],
    ['pt-PT', 'pt'],
    ['fr, ar;q=0.4, pt;q=0.5', 'pt'],
    ['ar;q=0, pt;q=0.1', 'pt'],
    ['*, de', 'en'],
    ['ar;q=abc', 'ar'],
    ['\u0000ar, ;;, ar', 'ar'],
  ])('%j → %s', (header, expected) => {
    expect(preferredLanguage(header, languages)).toBe(expected);
  });

  it('reads only the start of an over-long header', () => {
    expect(preferredLanguage(`${'x'.repeat(10_000)}, ar`, languages)).toBe('en');
  });
});

describe('listGifts', () => {
  it('lists enabled gifts offered in the region, at its price, in sort order, without empty categories', () => {
    const india = listGifts(catalog, 'IN', 'pt-BR');
    expect(india.categories.map((c) => [c.id, c.name, c.gifts.map((g) => `${g.id}:${g.priceCoins}`)])).toEqual([
      ['popular', 'Populares', ['first:10', 'a:10', 'b:8']],
      ['country', 'Country', ['taj:10']],
    ]);
    const nowhere = listGifts(catalog, null, 'en');
    expect(nowhere.categories.map((c) => c.id)).toEqual(['popular']);
    expect(nowhere.categories[0]!.gifts.map((g) => `${g.id}:${g.priceCoins}`)).toEqual(['first:10', 'a:10', 'b:10']);
  });
});
