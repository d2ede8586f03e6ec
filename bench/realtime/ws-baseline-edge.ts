import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { loadConfig } from '../../config';
import { createDataSource } from '../../db/data-source';
import { roomChannel } from '../../db/live/room-live-state';
import { AppError } from '../../domain/errors';
import { userChannel } from '../../domain/events';
import { AccessTokenError, accessTokensFromConfig } from '../../platform/auth/access-tokens';
import { BanList } from '../../platform/auth/ban-list';
import { RevokedSessions } from '../../platform/auth/revoked-sessions';
import { stopOnSignals } from '../../platform/lifecycle';
import { createLogger } from '../../platform/logging';
import { createRedis } from '../../platform/redis';
import { ChannelSubscriptions } from '../../realtime/channel-subscriptions';
import { clientMessage, type ClientMessage } from '../../realtime/client-messages';
import { CloseCode } from '../../realtime/protocol';
import { RateBucket } from '../../realtime/rate-bucket';
import { RoomFeed, type FeedTransport } from '../../realtime/room-feed';
import { createRoomService } from '../../services/rooms';

/**
 * The benchmark's baseline: the realtime edge rebuilt on the `ws` package, speaking the same
 * protocol over the same parts — the same upgrade checks (token, bans, revoked session), the
 * same RoomFeed (ordering, catch-up, gap repair), RoomService/RoomLiveState for join, the same
 * Redis channels, rate limit, backpressure guard (close 4008), lease renewal and sweep. What
 * differs is only the transport: topics are a Map of Sets, and a publish is a loop of
 * `ws.send` (the message is encoded to a Buffer once, not once per socket). Started like
 * realtime/main.ts, from the same environment.
 */

interface SocketData {
  userId: string;
  sessionId: string;
  connectionId: string;
  expiresAt: number;
  ip: string;
  deviceId: string | undefined;
  rooms: Set<string>;
  bucket: RateBucket;
  queue: Promise<void>;
  open: boolean;
  alive: boolean;
  topics: Set<string>;
}

type Socket = WebSocket & { data: SocketData };

const WS_PATH = '/v1/ws';
const TEXT = { binary: false } as const;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'realtime-ws-baseline', level: config.LOG_LEVEL });
  const dataSource = await createDataSource({ url: config.DATABASE_URL, poolSize: 5, applicationName: 'aura-realtime-ws' }).initialize();
  const redis = createRedis(config.REDIS_URL, { name: 'aura-realtime-ws' });
  const { rooms, live } = createRoomService({ config, dataSource, redis });
  const tokens = accessTokensFromConfig(config);
  const bans = new BanList(redis);
  const revokedSessions = new RevokedSessions(redis);
  const subscriber = createRedis(config.REDIS_URL, { name: 'aura-realtime-ws-sub' });

  // The same settings realtime/main.ts reads (edgeSettingsFromConfig).
  const maxMessageBytes = config.REALTIME_MAX_MESSAGE_BYTES;
  const softBackpressure = config.REALTIME_MAX_BACKPRESSURE_BYTES;
  const allowedOrigins = new Set(config.REALTIME_ALLOWED_ORIGINS);
  const maxRooms = 3;

  const sockets = new Set<Socket>();
  const topics = new Map<string, Set<Socket>>();
  const feeds = new Map<string, RoomFeed<Socket>>();
  const opening = new Map<string, Promise<RoomFeed<Socket>>>();

  function publish(topic: string, message: string): void {
    const subscribers = topics.get(topic);
    if (!subscribers || subscribers.size === 0) return;
    const bytes = Buffer.from(message);
    for (const ws of subscribers) ws.send(bytes, TEXT);
  }
  function subscribe(ws: Socket, topic: string): void {
    let set = topics.get(topic);
    if (!set) topics.set(topic, (set = new Set()));
    set.add(ws);
    ws.data.topics.add(topic);
  }
  function unsubscribe(ws: Socket, topic: string): void {
    const set = topics.get(topic);
    if (set?.delete(ws) && set.size === 0) topics.delete(topic);
    ws.data.topics.delete(topic);
  }
  function send(ws: Socket, message: Record<string, unknown>): void {
    if (ws.data.open) ws.send(JSON.stringify(message));
  }
  function end(ws: Socket, code: number, reason: string): void {
    if (ws.data.open) ws.close(code, reason);
  }

  const channels = new ChannelSubscriptions(subscriber, (channel, message) => {
    if (channel.startsWith('aura:room:')) {
      feeds.get(channel.slice('aura:room:'.length))?.receive(message);
      return;
    }
    publish(channel, message);
    if (message.includes('"session.revoked"')) {
      let sessionId: unknown;
      try {
        sessionId = (JSON.parse(message) as { data?: { sessionId?: unknown } }).data?.sessionId;
      } catch {
        return;
      }
      for (const ws of sockets) if (ws.data.sessionId === sessionId) end(ws, CloseCode.SessionRevoked, 'session signed out');
    }
  });

  const transport: FeedTransport<Socket> = {
    publish,
    subscribe,
    unsubscribe,
    send: (ws, message) => ws.send(message),
    isOpen: (ws) => ws.data.open,
    resync: (ws, reason) => end(ws, CloseCode.ResumeRequired, reason),
  };

  function openFeed(roomId: string): Promise<RoomFeed<Socket>> {
    const existing = feeds.get(roomId);
    if (existing) return Promise.resolve(existing);
    let pending = opening.get(roomId);
    if (!pending) {
      const feed = new RoomFeed<Socket>(
        roomId,
        roomChannel(roomId),
        transport,
        (id, after, epoch) => live.readEvents(id, after, epoch),
        (err) => logger.warn({ err, roomId }, 'room feed could not repair a gap'),
        (event, type) => onRoomEvent(roomId, event, type),
      );
      pending = channels.retain(roomChannel(roomId)).then(() => {
        feeds.set(roomId, feed);
        return feed;
      });
      pending.finally(() => opening.delete(roomId)).catch(() => undefined);
      opening.set(roomId, pending);
    }
    return pending;
  }

  function closeFeedIfIdle(roomId: string): void {
    const feed = feeds.get(roomId);
    if (!feed || feed.size > 0) return;
    feeds.delete(roomId);
    channels.release(roomChannel(roomId)).catch((err: unknown) => logger.warn({ err }, 'could not release a room channel'));
  }

  function onRoomEvent(roomId: string, event: string, type: string): void {
    if (type !== 'member.left' && type !== 'room.closed') return;
    const feed = feeds.get(roomId);
    if (!feed) return;
    const userId = type === 'member.left' ? (JSON.parse(event) as { data: { userId: string } }).data.userId : null;
    for (const ws of feed.sockets()) {
      if (userId !== null && ws.data.userId !== userId) continue;
      leaveLocally(ws, roomId);
      live.dropConnection(roomId, ws.data.userId, ws.data.connectionId).catch((err: unknown) => logger.warn({ err }, 'could not drop a connection lease'));
    }
  }

  function leaveLocally(ws: Socket, roomId: string): void {
    ws.data.rooms.delete(roomId);
    feeds.get(roomId)?.detach(ws);
    closeFeedIfIdle(roomId);
  }

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: maxMessageBytes * 2, clientTracking: false });
  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status: 'ok', connections: sockets.size, rooms: feeds.size }));
      return;
    }
    res.writeHead(404).end();
  });

  function reject(socket: Duplex, status: string, code: string, message: string): void {
    const body = JSON.stringify({ error: { code, message } });
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://edge');
    if (url.pathname !== WS_PATH) {
      socket.destroy();
      return;
    }
    const origin = req.headers.origin;
    if (origin && !allowedOrigins.has(origin)) {
      reject(socket, '403 Forbidden', 'ORIGIN_NOT_ALLOWED', 'this origin may not open a socket');
      return;
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? url.searchParams.get('access_token') ?? '';
    if (!bearer) {
      reject(socket, '401 Unauthorized', 'UNAUTHENTICATED', 'an access token is required');
      return;
    }
    const ip = req.socket.remoteAddress ?? '';
    const deviceId = (req.headers['x-device-id'] as string | undefined) || undefined;
    let aborted = false;
    socket.once('close', () => (aborted = true));
    const admit = async () => {
      const claims = await tokens.verify(bearer);
      const [banned, revoked] = await Promise.all([
        bans.firstBanned([
          ['user', claims.userId],
          ['ip', ip],
          ['device', deviceId],
        ]),
        revokedSessions.isRevoked(claims.sessionId),
      ]);
      return { claims, banned, revoked };
    };
    admit().then(
      ({ claims, banned, revoked }) => {
        if (aborted) return;
        if (banned) return reject(socket, '403 Forbidden', 'ACCOUNT_BANNED', 'access is suspended');
        if (revoked) return reject(socket, '401 Unauthorized', 'SESSION_REVOKED', 'this session was signed out');
        wss.handleUpgrade(req, socket, head, (raw) => {
          const ws = raw as Socket;
          ws.data = {
            userId: claims.userId,
            sessionId: claims.sessionId,
            connectionId: randomUUID(),
            expiresAt: claims.expiresAt,
            ip,
            deviceId,
            rooms: new Set(),
            bucket: new RateBucket(config.REALTIME_MESSAGES_PER_SECOND, config.REALTIME_MESSAGE_BURST, Date.now()),
            queue: Promise.resolve(),
            open: true,
            alive: true,
            topics: new Set(),
          };
          onOpen(ws);
        });
      },
      (err: unknown) => {
        if (aborted) return;
        reject(socket, '401 Unauthorized', 'UNAUTHENTICATED', err instanceof AccessTokenError ? err.message : 'access token invalid');
      },
    );
  });

  function onOpen(ws: Socket): void {
    sockets.add(ws);
    const data = ws.data;
    const channel = userChannel(data.userId);
    subscribe(ws, channel);
    channels.retain(channel).then(
      () => data.open && send(ws, { type: 'ready', connectionId: data.connectionId }),
      (err: unknown) => {
        logger.error({ err, userId: data.userId }, 'could not subscribe a user channel');
        end(ws, CloseCode.TryAgainLater, 'subscription failed');
      },
    );
    ws.on('pong', () => (data.alive = true));
    ws.on('message', (message: Buffer, isBinary: boolean) => onMessage(ws, message, isBinary));
    ws.on('close', () => onClose(ws));
    ws.on('error', () => undefined);
  }

  function onMessage(ws: Socket, message: Buffer, isBinary: boolean): void {
    if (isBinary) return end(ws, CloseCode.UnsupportedData, 'text frames only');
    if (message.byteLength > maxMessageBytes) return end(ws, CloseCode.MessageTooBig, 'message too big');
    const data = ws.data;
    if (!data.bucket.take(Date.now())) {
      if (data.bucket.refusedInARow > 50) end(ws, CloseCode.PolicyViolation, 'too many messages');
      else send(ws, { type: 'error', code: 'RATE_LIMITED', message: 'too many messages: slow down' });
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(message.toString('utf8'));
    } catch {
      return send(ws, { type: 'error', code: 'BAD_MESSAGE', message: 'messages are JSON objects' });
    }
    const result = clientMessage.safeParse(parsed);
    if (!result.success) {
      const type = (parsed as { type?: unknown } | null)?.type;
      const ref = (parsed as { ref?: unknown } | null)?.ref;
      const known = ['ping', 'join', 'resume', 'leave', 'chat'].includes(String(type));
      return send(ws, {
        type: 'error',
        ...(typeof ref === 'string' ? { ref } : {}),
        code: known ? 'VALIDATION_FAILED' : 'UNKNOWN_TYPE',
        message: known ? result.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ') : `unknown message type ${String(type)}`,
      });
    }
    const command = result.data;
    data.queue = data.queue.then(() =>
      handle(ws, command).catch((err: unknown) => {
        if (!data.open) return;
        if (err instanceof AppError) {
          send(ws, { type: 'error', ...refOf(command), code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) });
        } else {
          logger.error({ err, userId: data.userId, type: command.type }, 'socket command failed');
          send(ws, { type: 'error', ...refOf(command), code: 'INTERNAL', message: 'something went wrong' });
        }
      }),
    );
  }

  function onClose(ws: Socket): void {
    const data = ws.data;
    data.open = false;
    sockets.delete(ws);
    for (const topic of [...data.topics]) unsubscribe(ws, topic);
    channels.release(userChannel(data.userId)).catch((err: unknown) => logger.warn({ err }, 'could not release a user channel'));
    for (const roomId of [...data.rooms]) {
      leaveLocally(ws, roomId);
      live.dropConnection(roomId, data.userId, data.connectionId).catch((err: unknown) => logger.warn({ err }, 'could not drop a connection lease'));
    }
  }

  async function handle(ws: Socket, command: ClientMessage): Promise<void> {
    const data = ws.data;
    switch (command.type) {
      case 'ping':
        send(ws, { type: 'pong', ...refOf(command), at: Date.now() });
        return;
      case 'join':
      case 'resume':
        await enter(ws, command);
        return;
      case 'leave': {
        if (!data.rooms.has(command.room)) throw new AppError('NOT_IN_ROOM', 'join the room first', 403);
        leaveLocally(ws, command.room);
        await rooms.leave(data.userId, command.room).catch((err: unknown) => {
          if (!(err instanceof AppError && err.code === 'NOT_IN_ROOM')) throw err;
        });
        await live.dropConnection(command.room, data.userId, data.connectionId);
        send(ws, { type: 'left', ...refOf(command), room: command.room, reason: 'left' });
        return;
      }
      case 'chat': {
        if (!data.rooms.has(command.room)) throw new AppError('NOT_IN_ROOM', 'join the room first', 403);
        const posted = await rooms.postChat(data.userId, command.room, { text: command.text, clientMsgId: command.clientMsgId });
        send(ws, { type: 'ack', ...refOf(command), room: command.room, clientMsgId: command.clientMsgId, messageId: posted.message.id, seq: posted.seq, duplicate: posted.duplicate });
        return;
      }
    }
  }

  async function enter(ws: Socket, command: Extract<ClientMessage, { type: 'join' | 'resume' }>): Promise<void> {
    const data = ws.data;
    const roomId = command.room;
    if (data.rooms.has(roomId)) leaveLocally(ws, roomId);
    if (data.rooms.size >= maxRooms) throw new AppError('VALIDATION_FAILED', `a socket may be in at most ${maxRooms} rooms`, 400);
    const room = await rooms.admit(data.userId, roomId, command.password);
    await rooms.connect(room, data.userId, data.connectionId);
    if (!data.open) {
      await live.dropConnection(roomId, data.userId, data.connectionId);
      return;
    }
    data.rooms.add(roomId);
    const feed = await openFeed(roomId);
    if (!data.open || !data.rooms.has(roomId)) {
      closeFeedIfIdle(roomId);
      return;
    }
    if (command.type === 'resume') {
      const missed = await live.readEvents(roomId, command.lastSeq, command.epoch);
      if (missed.recovered && data.open) {
        send(ws, { type: 'resumed', ...refOf(command), room: roomId, fromSeq: command.lastSeq, toSeq: missed.seq, missed: missed.events.length });
        for (const event of missed.events) ws.send(event);
        await feed.attach(ws, missed.seq, command.epoch);
        return;
      }
    }
    const snapshot = await rooms.snapshot(roomId, data.userId);
    if (!data.open || !data.rooms.has(roomId)) return;
    send(ws, {
      type: 'snapshot',
      ...refOf(command),
      room: roomId,
      seq: snapshot.seq,
      epoch: snapshot.epoch,
      recovered: command.type === 'resume' ? false : undefined,
      data: snapshot,
    });
    await feed.attach(ws, snapshot.seq, snapshot.epoch);
  }

  const timers: NodeJS.Timeout[] = [];
  function every(ms: number, task: () => void | Promise<void>, what: string): void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      Promise.resolve()
        .then(task)
        .catch((err: unknown) => logger.warn({ err }, `${what} failed`))
        .finally(() => {
          running = false;
        });
    }, ms);
    timer.unref();
    timers.push(timer);
  }

  // uWS's idleTimeout with automatic pings, the usual ws way: a socket that misses a pong goes.
  every(30_000, () => {
    for (const ws of sockets) {
      if (!ws.data.alive) {
        ws.terminate();
        continue;
      }
      ws.data.alive = false;
      ws.ping();
    }
  }, 'heartbeat');

  every(5_000, () => {
    const now = Date.now();
    for (const ws of sockets) if (ws.data.expiresAt <= now) end(ws, CloseCode.TokenExpired, 'access token expired');
  }, 'token expiry check');

  every(250, () => {
    for (const ws of sockets) if (ws.bufferedAmount > softBackpressure) end(ws, CloseCode.ResumeRequired, 'too slow: reconnect and resume');
  }, 'backpressure check');

  every(config.REALTIME_SESSION_CHECK_SECONDS * 1000, async () => {
    const open = [...sockets];
    if (open.length === 0) return;
    const [revoked, banned] = await Promise.all([
      revokedSessions.revokedAmong([...new Set(open.map((ws) => ws.data.sessionId))]),
      bans.firstBannedEach(
        open.map((ws) => [
          ['user', ws.data.userId],
          ['ip', ws.data.ip],
          ['device', ws.data.deviceId],
        ]),
      ),
    ]);
    open.forEach((ws, i) => {
      if (!ws.data.open) return;
      if (banned[i]) end(ws, CloseCode.Banned, 'access is suspended');
      else if (revoked.has(ws.data.sessionId)) end(ws, CloseCode.SessionRevoked, 'session signed out');
    });
  }, 'session re-check');

  every(Math.max(1_000, Math.floor(live.settings.leaseMs / 3)), async () => {
    const leases: string[] = [];
    const byLease = new Map<string, [Socket, string]>();
    for (const ws of sockets) {
      for (const roomId of ws.data.rooms) {
        const lease = `${roomId}|${ws.data.userId}|${ws.data.connectionId}`;
        leases.push(lease);
        byLease.set(lease, [ws, roomId]);
      }
    }
    for (const lost of await live.renewLeases(leases)) {
      const [ws, roomId] = byLease.get(lost)!;
      if (!ws.data.open) continue;
      leaveLocally(ws, roomId);
      send(ws, { type: 'left', room: roomId, reason: 'expired' });
    }
  }, 'lease renewal');

  every(1_000, async () => {
    const swept = await rooms.sweep();
    if (swept.removed || swept.closed.length) logger.info(swept, 'swept rooms');
  }, 'room sweep');

  await new Promise<void>((resolve, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(config.REALTIME_PORT, config.REALTIME_HOST, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.REALTIME_PORT;
  logger.info({ url: `ws://${config.REALTIME_HOST}:${port}/v1/ws` }, 'realtime edge (ws baseline) listening');

  stopOnSignals(logger, async () => {
    for (const timer of timers) clearInterval(timer);
    server.close();
    for (const ws of [...sockets]) end(ws, CloseCode.GoingAway, 'server shutting down');
    await channels.close();
    redis.disconnect();
    await dataSource.destroy();
  });
}

function refOf(command: { ref?: string }): { ref?: string } {
  return command.ref === undefined ? {} : { ref: command.ref };
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
