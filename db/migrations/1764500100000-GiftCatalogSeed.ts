import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The gift catalog's reference data: this migration is its one source. Rows are inserted with
 * ON CONFLICT DO NOTHING, so a catalog edited in place (a price changed by operations) is never
 * overwritten, and running it against a database that already has them changes nothing.
 *
 * Diamond values are about 70% of the price: with the exchange at 100 diamonds for 70 coins, no
 * gift turns coins back into more coins (a 1-coin rose, worth 1 diamond, is the floor).
 */
const CDN = 'https://cdn.aura.example/gifts';

type Format = 'svga' | 'mp4-alpha' | 'vap' | 'lottie';

interface SeedCategory {
  id: string;
  names: Record<string, string>;
  sortOrder: number;
}

interface SeedGift {
  id: string;
  category: string;
  names: Record<string, string>;
  price: number;
  diamonds: number;
  regions?: string[];
  regionPrices?: Record<string, number>;
  minVipTier?: number;
  sortOrder: number;
  enabled?: boolean;
  format: Format;
  durationMs: number;
  display: 'banner' | 'fullscreen';
  sound?: boolean;
}

const EXTENSION: Record<Format, string> = { svga: 'svga', 'mp4-alpha': 'mp4', vap: 'mp4', lottie: 'json' };

export const SEED_CATEGORIES: SeedCategory[] = [
  { id: 'popular', names: { en: 'Popular', ar: 'الأكثر شيوعًا', hi: 'लोकप्रिय' }, sortOrder: 10 },
  { id: 'lucky', names: { en: 'Lucky', ar: 'الحظ', hi: 'लकी' }, sortOrder: 20 },
  { id: 'vip', names: { en: 'VIP', ar: 'كبار الشخصيات', hi: 'वीआईपी' }, sortOrder: 30 },
  { id: 'cp', names: { en: 'CP', ar: 'الثنائي', hi: 'जोड़ी' }, sortOrder: 40 },
  { id: 'country', names: { en: 'Country', ar: 'البلد', hi: 'देश' }, sortOrder: 50 },
];

export const SEED_GIFTS: SeedGift[] = [
  // Popular: from a 1-coin rose to the full-screen rocket and castle.
  { id: 'rose', category: 'popular', names: { en: 'Rose', ar: 'وردة', hi: 'गुलाब' }, price: 1, diamonds: 1, sortOrder: 10, format: 'svga', durationMs: 2000, display: 'banner' },
  { id: 'heart', category: 'popular', names: { en: 'Heart', ar: 'قلب', hi: 'दिल' }, price: 5, diamonds: 3, sortOrder: 20, format: 'svga', durationMs: 2000, display: 'banner' },
  { id: 'lollipop', category: 'popular', names: { en: 'Lollipop', ar: 'مصاصة', hi: 'लॉलीपॉप' }, price: 10, diamonds: 7, sortOrder: 30, format: 'lottie', durationMs: 2500, display: 'banner' },
  { id: 'kiss', category: 'popular', names: { en: 'Kiss', ar: 'قبلة', hi: 'चुम्बन' }, price: 50, diamonds: 35, sortOrder: 40, format: 'svga', durationMs: 3000, display: 'banner', sound: true },
  // Cheaper where coins buy less: a regional price in India and Pakistan.
  { id: 'teddy-bear', category: 'popular', names: { en: 'Teddy Bear', ar: 'دبدوب', hi: 'टेडी बियर' }, price: 99, diamonds: 69, regionPrices: { IN: 79, PK: 79 }, sortOrder: 50, format: 'svga', durationMs: 3000, display: 'banner' },
  { id: 'perfume', category: 'popular', names: { en: 'Perfume', ar: 'عطر', hi: 'इत्र' }, price: 299, diamonds: 209, sortOrder: 60, format: 'mp4-alpha', durationMs: 3500, display: 'banner', sound: true },
  { id: 'sports-car', category: 'popular', names: { en: 'Sports Car', ar: 'سيارة رياضية', hi: 'स्पोर्ट्स कार' }, price: 2999, diamonds: 2099, sortOrder: 70, format: 'mp4-alpha', durationMs: 5000, display: 'fullscreen', sound: true },
  { id: 'rocket', category: 'popular', names: { en: 'Rocket', ar: 'صاروخ', hi: 'रॉकेट' }, price: 9999, diamonds: 6999, sortOrder: 80, format: 'vap', durationMs: 6000, display: 'fullscreen', sound: true },
  { id: 'castle', category: 'popular', names: { en: 'Castle', ar: 'قلعة', hi: 'महल' }, price: 29999, diamonds: 20999, sortOrder: 90, format: 'vap', durationMs: 8000, display: 'fullscreen', sound: true },
  // Retired: kept for the sends that named it, never listed or sold.
  { id: 'balloon', category: 'popular', names: { en: 'Balloon', ar: 'بالون', hi: 'गुब्बारा' }, price: 20, diamonds: 14, sortOrder: 100, enabled: false, format: 'svga', durationMs: 2000, display: 'banner' },

  { id: 'lucky-clover', category: 'lucky', names: { en: 'Lucky Clover', ar: 'برسيم الحظ', hi: 'लकी क्लोवर' }, price: 10, diamonds: 7, sortOrder: 10, format: 'lottie', durationMs: 2000, display: 'banner' },
  { id: 'lucky-star', category: 'lucky', names: { en: 'Lucky Star', ar: 'نجمة الحظ', hi: 'लकी स्टार' }, price: 100, diamonds: 70, regionPrices: { EG: 80 }, sortOrder: 20, format: 'lottie', durationMs: 2500, display: 'banner' },
  { id: 'lucky-dice', category: 'lucky', names: { en: 'Lucky Dice', ar: 'نرد الحظ', hi: 'लकी पासा' }, price: 500, diamonds: 350, sortOrder: 30, format: 'svga', durationMs: 3000, display: 'banner', sound: true },

  { id: 'vip-crown', category: 'vip', names: { en: 'VIP Crown', ar: 'تاج كبار الشخصيات', hi: 'वीआईपी ताज' }, price: 999, diamonds: 699, minVipTier: 1, sortOrder: 10, format: 'svga', durationMs: 4000, display: 'banner', sound: true },
  { id: 'vip-dragon', category: 'vip', names: { en: 'VIP Dragon', ar: 'تنين كبار الشخصيات', hi: 'वीआईपी ड्रैगन' }, price: 19999, diamonds: 13999, minVipTier: 3, sortOrder: 20, format: 'vap', durationMs: 8000, display: 'fullscreen', sound: true },

  { id: 'cp-love-letter', category: 'cp', names: { en: 'Love Letter', ar: 'رسالة حب', hi: 'प्रेम पत्र' }, price: 52, diamonds: 36, sortOrder: 10, format: 'svga', durationMs: 3000, display: 'banner' },
  { id: 'cp-ring', category: 'cp', names: { en: 'CP Ring', ar: 'خاتم الثنائي', hi: 'सीपी अंगूठी' }, price: 520, diamonds: 364, sortOrder: 20, format: 'mp4-alpha', durationMs: 5000, display: 'fullscreen', sound: true },

  // Country gifts: offered only where they mean something.
  { id: 'cricket-bat', category: 'country', names: { en: 'Cricket Bat', ar: 'مضرب كريكيت', hi: 'क्रिकेट बल्ला' }, price: 199, diamonds: 139, regions: ['IN', 'PK'], sortOrder: 10, format: 'svga', durationMs: 3000, display: 'banner' },
  { id: 'taj-mahal', category: 'country', names: { en: 'Taj Mahal', ar: 'تاج محل', hi: 'ताज महल' }, price: 1999, diamonds: 1399, regions: ['IN'], sortOrder: 20, format: 'vap', durationMs: 6000, display: 'fullscreen', sound: true },
  { id: 'minar-e-pakistan', category: 'country', names: { en: 'Minar-e-Pakistan', ar: 'منار باكستان', hi: 'मीनार-ए-पाकिस्तान' }, price: 1999, diamonds: 1399, regions: ['PK'], sortOrder: 30, format: 'vap', durationMs: 6000, display: 'fullscreen', sound: true },
  { id: 'pyramids', category: 'country', names: { en: 'Pyramids', ar: 'الأهرامات', hi: 'पिरामिड' }, price: 1999, diamonds: 1399, regions: ['EG'], sortOrder: 40, format: 'vap', durationMs: 6000, display: 'fullscreen', sound: true },
  { id: 'falcon', category: 'country', names: { en: 'Falcon', ar: 'صقر', hi: 'बाज़' }, price: 4999, diamonds: 3499, regions: ['SA'], sortOrder: 50, format: 'mp4-alpha', durationMs: 5000, display: 'fullscreen', sound: true },
];

export class GiftCatalogSeed1764500100000 implements MigrationInterface {
  name = 'GiftCatalogSeed1764500100000';

  async up(q: QueryRunner): Promise<void> {
    for (const c of SEED_CATEGORIES) {
      await q.query(`INSERT INTO gift_categories (id, names, sort_order) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`, [
        c.id,
        JSON.stringify(c.names),
        c.sortOrder,
      ]);
    }
    for (const g of SEED_GIFTS) {
      const animation = {
        format: g.format,
        url: `${CDN}/${g.id}.${EXTENSION[g.format]}`,
        durationMs: g.durationMs,
        display: g.display,
        ...(g.sound ? { soundUrl: `${CDN}/${g.id}.mp3` } : {}),
      };
      await q.query(
        `INSERT INTO gifts (id, category_id, names, price_coins, diamond_value, regions, min_vip_tier, sort_order, enabled, animation)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`,
        [g.id, g.category, JSON.stringify(g.names), g.price, g.diamonds, g.regions ?? null, g.minVipTier ?? 0, g.sortOrder, g.enabled ?? true, JSON.stringify(animation)],
      );
      for (const [region, price] of Object.entries(g.regionPrices ?? {})) {
        await q.query(`INSERT INTO gift_region_prices (gift_id, region, price_coins) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [g.id, region, price]);
      }
    }
  }

  /** Fails, as it should, once a send names one of these gifts. */
  async down(q: QueryRunner): Promise<void> {
    const gifts = SEED_GIFTS.map((g) => g.id);
    await q.query(`DELETE FROM gift_region_prices WHERE gift_id = ANY($1)`, [gifts]);
    await q.query(`DELETE FROM gifts WHERE id = ANY($1)`, [gifts]);
    await q.query(`DELETE FROM gift_categories WHERE id = ANY($1)`, [SEED_CATEGORIES.map((c) => c.id)]);
  }
}
