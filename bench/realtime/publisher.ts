import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../../config';
import { RoomLiveState } from '../../db/live/room-live-state';
import { createRedis } from '../../platform/redis';
import { liveStateSettingsFromConfig } from '../../services/rooms';
import type { PublisherCommand, PublisherReply } from './ipc';

/**
 * The load: room events emitted through the production path (RoomLiveState.emit: one Lua
 * call that appends the numbered event to the room's stream and PUBLISHes it), at a fixed
 * rate on a fixed schedule — a late tick catches up rather than stretching the run. Each event
 * carries the emitter's high-resolution clock in `data.t` (the envelope's `at` is whole ms).
 */

const config = loadConfig();
const redis = createRedis(config.REDIS_URL, { name: 'aura-bench-publisher' });
const live = new RoomLiveState(redis, liveStateSettingsFromConfig(config));
const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function reply(message: PublisherReply): void {
  process.send?.(message);
}

async function run(command: PublisherCommand): Promise<void> {
  const interval = 1000 / command.rate;
  const total = Math.max(1, Math.round((command.rate * command.durationMs) / 1000));
  // Filler so an event is about the size of a chat message (see results: eventBytes).
  const pad = 'x'.repeat(Math.max(0, command.payloadBytes));
  const inflight: Promise<number | null>[] = [];
  let failed = 0;
  let maxLagMs = 0;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait - 0.5);
    maxLagMs = Math.max(maxLagMs, performance.now() - due);
    const data = { t: now().toFixed(3), i, p: pad };
    inflight.push(
      live.emit(command.room, command.eventType, data).catch(() => {
        failed++;
        return null;
      }),
    );
  }
  const seqs = (await Promise.all(inflight)).filter((s): s is number => s !== null);
  const wallMs = performance.now() - start;
  // The envelope the script builds (db/live/room-script.ts): measured for the report.
  const sample = JSON.stringify({ seq: seqs.at(-1) ?? 0, room: command.room, type: command.eventType, at: Date.now(), data: { t: now().toFixed(3), i: total, p: pad } });
  reply({
    type: 'done',
    firstSeq: seqs.reduce((a, b) => Math.min(a, b), Infinity),
    lastSeq: seqs.reduce((a, b) => Math.max(a, b), -1),
    emitted: seqs.length,
    failed,
    wallMs,
    maxLagMs,
    eventBytes: Buffer.byteLength(sample),
  });
}

process.on('message', (command: PublisherCommand) => {
  if (command.type === 'run') {
    run(command).catch((err: unknown) => {
      console.error('publisher failed', err);
      process.exit(1);
    });
  }
});
process.on('disconnect', () => {
  redis.disconnect();
  process.exit(0);
});
redis.ping().then(
  () => reply({ type: 'ready' }),
  (err: unknown) => {
    console.error('publisher could not reach Redis', err);
    process.exit(1);
  },
);
