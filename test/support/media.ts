import { createServer, type Server, type Socket } from 'node:net';
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  LocalVideoTrack,
  Room,
  type RoomEvent,
  TrackPublishOptions,
  TrackSource,
  VideoBufferType,
  VideoFrame,
  VideoSource,
  type LocalTrackPublication,
  type RemoteTrack,
} from '@livekit/rtc-node';

/** Resolves with `value()` once it is truthy, polling every 25 ms; rejects at the deadline. */
export async function eventually<T>(value: () => Promise<T | null | undefined | false>, what: string, deadlineMs = 15_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await value();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The next emission of `event` for which `match` holds, or a rejection at the deadline. */
export function nextEvent<A extends unknown[]>(room: Room, event: RoomEvent, match: (...args: A) => boolean, what: string, deadlineMs = 15_000): Promise<A> {
  return new Promise((resolve, reject) => {
    const listener = (...args: A) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      room.off(event, listener as never);
      resolve(args);
    };
    const timer = setTimeout(() => {
      room.off(event, listener as never);
      reject(new Error(`timed out waiting for ${what}`));
    }, deadlineMs);
    room.on(event, listener as never);
  });
}

/** A LiveKit participant (the native WebRTC stack of @livekit/rtc-node). */
export async function connectMedia(url: string, token: string): Promise<Room> {
  const room = new Room();
  await room.connect(url, token, { autoSubscribe: true, dynacast: false });
  return room;
}

/** A microphone that plays a tone until stopped: 10 ms frames, paced by the source's queue. */
export class Tone {
  private running = true;
  private readonly loop: Promise<void>;

  private constructor(
    readonly source: AudioSource,
    readonly track: LocalAudioTrack,
  ) {
    const samples = 480;
    const data = new Int16Array(samples);
    for (let i = 0; i < samples; i++) data[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 48_000));
    this.loop = (async () => {
      while (this.running) await this.source.captureFrame(new AudioFrame(data, 48_000, 1, samples)).catch(() => undefined);
    })();
  }

  static start(): Tone {
    const source = new AudioSource(48_000, 1, 200);
    return new Tone(source, LocalAudioTrack.createAudioTrack('mic', source));
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.track.close(false).catch(() => undefined);
    await this.source.close().catch(() => undefined);
  }
}

/** Publishes a tone as a microphone; the publication, or the refusal. */
export async function publishMicrophone(room: Room, tone: Tone): Promise<LocalTrackPublication> {
  return room.localParticipant!.publishTrack(tone.track, new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }));
}

/** Publishes a (grey) camera frame source. */
export async function publishCamera(room: Room): Promise<{ publication: LocalTrackPublication; stop(): Promise<void> }> {
  const source = new VideoSource(320, 180);
  const track = LocalVideoTrack.createVideoTrack('camera', source);
  const frame = new VideoFrame(new Uint8Array(320 * 180 * 4).fill(128), 320, 180, VideoBufferType.RGBA);
  const timer = setInterval(() => source.captureFrame(frame), 66);
  const stop = async () => {
    clearInterval(timer);
    await track.close(false).catch(() => undefined);
    await source.close().catch(() => undefined);
  };
  try {
    const publication = await room.localParticipant!.publishTrack(track, new TrackPublishOptions({ source: TrackSource.SOURCE_CAMERA, simulcast: true }));
    return { publication, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The first audio frame a subscribed track delivers. */
export async function firstAudioFrame(track: RemoteTrack): Promise<AudioFrame> {
  const stream = new AudioStream(track, 48_000, 1);
  const reader = stream.getReader();
  try {
    const { value } = await reader.read();
    if (!value) throw new Error('the audio stream ended without a frame');
    return value;
  } finally {
    reader.releaseLock();
    await stream.cancel().catch(() => undefined);
  }
}

/** A TCP server that accepts connections and never answers: a stalled dependency. */
export async function startStalledServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
