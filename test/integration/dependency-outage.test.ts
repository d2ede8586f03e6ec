import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createRedis } from '../../platform/redis';
import { startRedis, type RunningService } from '../../scripts/stack/services';
import { startApi, startEdge } from '../support/app-harness';
import { freePort } from '../support/ports';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { UNLIMITED_RATES } from '../support/room-api';
import { createRoom, createUser, expectContiguous, join as joinRoom, type TestUser } from '../support/rooms';
import { sendChat } from '../support/room-api';
import { TestSocket } from '../support/ws-client';

/**
 * A Redis of its own (the shared one serves the other suites), paused with SIGSTOP (the TCP
 * connection stays open and nothing answers) and then killed: liveness keeps answering,
 * readiness names Redis, a signed-in route answers 503 DEPENDENCY_UNAVAILABLE with Retry-After,
 * a socket command gets a retryable error, and everything recovers when Redis is back, the
 * socket that stayed open throughout included (a phone keeps its socket through a server-side
 * outage). Every request is awaited, so one that hangs fails the test at the jest timeout.
 */
let shared: RealStack;
let stack: RealStack;
let redisService: RunningService;
let redis: Redis;
let redisDir: string;
let redisPort: number;
let api: Awaited<ReturnType<typeof startApi>>;
let edge: Awaited<ReturnType<typeof startEdge>>;
let owner: TestUser;
let roomId: string;
let socket: TestSocket;
/** The seq of the socket's snapshot: its room events must run on from there without a gap. */
let joinedAtSeq: number;
let epoch: string;

async function startDedicatedRedis(dataDir = 'data'): Promise<RunningService> {
  // Append-only file on, so a killed and restarted Redis comes back with the room's live state.
  // Synced at every write: with the default (once a second, and writes held back while a slow
  // disk syncs) a kill now and then loses the last events, which is the case of the last test.
  return startRedis({ dataDir: join(redisDir, dataDir), port: redisPort, persist: true, fsyncEveryWrite: true, output: { file: join(redisDir, 'redis.log') } });
}

beforeAll(async () => {
  shared = await connectRealStack('dependency-outage');
  redisDir = mkdtempSync('/tmp/aura-outage-redis-');
  redisPort = await freePort();
  redisService = await startDedicatedRedis();
  redis = createRedis(redisService.url, { name: 'outage-test' });
  redis.on('error', () => undefined); // reconnect attempts while it is down
  stack = { ...shared, redis, config: { ...shared.config, REDIS_URL: redisService.url } };
  [api, edge] = await Promise.all([startApi(stack, UNLIMITED_RATES), startEdge(stack)]);
  owner = await createUser(stack, 'Outage');
  roomId = (await createRoom(edge.rooms, owner.userId)).id;
  socket = await TestSocket.connect(edge.url, { token: owner.token });
  ({ seq: joinedAtSeq, epoch } = await joinRoom(socket, roomId));
});

afterAll(async () => {
  await socket?.close();
  await edge?.close();
  await api?.close();
  redis?.disconnect();
  redisService?.process.child.kill('SIGCONT');
  await redisService?.process.stop();
  await shared?.close();
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
});

const get = (path: string, token?: string) => fetch(`${api.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

/** Polls until `check` passes (a recovery has no event to await); the jest timeout bounds it. */
async function eventually(check: () => Promise<void>): Promise<void> {
  for (;;) {
    try {
      return await check();
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * readyz's dependency checks, from a 200 or a 503 alike. This suite runs no worker on the API's
 * task queue, so readyz's `worker` check is not what it watches: only the three dependencies.
 */
async function dependencyChecks(): Promise<Record<string, string>> {
  const ready = await get('/v1/readyz');
  const body = (await ready.json()) as { checks?: Record<string, string>; error?: { code: string; details: Record<string, string> } };
  if (ready.status === 503) expect(body.error?.code).toBe('DEPENDENCY_UNAVAILABLE');
  const { postgres, redis, temporal } = body.checks ?? body.error?.details ?? {};
  return { postgres: postgres!, redis: redis!, temporal: temporal! };
}

async function expectOutageAnswers(): Promise<void> {
  const health = await get('/v1/healthz');
  expect(health.status).toBe(200);
  expect(await health.json()).toEqual({ status: 'ok' });

  const ready = await get('/v1/readyz');
  expect(ready.status).toBe(503);
  const readiness = await dependencyChecks();
  expect(readiness).toMatchObject({ postgres: 'ok', temporal: 'ok' });
  expect(readiness.redis).not.toBe('ok');

  // Discovery reads live state from Redis; the session check reads it too.
  for (const path of ['/v1/rooms?sort=popular', `/v1/rooms/${roomId}/members`]) {
    const res = await get(path, owner.token);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(30);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('DEPENDENCY_UNAVAILABLE');
  }

  // The sign-in limits guard paid SMS: they refuse (503) rather than count per process.
  const otp = await fetch(`${api.url}/v1/auth/otp/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ phone: '+447400123456' }),
  });
  expect(otp.status).toBe(503);
  expect(((await otp.json()) as { error: { code: string; details: { limit: string } } }).error).toMatchObject({
    code: 'DEPENDENCY_UNAVAILABLE',
    details: { limit: 'auth-ip' },
  });

  const reply = await sendChat(socket, roomId, 'during the outage');
  expect(reply).toMatchObject({ type: 'error', code: 'DEPENDENCY_UNAVAILABLE', retryable: true });
  expect(reply.retryAfterMs).toEqual(expect.any(Number));
}

/** The reply to a command sent on the socket, or a failure naming the close if the edge closed it instead. */
async function reply(client: TestSocket, command: Record<string, unknown>): Promise<Record<string, unknown>> {
  const ref = randomUUID();
  client.send({ ...command, ref });
  return Promise.race([
    client.until((m) => m.ref === ref),
    client.closed.then(({ code, reason }) => {
      throw new Error(`the edge closed the socket (${code} ${reason}) instead of answering ${String(command.type)}`);
    }),
  ]);
}

/**
 * A command the way the protocol asks a client to send it: the same again (a chat with the
 * same clientMsgId) after a retryable DEPENDENCY_UNAVAILABLE (Redis answers again only once
 * the edge has reconnected) or a RATE_LIMITED, until it is answered for good.
 */
async function chat(client: TestSocket, text: string): Promise<Record<string, unknown>> {
  return untilAnswered(client, { type: 'chat', room: roomId, text, clientMsgId: `m-${randomUUID()}` });
}

async function untilAnswered(client: TestSocket, command: Record<string, unknown>): Promise<Record<string, unknown>> {
  for (;;) {
    const answer = await reply(client, command);
    if (answer.code !== 'DEPENDENCY_UNAVAILABLE' && answer.code !== 'RATE_LIMITED') return answer;
    const wait = answer.code === 'RATE_LIMITED' ? Number(answer.retryAfterMs) : Math.min(Number(answer.retryAfterMs), 100);
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** Readiness, discovery, and the socket that was open through the outage: it answers, chats, and gets the room's events. */
async function expectRecovered(): Promise<void> {
  await eventually(async () => {
    const checks = await dependencyChecks();
    if (Object.values(checks).some((c) => c !== 'ok')) throw new Error(`readyz ${JSON.stringify(checks)}`);
  });
  const rooms = await get('/v1/rooms?sort=popular', owner.token);
  expect(rooms.status).toBe(200);
  expect(((await rooms.json()) as { items: { id: string }[] }).items.map((r) => r.id)).toContain(roomId);

  expect(await reply(socket, { type: 'ping' })).toMatchObject({ type: 'pong' });
  const ack = await chat(socket, 'after the outage');
  expect(ack).toMatchObject({ type: 'ack', room: roomId });
  // The room's feed still reaches this socket: the chat comes back as a room event, and every
  // event since the snapshot arrived once, in order.
  await socket.until((m) => m.room === roomId && m.seq === ack.seq && m.type === 'chat.message');
  const events = socket.roomEvents(roomId).filter((m) => m.type !== 'ack'); // an ack carries the seq as information
  expectContiguous(
    events.map((e) => e.seq),
    joinedAtSeq + 1,
    ack.seq as number,
  );
}

it('answers at once while Redis is healthy (the baseline the outage is compared with)', async () => {
  expect(await dependencyChecks()).toEqual({ postgres: 'ok', redis: 'ok', temporal: 'ok' });
  expect((await get('/v1/rooms?sort=popular', owner.token)).status).toBe(200);
  expect(await sendChat(socket, roomId, 'before')).toMatchObject({ type: 'ack' });
});

it('while Redis is paused (SIGSTOP): liveness 200, readiness 503 naming redis, 503 with Retry-After, a retryable socket error; all recover on SIGCONT', async () => {
  redisService.process.child.kill('SIGSTOP');
  try {
    await expectOutageAnswers();
    // A second round: the connection is still stalled, and still answers the same way.
    await expectOutageAnswers();
  } finally {
    redisService.process.child.kill('SIGCONT');
  }
  await expectRecovered();
});

it('while Redis is dead (killed): the same answers; all recover once it is restarted, the socket open throughout included', async () => {
  // Several times over: the edge's subscriber and command connections come back in either
  // order, and the socket must keep working whichever comes first.
  for (let round = 1; round <= 3; round++) {
    redisService.process.child.kill('SIGKILL');
    await redisService.process.exited;
    if (round === 1) await expectOutageAnswers();
    else expect(await sendChat(socket, roomId, 'during the outage')).toMatchObject({ type: 'error', code: 'DEPENDENCY_UNAVAILABLE', retryable: true });
    redisService = await startDedicatedRedis();
    await expectRecovered();
  }
});

it('when Redis comes back empty (it lost the room): the socket is closed with 4008, and a resume gets a fresh snapshot', async () => {
  const lastSeq = Math.max(...socket.roomEvents(roomId).filter((m) => m.type !== 'ack').map((e) => e.seq));
  redisService.process.child.kill('SIGKILL');
  await redisService.process.exited;
  redisService = await startDedicatedRedis('data-empty');
  // The room's feed finds the stream it was following gone: the protocol's "server lost its place".
  expect(await socket.closed).toEqual({ code: 4008, reason: 'feed lost events' });
  await eventually(async () => {
    const checks = await dependencyChecks();
    if (Object.values(checks).some((c) => c !== 'ok')) throw new Error(`readyz ${JSON.stringify(checks)}`);
  });
  socket = await TestSocket.connect(edge.url, { token: owner.token });
  const resumed = await untilAnswered(socket, { type: 'resume', room: roomId, lastSeq, epoch });
  // Rebuilt from PostgreSQL under a new epoch, without the members Redis lost: in again, anew.
  expect(resumed.code).toBeUndefined(); // not an error
  expect(resumed).toMatchObject({ type: 'snapshot', room: roomId, recovered: false, rejoined: true });
  expect(resumed.epoch).not.toBe(epoch);
  expect(await chat(socket, 'after Redis lost the room')).toMatchObject({ type: 'ack', room: roomId });
});
