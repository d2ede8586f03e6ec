import Router from '@koa/router';
import { z } from 'zod';
import { NOW_PLAYING_ARTIST_MAX, NOW_PLAYING_TITLE_MAX } from '../../domain/media/music';
import { entityId, typedText } from '../../domain/input/fields';
import type { PlaybackService } from '../../services/playback/playback-service';
import type { ApiState } from '../http/context';
import { pageQuery } from '../http/paging';
import { noBody, parseInput } from '../http/validate';
import { videoRef } from './video-ref';

const roomParams = z.object({ id: entityId }).strict();
const itemParams = z.object({ id: entityId, itemId: entityId }).strict();
/** The playback version the controller saw (from a snapshot, playback.updated or an answer). */
const version = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional();
const control = z.object({ version }).strict();
const WEEK_MS = 7 * 24 * 3_600_000;

/**
 * A room's YouTube playlist (add, remove, reorder, vote-skip), its shared playback (play, pause,
 * seek, next) and a music room's now-playing line. Each change is announced to the room as a
 * numbered event (playlist.updated, playback.updated, music.now-playing); answers carry the
 * server's clock (`serverTime`) beside the playback state.
 */
export function playlistRoutes(deps: { playback: PlaybackService }): Router<ApiState> {
  const router = new Router<ApiState>({ prefix: '/rooms/:id' });
  const { playback } = deps;
  const me = (ctx: { state: ApiState }) => ctx.state.auth!.userId;

  router.get('/playlist', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    ctx.body = await playback.playlist(id, parseInput(pageQuery, ctx.query));
  });
  router.post('/playlist', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const videoId = parseInput(videoRef, ctx.request.body ?? {});
    ctx.status = 201;
    ctx.body = await playback.add(me(ctx), id, videoId);
  });
  router.delete('/playlist/:itemId', async (ctx) => {
    const { id, itemId } = parseInput(itemParams, ctx.params);
    ctx.body = await playback.remove(me(ctx), id, itemId);
  });
  router.post('/playlist/:itemId/move', async (ctx) => {
    const { id, itemId } = parseInput(itemParams, ctx.params);
    const { index } = parseInput(z.object({ index: z.number().int().min(0).max(999) }).strict(), ctx.request.body ?? {});
    ctx.body = await playback.move(me(ctx), id, itemId, index);
  });
  router.post('/playlist/:itemId/skip-votes', async (ctx) => {
    const { id, itemId } = parseInput(itemParams, ctx.params);
    parseInput(noBody, ctx.request.body ?? {});
    ctx.body = await playback.voteSkip(me(ctx), id, itemId);
  });

  router.get('/playback', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    ctx.body = await playback.playback(id);
  });
  router.post('/playback/play', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    ctx.body = await playback.play(me(ctx), id, parseInput(control, ctx.request.body ?? {}).version);
  });
  router.post('/playback/pause', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    ctx.body = await playback.pause(me(ctx), id, parseInput(control, ctx.request.body ?? {}).version);
  });
  router.post('/playback/seek', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const body = parseInput(z.object({ positionMs: z.number().int().min(0).max(WEEK_MS), version }).strict(), ctx.request.body ?? {});
    ctx.body = await playback.seek(me(ctx), id, body.positionMs, body.version);
  });
  router.post('/playback/next', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    ctx.body = await playback.next(me(ctx), id, parseInput(control, ctx.request.body ?? {}).version);
  });

  router.put('/now-playing', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    const line = parseInput(
      z.object({ title: typedText({ min: 1, max: NOW_PLAYING_TITLE_MAX }), artist: typedText({ min: 1, max: NOW_PLAYING_ARTIST_MAX }).nullable().optional() }).strict(),
      ctx.request.body ?? {},
    );
    ctx.body = await playback.setNowPlaying(me(ctx), id, { title: line.title, artist: line.artist ?? null });
  });
  router.delete('/now-playing', async (ctx) => {
    const { id } = parseInput(roomParams, ctx.params);
    await playback.setNowPlaying(me(ctx), id, null);
    ctx.status = 204;
  });

  return router;
}
