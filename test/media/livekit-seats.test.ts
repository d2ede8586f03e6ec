import { randomUUID } from 'node:crypto';
import { RoomEvent, dispose, type RemoteParticipant, type RemoteTrack, type RemoteTrackPublication, type Room } from '@livekit/rtc-node';
import { RoomServiceClient, TrackSource } from 'livekit-server-sdk';
import type { MediaGrant } from '../../domain/media/grants';
import { type LiveKitMediaServer, mediaRoomName, type MediaParticipant } from '../../platform/media/livekit';
import { createRedis } from '../../platform/redis';
import { createSeatBinder, mediaAccessFromConfig, type MediaAccess, type MediaJoin, type SeatBinder } from '../../services/media';
import { startApi, startEdge, testLogger } from '../support/app-harness';
import { connectMedia, eventually, firstAudioFrame, nextEvent, publishCamera, publishMicrophone, Tone } from '../support/media';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { apiClient, errorCode, UNLIMITED_RATES, type ApiClient } from '../support/room-api';
import { createRoom, createUser, type TestUser } from '../support/rooms';
import { TestSocket } from '../support/ws-client';

/**
 * The seat grid decides who may speak, on a real LiveKit server, with real participants
 * (@livekit/rtc-node): the join frame's token, the seat binder following every seat change,
 * the reconcile loop repairing drift and removing non-members.
 */
let stack: RealStack;
let api: Awaited<ReturnType<typeof startApi>>;
let edge: Awaited<ReturnType<typeof startEdge>>;
let client: ApiClient;
let access: MediaAccess;
let binder: SeatBinder;
let server: LiveKitMediaServer;
const sockets: TestSocket[] = [];
const mediaRooms: Room[] = [];
const tones: Tone[] = [];

const LISTENER: MediaGrant = { canSubscribe: true, canPublish: false, sources: [], canPublishData: false };
const SPEAKER: MediaGrant = { canSubscribe: true, canPublish: true, sources: ['microphone'], canPublishData: false };

beforeAll(async () => {
  stack = await connectRealStack('media-seats');
  // A camera cap of 1, so seat 1 of a video room is already past it.
  api = await startApi(stack, { ...UNLIMITED_RATES, MEDIA_VIDEO_PUBLISHERS_MAX: 1 });
  client = apiClient(api.url);
  access = mediaAccessFromConfig({ ...stack.config, MEDIA_VIDEO_PUBLISHERS_MAX: 1 })!;
  edge = await startEdge(stack, {}, {}, { media: access });
  // Reconcile only when a test runs it (the loop's timer is the production trigger).
  binder = createSeatBinder({
    config: { ...stack.config, MEDIA_RECONCILE_SECONDS: 3600, ROOM_CONNECTION_LEASE_SECONDS: 3 * 3600 },
    access,
    live: edge.live,
    subscriber: createRedis(stack.config.REDIS_URL, { name: 'test-media-binder' }),
    logger: testLogger,
  });
  await binder.start();
  server = access.media as LiveKitMediaServer;
});

afterAll(async () => {
  for (const t of tones) await t.stop();
  for (const r of mediaRooms) await r.disconnect().catch(() => undefined);
  for (const s of sockets) await s.close();
  await binder?.stop();
  await edge?.close();
  await api?.close();
  await stack?.close();
  await dispose();
});

/** Joins the room over the socket; the snapshot frame's media join. */
async function joinRoom(user: TestUser, roomId: string): Promise<MediaJoin> {
  const socket = await TestSocket.connect(edge.url, { token: user.token });
  sockets.push(socket);
  const ref = randomUUID();
  socket.send({ type: 'join', room: roomId, ref });
  const reply = await socket.until((m) => m.ref === ref);
  if (reply.type !== 'snapshot') throw new Error(`join refused: ${JSON.stringify(reply)}`);
  return reply.media as MediaJoin;
}

async function connect(join: MediaJoin): Promise<Room> {
  const room = await connectMedia(join.url, join.token);
  mediaRooms.push(room);
  return room;
}

function startTone(): Tone {
  const tone = Tone.start();
  tones.push(tone);
  return tone;
}

async function participant(roomId: string, userId: string): Promise<MediaParticipant | undefined> {
  return (await server.listParticipants(roomId)).find((p) => p.userId === userId);
}

/** Waits until the media server holds this grant for the user. */
function grantOnServer(roomId: string, userId: string, grant: MediaGrant, what: string): Promise<MediaParticipant> {
  return eventually(async () => {
    const p = await participant(roomId, userId);
    return p && JSON.stringify([...p.grant.sources].sort()) === JSON.stringify([...grant.sources].sort()) && p.grant.canPublish === grant.canPublish ? p : null;
  }, what);
}

const publishedAudio = async (roomId: string, userId: string) => ((await participant(roomId, userId))?.tracks ?? []).filter((t) => t.kind === 'audio');

/** The listener subscribes to the speaker's microphone and receives audio from it. */
async function hears(listener: Room, speakerId: string, publishing: () => Promise<unknown>): Promise<RemoteTrack> {
  const subscribed = nextEvent<[RemoteTrack, RemoteTrackPublication, RemoteParticipant]>(
    listener,
    RoomEvent.TrackSubscribed,
    (_t, _p, who) => who.identity === speakerId,
    'the listener to subscribe to the speaker',
  );
  await publishing();
  const [track] = await subscribed;
  const frame = await firstAudioFrame(track);
  expect(frame.samplesPerChannel).toBeGreaterThan(0);
  return track;
}

function unpublishedFor(listener: Room, speakerId: string) {
  return nextEvent<[RemoteTrackPublication, RemoteParticipant]>(listener, RoomEvent.TrackUnpublished, (_p, who) => who.identity === speakerId, 'the track to be unpublished');
}

/** A new voice room and the three people these tests cast in it. */
async function voiceRoom(): Promise<{ owner: TestUser; speaker: TestUser; listener: TestUser; roomId: string }> {
  const [owner, speaker, listener] = [await createUser(stack, 'Owner'), await createUser(stack, 'Speaker'), await createUser(stack, 'Listener')];
  return { owner, speaker, listener, roomId: (await createRoom(edge.rooms, owner.userId)).id };
}

describe('a voice room: the seat grid decides who may speak', () => {
  let owner: TestUser;
  let speaker: TestUser;
  let listener: TestUser;
  let roomId: string;
  let speakerMedia: Room;
  let listenerMedia: Room;

  beforeAll(async () => {
    ({ owner, speaker, listener, roomId } = await voiceRoom());
  });

  it('the join frame carries a subscribe-only token for a listener', async () => {
    const join = await joinRoom(speaker, roomId);
    expect(join).toEqual({
      url: stack.config.LIVEKIT_URL,
      token: expect.any(String),
      room: mediaRoomName(roomId),
      identity: speaker.userId,
      expiresAt: expect.any(String),
      grant: LISTENER,
      publish: {},
    });
    expect(Date.parse(join.expiresAt)).toBeGreaterThan(Date.now() + (stack.config.LIVEKIT_TOKEN_TTL_SECONDS - 60) * 1000);
    speakerMedia = await connect(join);
    listenerMedia = await connect(await joinRoom(listener, roomId));
    await grantOnServer(roomId, listener.userId, LISTENER, 'the listener on the media server');
  });

  it('a listener trying to publish is refused: no track appears on the server', async () => {
    const tone = startTone();
    await expect(publishMicrophone(listenerMedia, tone)).rejects.toThrow();
    expect(await publishedAudio(roomId, listener.userId)).toEqual([]);
  });

  it('taking a seat grants the microphone; the listener receives the speaker’s audio', async () => {
    expect((await client.as(speaker).post(`/rooms/${roomId}/seats/take`, { seat: 2 })).status).toBe(204);
    await grantOnServer(roomId, speaker.userId, SPEAKER, 'the seat binder to grant the microphone');
    await hears(listenerMedia, speaker.userId, () => publishMicrophone(speakerMedia, startTone()));
    expect(await publishedAudio(roomId, speaker.userId)).toHaveLength(1);
    // A re-issued token carries the seat as of now.
    const reissued = await client.as(speaker).post<MediaJoin>(`/rooms/${roomId}/media/token`);
    expect(reissued.status).toBe(201);
    expect(reissued.body).toMatchObject({ grant: SPEAKER, publish: { audio: { source: 'microphone', kind: 'voice', channels: 1 } } });
  });

  it('an admin mute unpublishes the speaker’s track at once; the server lists no audio for them', async () => {
    const unpublished = unpublishedFor(listenerMedia, speaker.userId);
    expect((await client.as(owner).post(`/rooms/${roomId}/seats/2/mute`, { muted: true })).status).toBe(204);
    await unpublished;
    expect(await publishedAudio(roomId, speaker.userId)).toEqual([]);
    expect((await participant(roomId, speaker.userId))?.grant).toEqual(LISTENER);
  });

  it('unmuted, they speak again; removed from the seat, the track stops', async () => {
    expect((await client.as(owner).post(`/rooms/${roomId}/seats/2/mute`, { muted: false })).status).toBe(204);
    await grantOnServer(roomId, speaker.userId, SPEAKER, 'the microphone back after the unmute');
    await hears(listenerMedia, speaker.userId, () => publishMicrophone(speakerMedia, startTone()));
    const unpublished = unpublishedFor(listenerMedia, speaker.userId);
    expect((await client.as(owner).post(`/rooms/${roomId}/seats/remove`, { userId: speaker.userId })).status).toBe(204);
    await unpublished;
    expect(await publishedAudio(roomId, speaker.userId)).toEqual([]);
  });

  it('a locked seat publishes nothing: locking it under a speaker unpublishes them', async () => {
    expect((await client.as(speaker).post(`/rooms/${roomId}/seats/take`, { seat: 3 })).status).toBe(204);
    await grantOnServer(roomId, speaker.userId, SPEAKER, 'the microphone on seat 3');
    await hears(listenerMedia, speaker.userId, () => publishMicrophone(speakerMedia, startTone()));
    const unpublished = unpublishedFor(listenerMedia, speaker.userId);
    expect((await client.as(owner).post(`/rooms/${roomId}/seats/3/lock`, { locked: true })).status).toBe(204);
    await unpublished;
    expect(await publishedAudio(roomId, speaker.userId)).toEqual([]);
    expect((await participant(roomId, speaker.userId))?.grant).toEqual(LISTENER);
    expect((await client.as(speaker).post(`/rooms/${roomId}/seats/take`, { seat: 3 })).status).toBe(409);
  });

  it('a kick removes the participant from the media server', async () => {
    expect((await client.as(speaker).post(`/rooms/${roomId}/seats/take`, { seat: 4 })).status).toBe(204);
    await grantOnServer(roomId, speaker.userId, SPEAKER, 'the microphone on seat 4');
    await hears(listenerMedia, speaker.userId, () => publishMicrophone(speakerMedia, startTone()));
    const gone = nextEvent<[RemoteParticipant]>(listenerMedia, RoomEvent.ParticipantDisconnected, (who) => who.identity === speaker.userId, 'the speaker to leave the media room');
    expect((await client.as(owner).post(`/rooms/${roomId}/kick`, { userId: speaker.userId })).status).toBe(204);
    await gone;
    expect(await participant(roomId, speaker.userId)).toBeUndefined();
    // Kicked, they get no new token.
    expect(errorCode(await client.as(speaker).post(`/rooms/${roomId}/media/token`))).toBe('NOT_IN_ROOM');
  });

  it('reconcile repairs a permission set wrong behind the binder’s back, and removes a participant who is not a member', async () => {
    const sdk = new RoomServiceClient(stack.config.LIVEKIT_API_URL!, stack.config.LIVEKIT_API_KEY, stack.config.LIVEKIT_API_SECRET);
    await sdk.updateParticipant(mediaRoomName(roomId), listener.userId, {
      permission: { canSubscribe: true, canPublish: true, canPublishData: true, canPublishSources: [TrackSource.MICROPHONE, TrackSource.CAMERA] },
    });
    expect((await participant(roomId, listener.userId))?.grant.canPublish).toBe(true);
    // A stranger with a token minted outside the room's rules (never a member).
    const stranger = await createUser(stack, 'Stranger');
    const minted = await access.media.mintJoinToken(roomId, stranger.userId, LISTENER, 600);
    const strangerMedia = await connectMedia(stack.config.LIVEKIT_URL!, minted.token);
    mediaRooms.push(strangerMedia);
    expect(await participant(roomId, stranger.userId)).toBeDefined();
    const gone = nextEvent(strangerMedia, RoomEvent.Disconnected, () => true, 'the stranger to be disconnected');

    const report = await binder.reconcile();
    expect(report).toMatchObject({ permissions: 1, removed: 1, failures: 0 });
    await gone;
    expect((await participant(roomId, listener.userId))?.grant).toEqual(LISTENER);
    expect(await participant(roomId, stranger.userId)).toBeUndefined();
    // The listener's media connection now counts in the room's presence (its lease renewed by the same pass).
    const conns = await stack.redis.smembers(`aura:room:{${roomId}}:conns:${listener.userId}`);
    expect(conns.filter((c) => c.startsWith('lk:'))).toHaveLength(1);
    const again = await binder.reconcile();
    expect(again).toMatchObject({ permissions: 0, removed: 0, reconnected: 0, failures: 0 });
  });

  it('closing the room closes its media room', async () => {
    const gone = nextEvent(listenerMedia, RoomEvent.Disconnected, () => true, 'the listener to be disconnected');
    expect((await client.as(owner).post(`/rooms/${roomId}/close`)).status).toBe(204);
    await gone;
    expect(await server.listRooms()).not.toContain(roomId);
  });
});

describe('a speaker who leaves, and one who is banned', () => {
  let owner: TestUser;
  let speaker: TestUser;
  let listener: TestUser;
  let roomId: string;
  let speakerMedia: Room;
  let listenerMedia: Room;

  beforeAll(async () => {
    ({ owner, speaker, listener, roomId } = await voiceRoom());
    speakerMedia = await connect(await joinRoom(speaker, roomId));
    listenerMedia = await connect(await joinRoom(listener, roomId));
    await grantOnServer(roomId, listener.userId, LISTENER, 'the listener on the media server');
  });

  it('leaving the seat themselves takes the microphone away: the track stops', async () => {
    expect((await client.as(speaker).post(`/rooms/${roomId}/seats/take`, { seat: 1 })).status).toBe(204);
    await grantOnServer(roomId, speaker.userId, SPEAKER, 'the microphone on seat 1');
    await hears(listenerMedia, speaker.userId, () => publishMicrophone(speakerMedia, startTone()));
    const unpublished = unpublishedFor(listenerMedia, speaker.userId);
    expect((await client.as(speaker).post(`/rooms/${roomId}/seats/leave`)).status).toBe(204);
    await unpublished;
    expect(await publishedAudio(roomId, speaker.userId)).toEqual([]);
    expect((await participant(roomId, speaker.userId))?.grant).toEqual(LISTENER);
  });

  it('a ban removes a seated speaker from the media server, and no new token is issued to them', async () => {
    expect((await client.as(speaker).post(`/rooms/${roomId}/seats/take`, { seat: 2 })).status).toBe(204);
    await grantOnServer(roomId, speaker.userId, SPEAKER, 'the microphone on seat 2');
    await hears(listenerMedia, speaker.userId, () => publishMicrophone(speakerMedia, startTone()));
    const gone = nextEvent<[RemoteParticipant]>(listenerMedia, RoomEvent.ParticipantDisconnected, (who) => who.identity === speaker.userId, 'the banned speaker to leave the media room');
    expect((await client.as(owner).put(`/rooms/${roomId}/bans/${speaker.userId}`, { reason: 'spam' })).status).toBe(204);
    await gone;
    expect(await participant(roomId, speaker.userId)).toBeUndefined();
    // No longer a member: no token; and joining again is refused for the ban.
    expect(errorCode(await client.as(speaker).post(`/rooms/${roomId}/media/token`))).toBe('NOT_IN_ROOM');
    await expect(joinRoom(speaker, roomId)).rejects.toThrow(/ROOM_BANNED/);
  });
});

describe('video and music rooms', () => {
  it('video: a camera with simulcast layers below the cap (1 here), audio only from the cap on', async () => {
    const owner = await createUser(stack, 'Host');
    const guest = await createUser(stack, 'Guest');
    const roomId = (await createRoom(edge.rooms, owner.userId, { type: 'video' })).id;
    const ownerJoin = await joinRoom(owner, roomId);
    const guestMedia = await connect(await joinRoom(guest, roomId));
    expect((await client.as(owner).post(`/rooms/${roomId}/seats/take`, { seat: 0 })).status).toBe(204);
    expect((await client.as(guest).post(`/rooms/${roomId}/seats/take`, { seat: 1 })).status).toBe(204);

    const host = await client.as(owner).post<MediaJoin>(`/rooms/${roomId}/media/token`);
    expect(host.body.grant).toEqual({ canSubscribe: true, canPublish: true, sources: ['microphone', 'camera'], canPublishData: false });
    expect(host.body.publish.video).toMatchObject({ source: 'camera', simulcast: true, codec: 'vp8' });
    expect(host.body.publish.video!.layers.map((l) => l.height)).toEqual([180, 360, 720]);
    const guestToken = await client.as(guest).post<MediaJoin>(`/rooms/${roomId}/media/token`);
    expect(guestToken.body.grant.sources).toEqual(['microphone']);
    expect(guestToken.body.publish.video).toBeUndefined();

    // The host publishes a camera; the guest (seat 1, at the cap) is refused one.
    const hostMedia = await connect({ ...ownerJoin, token: host.body.token });
    await grantOnServer(roomId, guest.userId, SPEAKER, 'the guest’s microphone');
    const camera = await publishCamera(hostMedia);
    await eventually(async () => ((await participant(roomId, owner.userId))?.tracks ?? []).some((t) => t.source === 'camera'), 'the host camera on the server');
    await camera.stop();
    await expect(publishCamera(guestMedia)).rejects.toThrow();
    expect(((await participant(roomId, guest.userId))?.tracks ?? []).filter((t) => t.kind === 'video')).toEqual([]);
    expect((await client.as(owner).post(`/rooms/${roomId}/close`)).status).toBe(204);
  });

  it('music: the DJ seat’s grant carries music publishing (stereo, 128 kbps, no DTX, no RED)', async () => {
    const owner = await createUser(stack, 'Host');
    const dj = await createUser(stack, 'DJ');
    const roomId = (await createRoom(edge.rooms, owner.userId, { type: 'music' })).id;
    await joinRoom(dj, roomId);
    expect((await client.as(dj).post(`/rooms/${roomId}/seats/take`, { seat: 1 })).status).toBe(204);
    const token = await client.as(dj).post<MediaJoin>(`/rooms/${roomId}/media/token`);
    expect(token.body.grant.sources).toEqual(['microphone']);
    expect(token.body.publish.audio).toEqual({ source: 'microphone', kind: 'music', channels: 2, maxBitrateBps: 128_000, dtx: false, red: false });
    expect((await client.as(owner).post(`/rooms/${roomId}/close`)).status).toBe(204);
  });
});

describe('the media token route', () => {
  it('refuses a non-member, an unknown room and a bad id, each with its code', async () => {
    const owner = await createUser(stack, 'Host');
    const outsider = await createUser(stack, 'Outsider');
    const roomId = (await createRoom(edge.rooms, owner.userId)).id;
    expect(errorCode(await client.as(outsider).post(`/rooms/${roomId}/media/token`))).toBe('NOT_IN_ROOM');
    expect(errorCode(await client.as(outsider).post(`/rooms/${randomUUID()}/media/token`))).toBe('ROOM_NOT_FOUND');
    expect(errorCode(await client.as(outsider).post(`/rooms/nope/media/token`))).toBe('VALIDATION_FAILED');
    expect(errorCode(await client.as(outsider).post(`/rooms/${roomId}/media/token`, { seat: 1 }))).toBe('VALIDATION_FAILED');
    expect((await client.as(owner).post(`/rooms/${roomId}/close`)).status).toBe(204);
  });
});
