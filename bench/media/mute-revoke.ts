import type { Server } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { RoomEvent, dispose, type RemoteParticipant, type RemoteTrack, type RemoteTrackPublication, type Room } from '@livekit/rtc-node';
import { createApiApp } from '../../api/app';
import { createRedis } from '../../platform/redis';
import { createAccessChecks } from '../../services/bans';
import { createSeatBinder, mediaAccessFromConfig } from '../../services/media';
import { createRoomService } from '../../services/rooms';
import { connectMedia, eventually, nextEvent, publishMicrophone, Tone } from '../../test/support/media';
import { enterRoom } from '../../test/support/room-api';
import { percentile, startMediaBenchStack } from './stack';

/**
 * `tsx bench/media/mute-revoke.ts`: how long from a moderator's mute request to the media server
 * revoking the speaker's publish, as a listener sees it. A real LiveKit server, the API (in this
 * process), the seat binder (in this process, as the worker runs it) and two @livekit/rtc-node
 * participants. Each round: the speaker publishes a tone and the listener subscribes; the clock
 * starts as `POST /v1/rooms/:id/seats/2/mute` is sent and stops at the listener's TrackUnpublished;
 * then the seat is unmuted and the binder's grant awaited on the server. BENCH_MUTES rounds (30).
 */
const rounds = Number(process.env.BENCH_MUTES ?? 30);

async function main(): Promise<void> {
  const t0 = Date.now();
  const stack = await startMediaBenchStack({ livekit: true });
  const rooms: Room[] = [];
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const config = { ...stack.config, MEDIA_RECONCILE_SECONDS: 3600, ROOM_CONNECTION_LEASE_SECONDS: 3 * 3600 };
    const { rooms: roomService, live } = createRoomService({ config, dataSource: stack.dataSource, redis: stack.redis });
    const access = createAccessChecks({ config, dataSource: stack.dataSource, redis: stack.redis, logger: stack.logger });
    await access.cache.start();
    cleanup.push(() => access.cache.stop());
    const app = createApiApp({ config, dataSource: stack.dataSource, redis: stack.redis, temporal: stack.temporal, tokens: stack.tokens, logger: stack.logger, access });
    const server: Server = await new Promise((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    cleanup.push(() => new Promise((r) => server.close(r)));
    const apiUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
    const media = mediaAccessFromConfig(config)!;
    const binder = createSeatBinder({ config, access: media, live, subscriber: createRedis(config.REDIS_URL, { name: 'bench-binder' }), logger: stack.logger });
    await binder.start();
    cleanup.push(() => binder.stop());

    const owner = await stack.newUser('owner');
    const speaker = await stack.newUser('speaker');
    const listener = await stack.newUser('listener');
    const room = await roomService.create(owner.userId, { type: 'voice', name: 'Mute bench', seatCount: 9, seatMode: 'free' });
    for (const u of [owner, speaker, listener]) await enterRoom(roomService, room, u.userId);
    await roomService.takeSeat(speaker.userId, room.id, 2);
    const join = async (userId: string) => {
      const r = await connectMedia(config.LIVEKIT_URL!, (await media.joinFor(await live.snapshot(room.id), userId)).token);
      rooms.push(r);
      return r;
    };
    const speakerMedia = await join(speaker.userId);
    const listenerMedia = await join(listener.userId);
    const post = (path: string, body: unknown) =>
      fetch(`${apiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const canPublish = () =>
      eventually(async () => (await media.media.listParticipants(room.id)).find((p) => p.userId === speaker.userId && p.grant.canPublish), 'the microphone grant');

    const revoke: number[] = [];
    const answered: number[] = [];
    for (let i = 0; i < rounds; i++) {
      await canPublish();
      const tone = Tone.start();
      const subscribed = nextEvent<[RemoteTrack, RemoteTrackPublication, RemoteParticipant]>(listenerMedia, RoomEvent.TrackSubscribed, (_t, _p, who) => who.identity === speaker.userId, 'subscribe');
      await publishMicrophone(speakerMedia, tone);
      await subscribed;
      const unpublished = nextEvent(listenerMedia, RoomEvent.TrackUnpublished, () => true, 'unpublished');
      const start = performance.now();
      const res = await post(`/rooms/${room.id}/seats/2/mute`, { muted: true });
      answered.push(performance.now() - start);
      if (res.status !== 204) throw new Error(`mute answered ${res.status}`);
      await unpublished;
      revoke.push(performance.now() - start);
      await tone.stop();
      if ((await post(`/rooms/${room.id}/seats/2/mute`, { muted: false })).status !== 204) throw new Error('unmute failed');
    }
    const sorted = [...revoke].sort((a, b) => a - b);
    const http = [...answered].sort((a, b) => a - b);
    const f = (n: number) => n.toFixed(1);
    const lines = [
      `# Admin mute → publish revoked (${new Date().toISOString()})`,
      '',
      `${rounds} mutes; clock from sending POST /v1/rooms/:id/seats/:seat/mute to the listener's TrackUnpublished (LiveKit v1.11 on loopback, the API and the seat binder in the bench process).`,
      '',
      '| measure | p50 ms | p99 ms | max ms |',
      '|---|---|---|---|',
      `| mute request answered (204) | ${f(percentile(http, 50))} | ${f(percentile(http, 99))} | ${f(http[http.length - 1]!)} |`,
      `| listener sees the track unpublished | ${f(percentile(sorted, 50))} | ${f(percentile(sorted, 99))} | ${f(sorted[sorted.length - 1]!)} |`,
      '',
      `Run took ${((Date.now() - t0) / 1000).toFixed(0)} s.`,
    ];
    const out = resolve(__dirname, '../..', process.env.BENCH_MEDIA_OUT ?? 'bench/results/media-mute-revoke-latest.md');
    mkdirSync(resolve(out, '..'), { recursive: true });
    writeFileSync(out, `${lines.join('\n')}\n`);
    console.log(lines.join('\n'));
  } finally {
    for (const r of rooms) await r.disconnect().catch(() => undefined);
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    await stack.stop();
    await dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
