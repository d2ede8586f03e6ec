import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AudioFrame, AudioSource, AudioStream, dispose, LocalAudioTrack, Room, RoomEvent, TrackKind, TrackPublishOptions, TrackSource, type RemoteParticipant, type RemoteTrack } from '@livekit/rtc-node';
import WebSocket from 'ws';
import { loadConfig } from '../config';
import { DEV_SECRETS } from '../config/dev-secrets';
import { DEMO_USERS } from '../db/seed';
import { accessTokensFromConfig } from '../platform/auth/access-tokens';

/**
 * Hear a room on the dev stack without a phone: a speaker that takes a seat and publishes a tone
 * (or a 16-bit mono WAV file), and a listener that prints who it hears and writes what it heard
 * to a WAV file. Both join the room over the socket as the app does, and use the media token the
 * join frame carries; the speaker asks for a fresh one after taking its seat.
 *
 *   npx tsx scripts/dev-room-audio.ts speak  <roomId> [--user <id>] [--seconds 60] [--wav file.wav] [--hz 440]
 *   npx tsx scripts/dev-room-audio.ts listen <roomId> [--user <id>] [--seconds 10] [--out heard.wav]
 *
 * A development tool (it mints demo tokens): it refuses production configuration.
 */
const SAMPLE_RATE = 48_000;
const FRAME = 480; // 10 ms

interface MediaJoin {
  url: string;
  token: string;
  room: string;
  identity: string;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      user: { type: 'string' },
      seconds: { type: 'string' },
      wav: { type: 'string' },
      hz: { type: 'string', default: '440' },
      out: { type: 'string', default: 'heard.wav' },
      api: { type: 'string', default: process.env.AURA_API_URL ?? 'http://127.0.0.1:3000/v1' },
      ws: { type: 'string', default: process.env.AURA_WS_URL ?? 'ws://127.0.0.1:3001/v1/ws' },
    },
  });
  const [mode, roomId] = positionals;
  if ((mode !== 'speak' && mode !== 'listen') || !roomId) throw new Error('usage: dev-room-audio.ts speak|listen <roomId> [--user <id>] [--seconds n]');
  const config = loadConfig({ ...DEV_SECRETS, ...process.env });
  if (config.NODE_ENV === 'production') throw new Error('dev tokens are not for production');
  // By default a guest speaks and the host (who created the room, and may mute the guest) listens.
  const userId = values.user ?? (mode === 'speak' ? DEMO_USERS[1].id : DEMO_USERS[0].id);
  const bearer = `Bearer ${await accessTokensFromConfig(config).sign({ userId }, 3600)}`;
  const seconds = Number(values.seconds ?? (mode === 'speak' ? 60 : 10));

  const { socket, media } = await joinOverSocket(values.ws!, bearer, roomId.toLowerCase());
  let room: Room | undefined;
  try {
    if (mode === 'speak') {
      const seat = await fetch(`${values.api}/rooms/${roomId}/seats/take`, { method: 'POST', headers: { authorization: bearer, 'content-type': 'application/json' }, body: '{}' });
      if (seat.status !== 204 && seat.status !== 409) throw new Error(`taking a seat answered ${seat.status}: ${await seat.text()}`);
      // The token from the join frame was a listener's; the seat's grant comes with a fresh one.
      const fresh = await fetch(`${values.api}/rooms/${roomId}/media/token`, { method: 'POST', headers: { authorization: bearer } });
      if (!fresh.ok) throw new Error(`the media token answered ${fresh.status}: ${await fresh.text()}`);
      room = await connect((await fresh.json()) as MediaJoin);
      await speak(room, seconds, values.wav, Number(values.hz));
    } else {
      room = await connect(media);
      await listen(room, seconds, values.out!);
    }
  } finally {
    await room?.disconnect();
    socket.close();
    await dispose();
  }
}

/** Joins like the app: authenticated socket, `join`, and the snapshot frame's media join. */
async function joinOverSocket(url: string, bearer: string, roomId: string): Promise<{ socket: WebSocket; media: MediaJoin }> {
  const socket = new WebSocket(url, { headers: { authorization: bearer } });
  const media = await new Promise<MediaJoin>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no snapshot within 10 s')), 10_000);
    socket.on('error', reject);
    socket.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { type: string; media?: MediaJoin; data?: { media?: MediaJoin }; error?: { code: string; message: string } };
      if (message.type === 'ready') socket.send(JSON.stringify({ type: 'join', room: roomId }));
      if (message.type === 'error') reject(new Error(`join refused: ${message.error?.code} ${message.error?.message}`));
      if (message.type === 'snapshot') {
        clearTimeout(timer);
        const join = message.media ?? message.data?.media;
        if (!join) reject(new Error('the join frame has no media: is LIVEKIT_URL set for the edge?'));
        else resolve(join);
      }
    });
  });
  return { socket, media };
}

async function connect(join: MediaJoin): Promise<Room> {
  const room = new Room();
  await room.connect(join.url, join.token, { autoSubscribe: true, dynacast: true });
  console.log(`connected to ${join.room} as ${join.identity}`);
  return room;
}

/** Publishes a tone, or a WAV file's samples, as the microphone for `seconds`. */
async function speak(room: Room, seconds: number, wavFile: string | undefined, hz: number): Promise<void> {
  const source = new AudioSource(SAMPLE_RATE, 1, 200);
  const track = LocalAudioTrack.createAudioTrack('microphone', source);
  await room.localParticipant!.publishTrack(track, new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }));
  console.log(`publishing ${wavFile ?? `a ${hz} Hz tone`} for ${seconds} s (a moderator's mute stops it)`);
  const samples = wavFile ? readWavMono16(wavFile) : tone(hz);
  const end = Date.now() + seconds * 1000;
  for (let at = 0; Date.now() < end; at = (at + FRAME) % (samples.length - FRAME)) {
    // captureFrame resolves as the source's queue drains: it paces the loop at real time.
    await source.captureFrame(new AudioFrame(samples.slice(at, at + FRAME), SAMPLE_RATE, 1, FRAME));
  }
  await track.close();
  await source.close();
}

/** Prints each speaker's level once a second and writes everything heard (mixed) to a WAV file. */
async function listen(room: Room, seconds: number, out: string): Promise<void> {
  const heard: Int16Array[] = [];
  const levels = new Map<string, number>();
  room.on(RoomEvent.TrackSubscribed, (track: RemoteTrack, _publication: unknown, participant: RemoteParticipant) => {
    if (track.kind !== TrackKind.KIND_AUDIO) return;
    console.log(`hearing ${participant.identity}`);
    void (async () => {
      for await (const frame of new AudioStream(track, SAMPLE_RATE, 1)) {
        heard.push(new Int16Array(frame.data));
        levels.set(participant.identity, Math.max(levels.get(participant.identity) ?? 0, rms(frame.data)));
      }
    })().catch(() => undefined);
  });
  room.on(RoomEvent.TrackUnsubscribed, (_track: RemoteTrack, _publication: unknown, participant: RemoteParticipant) => console.log(`${participant.identity} stopped publishing`));
  const report = setInterval(() => {
    console.log(levels.size ? [...levels].map(([who, level]) => `${who}: level ${level.toFixed(0)}`).join('  ') : 'silence');
    levels.clear();
  }, 1000);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  clearInterval(report);
  writeFileSync(out, wav(heard));
  console.log(`wrote ${out} (${(heard.length * FRAME) / SAMPLE_RATE} s of audio)`);
}

function tone(hz: number): Int16Array {
  const samples = new Int16Array(SAMPLE_RATE); // one second, looped
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / SAMPLE_RATE));
  return samples;
}

function rms(data: Int16Array): number {
  let sum = 0;
  for (const s of data) sum += s * s;
  return Math.sqrt(sum / Math.max(1, data.length));
}

/** A 16-bit mono PCM WAV at 48 kHz (other files: convert first, e.g. `sox in.mp3 -r 48000 -c 1 -b 16 out.wav`). */
function readWavMono16(file: string): Int16Array {
  const buf = readFileSync(file);
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.readUInt16LE(22) !== 1 || buf.readUInt32LE(24) !== SAMPLE_RATE || buf.readUInt16LE(34) !== 16) {
    throw new Error(`${file}: expected a 16-bit mono 48 kHz WAV`);
  }
  const data = buf.subarray(44);
  return new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length - (data.length % 2)));
}

function wav(chunks: Int16Array[]): Buffer {
  const bytes = chunks.reduce((n, c) => n + c.byteLength, 0);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + bytes, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(SAMPLE_RATE, 24);
  header.writeUInt32LE(SAMPLE_RATE * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(bytes, 40);
  return Buffer.concat([header, ...chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))]);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
