import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Levels and medals (issue 11, items 2 and 3): the gift counter medals read, the level-up
 * outbox, medal definitions (seeded), what a medal's item reward granted, and the backfill of
 * every user's totals and levels from the gifts already sent.
 *
 * The thresholds below are domain/levels/levels.ts's table as of this migration (copied, so a
 * later change of the table does not rewrite history: it ships its own recomputing migration).
 */
const WEALTH_THRESHOLDS = Array.from({ length: 50 }, (_, i) => 200 * (i + 1) ** 3);
const CHARM_THRESHOLDS = Array.from({ length: 50 }, (_, i) => 140 * (i + 1) ** 3);

interface SeedMedal {
  id: string;
  category: string;
  names: Record<string, string>;
  descriptions: Record<string, string>;
  criteria: Record<string, unknown>;
  reward: Record<string, unknown>;
}

const MEDALS: SeedMedal[] = [
  { id: 'streak-7', category: 'activity', names: { en: 'Week of Sunshine', hi: 'सप्ताह की धूप' }, descriptions: { en: 'Claimed the daily reward 7 days in a row' }, criteria: { type: 'daily-streak', days: 7 }, reward: { coins: 50 } },
  { id: 'streak-30', category: 'activity', names: { en: 'Month of Devotion' }, descriptions: { en: 'Claimed the daily reward 30 days in a row' }, criteria: { type: 'daily-streak', days: 30 }, reward: { coins: 300 } },
  { id: 'first-gift', category: 'gifting', names: { en: 'First Gift' }, descriptions: { en: 'Sent a first gift' }, criteria: { type: 'gifts-sent', count: 1 }, reward: { coins: 10 } },
  { id: 'gifts-100', category: 'gifting', names: { en: 'Generous Heart' }, descriptions: { en: 'Sent 100 gifts' }, criteria: { type: 'gifts-sent', count: 100 }, reward: { coins: 200 } },
  { id: 'gifts-1000', category: 'gifting', names: { en: 'Patron of the Rooms' }, descriptions: { en: 'Sent 1,000 gifts' }, criteria: { type: 'gifts-sent', count: 1000 }, reward: { item: 'frame-patron' } },
  { id: 'first-recharge', category: 'wealth', names: { en: 'First Treasure' }, descriptions: { en: 'Made a first recharge' }, criteria: { type: 'first-recharge' }, reward: { coins: 50 } },
  { id: 'wealth-10', category: 'wealth', names: { en: 'Rising Fortune' }, descriptions: { en: 'Reached wealth level 10' }, criteria: { type: 'wealth-level', level: 10 }, reward: { coins: 500 } },
  { id: 'wealth-30', category: 'wealth', names: { en: 'Tycoon' }, descriptions: { en: 'Reached wealth level 30' }, criteria: { type: 'wealth-level', level: 30 }, reward: { item: 'entry-effect-tycoon' } },
  { id: 'vip-1', category: 'vip', names: { en: 'VIP' }, descriptions: { en: 'Became a VIP' }, criteria: { type: 'vip-tier', tier: 1 }, reward: { coins: 100 } },
  { id: 'vip-3', category: 'vip', names: { en: 'VIP Crown' }, descriptions: { en: 'Reached VIP tier 3' }, criteria: { type: 'vip-tier', tier: 3 }, reward: { item: 'frame-vip-crown' } },
  { id: 'charm-10', category: 'social', names: { en: 'Charmer' }, descriptions: { en: 'Reached charm level 10' }, criteria: { type: 'charm-level', level: 10 }, reward: { coins: 300 } },
  { id: 'charm-30', category: 'social', names: { en: 'Star of the Rooms' }, descriptions: { en: 'Reached charm level 30' }, criteria: { type: 'charm-level', level: 30 }, reward: { item: 'frame-star' } },
];

export class LevelsAndMedals1764700300000 implements MigrationInterface {
  name = 'LevelsAndMedals1764700300000';

  async up(q: QueryRunner): Promise<void> {
    // Gifts sent (each gift item to each receiver), kept with coins_spent in the send's transaction.
    await q.query(`ALTER TABLE users ADD COLUMN gifts_sent bigint NOT NULL DEFAULT 0 CHECK (gifts_sent >= 0)`);

    // Levels reached, written in the transaction that raised them; announced_at is set once the
    // user was told (event + notification). A level reached again after a fall is not re-announced.
    await q.query(`
      CREATE TABLE level_ups (
        user_id uuid NOT NULL REFERENCES users(id),
        track varchar(8) NOT NULL CHECK (track IN ('wealth', 'charm')),
        level smallint NOT NULL CHECK (level BETWEEN 1 AND 50),
        previous smallint NOT NULL CHECK (previous >= 0 AND previous < level),
        reached_at timestamptz NOT NULL DEFAULT now(),
        announced_at timestamptz,
        PRIMARY KEY (user_id, track, level)
      )`);
    await q.query(`CREATE INDEX ix_level_ups_unannounced ON level_ups (reached_at) WHERE announced_at IS NULL`);

    await q.query(`
      CREATE TABLE medals (
        id varchar(64) PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
        category varchar(16) NOT NULL CHECK (category IN ('activity', 'gifting', 'wealth', 'vip', 'social')),
        names jsonb NOT NULL CHECK (names ? 'en'),
        descriptions jsonb NOT NULL CHECK (descriptions ? 'en'),
        icon_key varchar(128) NOT NULL,
        -- {type: daily-streak, days} | {type: gifts-sent, count} | {type: first-recharge} |
        -- {type: vip-tier, tier} | {type: wealth-level, level} | {type: charm-level, level}
        criteria jsonb NOT NULL CHECK (criteria ? 'type'),
        -- {coins: n} or {item: key}
        reward jsonb NOT NULL CHECK ((reward ? 'coins') <> (reward ? 'item')),
        sort_order integer NOT NULL DEFAULT 0,
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    let order = 0;
    for (const m of MEDALS) {
      order += 10;
      await q.query(
        `INSERT INTO medals (id, category, names, descriptions, icon_key, criteria, reward, sort_order) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [m.id, m.category, m.names, m.descriptions, `medal/${m.id}`, m.criteria, m.reward, order],
      );
    }
    // A held medal is a defined one; announced_at: the user was told (the re-check repairs a lost notice).
    await q.query(`
      ALTER TABLE user_medals
        ADD CONSTRAINT fk_user_medals_medal FOREIGN KEY (medal_id) REFERENCES medals(id),
        ADD COLUMN announced_at timestamptz`);
    await q.query(`UPDATE user_medals SET announced_at = awarded_at`);
    await q.query(`CREATE INDEX ix_user_medals_unannounced ON user_medals (awarded_at) WHERE announced_at IS NULL`);
    // What a medal with an item reward granted (the app reads items a user holds from here).
    await q.query(`
      CREATE TABLE medal_item_grants (
        user_id uuid NOT NULL REFERENCES users(id),
        medal_id varchar(64) NOT NULL REFERENCES medals(id),
        item_key varchar(64) NOT NULL,
        granted_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, medal_id)
      )`);
    // The periodic re-check reads who was active lately from the ledger: a BRIN index is a few
    // pages for an append-only table and costs inserts almost nothing.
    await q.query(`CREATE INDEX ix_ledger_entries_created_brin ON ledger_entries USING brin (created_at)`);

    // Backfill: totals from the gifts already sent (reversed receipts count nowhere), then levels,
    // then level_ups rows marked announced (history is not announced again).
    await q.query(`
      WITH sent AS (
        SELECT r.sender_id AS user_id, sum(r.coins) AS coins, sum(s.quantity) AS gifts
          FROM gift_receipts r JOIN gift_sends s ON s.id = r.send_id
         WHERE r.state <> 'reversed'
         GROUP BY r.sender_id)
      UPDATE users u SET coins_spent = sent.coins, gifts_sent = sent.gifts FROM sent WHERE u.id = sent.user_id`);
    await q.query(`
      WITH got AS (
        SELECT receiver_id AS user_id, sum(diamonds) AS diamonds FROM gift_receipts WHERE state <> 'reversed' GROUP BY receiver_id)
      UPDATE users u SET diamonds_received = got.diamonds FROM got WHERE u.id = got.user_id`);
    await q.query(
      `UPDATE users SET
         wealth_level = (SELECT count(*) FROM unnest($1::bigint[]) AS t(threshold) WHERE threshold <= coins_spent),
         charm_level = (SELECT count(*) FROM unnest($2::bigint[]) AS t(threshold) WHERE threshold <= diamonds_received)
       WHERE coins_spent > 0 OR diamonds_received > 0`,
      [WEALTH_THRESHOLDS, CHARM_THRESHOLDS],
    );
    await q.query(`
      INSERT INTO level_ups (user_id, track, level, previous, reached_at, announced_at)
      SELECT id, 'wealth', wealth_level, 0, now(), now() FROM users WHERE wealth_level > 0
      UNION ALL
      SELECT id, 'charm', charm_level, 0, now(), now() FROM users WHERE charm_level > 0`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX ix_ledger_entries_created_brin`);
    await q.query(`DROP TABLE medal_item_grants`);
    await q.query(`DROP INDEX ix_user_medals_unannounced`);
    await q.query(`ALTER TABLE user_medals DROP CONSTRAINT fk_user_medals_medal, DROP COLUMN announced_at`);
    await q.query(`DROP TABLE medals`);
    await q.query(`DROP TABLE level_ups`);
    await q.query(`UPDATE users SET coins_spent = 0, diamonds_received = 0, wealth_level = 0, charm_level = 0`);
    await q.query(`ALTER TABLE users DROP COLUMN gifts_sent`);
  }
}
