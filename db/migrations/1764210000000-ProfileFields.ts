import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Profile fields a user edits on `PATCH /v1/me`. */
export class ProfileFields1764210000000 implements MigrationInterface {
  name = 'ProfileFields1764210000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE users
        ADD COLUMN avatar_url varchar(512),
        ADD COLUMN language varchar(16),
        ADD COLUMN region varchar(8),
        ADD COLUMN birthday date CHECK (birthday >= DATE '1900-01-01')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE users DROP COLUMN avatar_url, DROP COLUMN language, DROP COLUMN region, DROP COLUMN birthday`);
  }
}
