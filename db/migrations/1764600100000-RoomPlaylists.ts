import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Rooms' YouTube playlists and their shared playback (README "Voice, video and music"). These
 * are the record; Redis holds the live copy that snapshots and events carry, rebuilt from here.
 *  - rooms.playlist_policy: who controls the playlist and playback ('moderators': the owner and
 *    admins; 'everyone': every member);
 *  - room_playlist_items: what was added, with the video's facts as the catalog gave them
 *    (title and duration are read once). status: queued (waiting, ordered by position), playing
 *    (the current item, playing or paused), then played, skipped or removed (kept as history);
 *  - room_playback: one row per room: the current item, idle/playing/paused, position_ms at the
 *    server instant anchor_at, ends_at while playing (the sweeper's index), a version every
 *    playback change bumps (controllers send the one they saw), a revision every change of any
 *    kind bumps (the live copy applies a part only if newer), and a music room's now-playing line;
 *  - room_playlist_skip_votes: one vote per user per item.
 */
export class RoomPlaylists1764600100000 implements MigrationInterface {
  name = 'RoomPlaylists1764600100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE rooms ADD COLUMN playlist_policy text NOT NULL DEFAULT 'moderators'
      CONSTRAINT rooms_playlist_policy_known CHECK (playlist_policy IN ('moderators', 'everyone'))`);

    await q.query(`
      CREATE TABLE room_playlist_items (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        room_id uuid NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        -- YouTube's id, as YouTube spells it (case matters).
        video_id varchar(11) NOT NULL CHECK (video_id ~ '^[A-Za-z0-9_-]{11}$'),
        title varchar(300) NOT NULL,
        channel_title varchar(300) NOT NULL,
        duration_ms integer NOT NULL CHECK (duration_ms > 0),
        thumbnail_url varchar(1024) CHECK (thumbnail_url IS NULL OR thumbnail_url LIKE 'https://%'),
        added_by uuid NOT NULL REFERENCES users(id),
        -- Order of the queue; renumbered 1..n on a move (a queue holds at most PLAYLIST_MAX_ITEMS).
        position integer NOT NULL CHECK (position >= 0),
        status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'playing', 'played', 'removed', 'skipped')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX ix_room_playlist_active ON room_playlist_items (room_id, position, id) WHERE status IN ('queued', 'playing')`);
    await q.query(`CREATE INDEX ix_room_playlist_added_by ON room_playlist_items (room_id, added_by) WHERE status = 'queued'`);
    // One current item per room at most.
    await q.query(`CREATE UNIQUE INDEX uq_room_playlist_playing ON room_playlist_items (room_id) WHERE status = 'playing'`);

    await q.query(`
      CREATE TABLE room_playback (
        room_id uuid PRIMARY KEY REFERENCES rooms(id) ON DELETE CASCADE,
        item_id uuid REFERENCES room_playlist_items(id),
        state text NOT NULL DEFAULT 'idle' CHECK (state IN ('idle', 'playing', 'paused')),
        position_ms integer NOT NULL DEFAULT 0 CHECK (position_ms >= 0),
        anchor_at timestamptz NOT NULL DEFAULT now(),
        ends_at timestamptz,
        version bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
        revision bigint NOT NULL DEFAULT 0 CHECK (revision >= 0),
        -- Null: the sweeper (an item ended), or nobody yet.
        updated_by uuid REFERENCES users(id),
        updated_at timestamptz NOT NULL DEFAULT now(),
        now_playing jsonb CHECK (now_playing IS NULL OR jsonb_typeof(now_playing) = 'object'),
        CONSTRAINT room_playback_item_unless_idle CHECK ((state = 'idle') = (item_id IS NULL)),
        CONSTRAINT room_playback_ends_while_playing CHECK ((state = 'playing') = (ends_at IS NOT NULL))
      )`);
    // The sweeper's query: playing rooms whose item ended.
    await q.query(`CREATE INDEX ix_room_playback_ends ON room_playback (ends_at) WHERE state = 'playing'`);

    await q.query(`
      CREATE TABLE room_playlist_skip_votes (
        item_id uuid NOT NULL REFERENCES room_playlist_items(id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (item_id, user_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE room_playlist_skip_votes`);
    await q.query(`DROP TABLE room_playback`);
    await q.query(`DROP TABLE room_playlist_items`);
    await q.query(`ALTER TABLE rooms DROP COLUMN playlist_policy`);
  }
}
