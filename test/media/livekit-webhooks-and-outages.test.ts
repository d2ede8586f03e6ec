import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { RoomEvent, dispose, type Room } from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import { Registry } from 'prom-client';
import type { Config } from '../../config';
import type { MediaGrant } from '../../domain/media/grants';
import { LiveKitMediaServer, MediaServerUnavailable } from '../../platform/media/livekit';
import { createRedis } from '../../platform/redis';
import { startLiveKit } from '../../scripts/stack/services';
import { createSeatBinder, mediaAccessFromConfig, type MediaJoin } from '../../services/media';
import { startApi, startEdge, testLogger } from '../support/app-harness';
import { TEST_LIVEKIT_KEYS } from '../support/global-setup';
import { connectMedia, eventually, nextEvent, startStalledServer } from '../support/media';
import { freePorts } from '../support/ports';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { apiClient, errorCode, UNLIMITED_RATES } from '../support/room-api';
import { createRoom, createUser, type TestUser } from '../support/rooms';
import { TestSocket } from '../support/ws-client';

/**
 * LiveKit's webhooks feeding presence (a LiveKit of its own, pointed at this suite's API), forged
 * webhooks refused, and the media server stalled or unreachable: joins and seat changes go on,
 * calls fail fast with a typed transient error and are counted.
 */
let stack: RealStack;
const LISTENER: MediaGrant = { canSubscribe: true, canPublish: false, sources: [], canPublishData: false };
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  stack = await connectRealStack('media-webhooks');
});

afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await stack?.close();
  await dispose();
});

async function joinOverSocket(edgeUrl: string, user: TestUser, roomId: string): Promise<{ socket: TestSocket; media: MediaJoin | undefined }> {
  const socket = await TestSocket.connect(edgeUrl, { token: user.token });
  cleanup.push(() => socket.close());
  const ref = randomUUID();
  socket.send({ type: 'join', room: roomId, ref });
  const reply = await socket.until((m) => m.ref === ref);
  if (reply.type !== 'snapshot') throw new Error(`join refused: ${JSON.stringify(reply)}`);
  return { socket, media: reply.media as MediaJoin | undefined };
}

const mediaConnections = async (roomId: string, userId: string) =>
  (await stack.redis.smembers(`aura:room:{${roomId}}:conns:${userId}`)).filter((c) => c.startsWith('lk:'));

describe('LiveKit webhooks', () => {
  let apiUrl: string;
  let edgeUrl: string;
  let config: Config;
  let lk: Awaited<ReturnType<typeof startLiveKit>>;

  beforeAll(async () => {
    const [apiPort, lkPort, lkTcp, lkUdp] = await freePorts(4);
    const dir = mkdtempSync('/tmp/aura-test-livekit-webhooks-');
    lk = await startLiveKit({
      serverPath: process.env.LIVEKIT_SERVER_PATH!,
      dir,
      port: lkPort!,
      rtcTcpPort: lkTcp!,
      rtcUdpPort: lkUdp!,
      ...TEST_LIVEKIT_KEYS,
      webhookUrls: [`http://127.0.0.1:${apiPort}/v1/media/livekit/webhook`],
      output: { file: join(process.env.AURA_TEST_LOG_DIR ?? dir, 'livekit-webhooks.log') },
    });
    cleanup.push(() => lk.process.stop());
    config = { ...stack.config, ...UNLIMITED_RATES, LIVEKIT_URL: lk.url, LIVEKIT_API_URL: lk.apiUrl };
    const api = await startApi(stack, config, testLogger, { port: apiPort });
    cleanup.push(() => api.close());
    apiUrl = api.url;
    const edge = await startEdge(stack, {}, config, { media: mediaAccessFromConfig(config) });
    cleanup.push(() => edge.close());
    edgeUrl = edge.url;
  });

  it('participant_joined counts a member’s media connection in the room; participant_left drops it', async () => {
    const owner = await createUser(stack, 'Owner');
    const member = await createUser(stack, 'Member');
    const roomId = (await createRoom((await startEdgeRooms()).rooms, owner.userId)).id;
    const { media } = await joinOverSocket(edgeUrl, member, roomId);
    expect(media?.url).toBe(lk.url);
    const room = await connectMedia(media!.url, media!.token);
    const sid = room.localParticipant!.sid!;
    // LiveKit's signed webhook reached the API, was verified, and the media connection counts.
    await eventually(async () => (await mediaConnections(roomId, member.userId)).includes(`lk:${sid}`), 'the participant_joined webhook');
    await room.disconnect();
    await eventually(async () => (await mediaConnections(roomId, member.userId)).length === 0, 'the participant_left webhook');
    // The member is still in the room (their socket is connected).
    expect(await stack.redis.zscore(`aura:room:{${roomId}}:members`, member.userId)).not.toBeNull();
  });

  it('a participant who is not a member is never admitted through the media: refused and removed', async () => {
    const owner = await createUser(stack, 'Owner');
    const stranger = await createUser(stack, 'Stranger');
    const roomId = (await createRoom((await startEdgeRooms()).rooms, owner.userId)).id;
    const lkServer = new LiveKitMediaServer({ url: lk.url, apiUrl: lk.apiUrl, ...TEST_LIVEKIT_KEYS, timeoutMs: 3000 });
    const { token } = await lkServer.mintJoinToken(roomId, stranger.userId, LISTENER, 600);
    const room: Room = await connectMedia(lk.url, token);
    cleanup.push(() => room.disconnect());
    await nextEvent(room, RoomEvent.Disconnected, () => true, 'the stranger to be removed', 20_000).catch(async (err: unknown) => {
      if (room.isConnected) throw err; // already gone before we listened
    });
    expect(await stack.redis.zscore(`aura:room:{${roomId}}:members`, stranger.userId)).toBeNull();
    expect(await mediaConnections(roomId, stranger.userId)).toEqual([]);
  });

  it('an unsigned, forged or altered webhook is refused with 401 WEBHOOK_SIGNATURE_INVALID', async () => {
    const body = JSON.stringify({ event: 'participant_joined', id: 'EV_forged', room: { name: `aura-${randomUUID()}` }, participant: { sid: 'PA_x', identity: randomUUID() } });
    const sha = createHash('sha256').update(body).digest('base64');
    const signed = async (secret: string) => {
      const at = new AccessToken(TEST_LIVEKIT_KEYS.apiKey, secret);
      at.sha256 = sha;
      return at.toJwt();
    };
    const post = (b: string, authorization?: string) =>
      fetch(`${apiUrl}/v1/media/livekit/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/webhook+json', ...(authorization ? { authorization } : {}) },
        body: b,
      }).then(async (res) => {
        const text = await res.text();
        return { status: res.status, body: (text ? JSON.parse(text) : {}) as unknown };
      });
    for (const reply of [
      await post(body),
      await post(body, await signed('some-other-secret-0123456789abcdef0123')),
      await post(body.replace('participant_joined', 'participant_left'), await signed(TEST_LIVEKIT_KEYS.apiSecret)),
      await post('not json', 'Bearer nonsense'),
    ]) {
      expect(reply.status).toBe(401);
      expect(errorCode(reply)).toBe('WEBHOOK_SIGNATURE_INVALID');
    }
    // The genuine signature over the same bytes passes (a room that isn't live: nothing to count).
    expect((await post(body, await signed(TEST_LIVEKIT_KEYS.apiSecret))).status).toBe(204);
  });
});

/** Room services over the shared stores (room creation needs no edge of its own). */
async function startEdgeRooms() {
  const edge = await startEdge(stack);
  cleanup.push(() => edge.close());
  return edge;
}

describe('the media server stalled or unreachable', () => {
  it('a call to a stalled server fails with a typed transient error within the timeout; the breaker then fails fast', async () => {
    const stalled = await startStalledServer();
    cleanup.push(() => stalled.close());
    const media = new LiveKitMediaServer({ url: stalled.url.replace('http', 'ws'), ...TEST_LIVEKIT_KEYS, timeoutMs: 200 });
    await expect(media.setPermissions(randomUUID(), randomUUID(), LISTENER)).rejects.toThrow(MediaServerUnavailable);
    await expect(media.listParticipants(randomUUID())).rejects.toThrow(/did not answer/);
    for (let i = 0; i < 3; i++) await expect(media.removeParticipant(randomUUID(), randomUUID())).rejects.toThrow(MediaServerUnavailable);
    // Five failures within 10 s: open. Calls now fail without reaching the server.
    await expect(media.closeRoom(randomUUID())).rejects.toThrow(/circuit is open/);
    // Tokens are signed locally: they don't need the server at all.
    expect((await media.mintJoinToken(randomUUID(), randomUUID(), LISTENER, 60)).token).toEqual(expect.any(String));
  });

  it('an unreachable server is the same typed transient error', async () => {
    const [closedPort] = await freePorts(1);
    const media = new LiveKitMediaServer({ url: `ws://127.0.0.1:${closedPort}`, ...TEST_LIVEKIT_KEYS, timeoutMs: 1000 });
    await expect(media.setPermissions(randomUUID(), randomUUID(), LISTENER)).rejects.toThrow(/unreachable/);
  });

  it('joins and seat changes go on while LiveKit stalls; the binder counts the failure and leaves it to the reconcile', async () => {
    const stalled = await startStalledServer();
    cleanup.push(() => stalled.close());
    const config = { ...stack.config, ...UNLIMITED_RATES, LIVEKIT_URL: stalled.url.replace('http', 'ws'), LIVEKIT_API_URL: stalled.url, LIVEKIT_TIMEOUT_MS: 200 };
    const access = mediaAccessFromConfig(config)!;
    const api = await startApi(stack, config, testLogger, { media: access.media });
    cleanup.push(() => api.close());
    const edge = await startEdge(stack, {}, config, { media: access });
    cleanup.push(() => edge.close());
    const registry = new Registry();
    const binder = createSeatBinder({
      config: { ...config, MEDIA_RECONCILE_SECONDS: 3600, ROOM_CONNECTION_LEASE_SECONDS: 3 * 3600 },
      access,
      live: edge.live,
      subscriber: createRedis(config.REDIS_URL, { name: 'test-media-binder-stalled' }),
      logger: testLogger,
      registry,
    });
    await binder.start();
    cleanup.push(() => binder.stop());

    const owner = await createUser(stack, 'Owner');
    const speaker = await createUser(stack, 'Speaker');
    const roomId = (await createRoom(edge.rooms, owner.userId)).id;
    const { media } = await joinOverSocket(edge.url, speaker, roomId);
    expect(media).toMatchObject({ grant: LISTENER, token: expect.any(String) });
    expect((await apiClient(api.url).as(speaker).post(`/rooms/${roomId}/seats/take`, { seat: 2 })).status).toBe(204);
    const token = await apiClient(api.url).as(speaker).post<MediaJoin>(`/rooms/${roomId}/media/token`);
    expect(token.status).toBe(201);
    expect(token.body.grant.sources).toEqual(['microphone']);

    const failed = async () => (await registry.getSingleMetric('aura_media_permission_updates_total')!.get()).values.find((v) => v.labels.result === 'failed')?.value ?? 0;
    await eventually(async () => (await failed()) >= 1, 'the binder to count the failed permission update');
    await binder.idle();
    // The reconcile can't reach the server either: it reports the failure and the next round retries.
    await expect(binder.reconcile()).rejects.toThrow(MediaServerUnavailable);
  });
});
