import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { roomChannel, type RoomLiveState } from '../db/live/room-live-state';
import { AppError } from '../domain/errors';
import { userChannel } from '../domain/events';
import { AccessTokenError, type AccessTokens } from '../platform/auth/access-tokens';
import type { BanList } from '../platform/auth/ban-list';
import type { RevokedSessions } from '../platform/auth/revoked-sessions';
import type { Logger } from '../platform/logging';
import { createRealtimeMetrics } from '../platform/metrics';
import type { RoomService } from '../services/rooms/room-service';
import { ChannelSubscriptions } from './channel-subscriptions';
import { clientMessage, type ClientMessage } from './client-messages';
import { CloseCode } from './protocol';
import { RateBucket } from './rate-bucket';
import { RoomFeed, type FeedTransport } from './room-feed';
import { assertNativeUws, uws } from './uws';

export interface EdgeSettings {
  allowedOrigins: string[];
  maxMessageBytes: number;
  allowJsFallback: boolean;
  /** Bytes queued for one socket before it counts as too slow and must resume. */
  maxBackpressureBytes?: number;
  /** Rooms one socket may be in at once. */
  maxRoomsPerSocket?: number;
  messagesPerSecond?: number;
  messageBurst?: number;
  /** How often sessions and bans are re-checked for open sockets. */
  sessionCheckMs?: number;
  /** How often this edge sweeps ghost members and empty rooms (any edge may; it's idempotent). */
  sweepMs?: number;
}

export interface EdgeDeps {
  tokens: AccessTokens;
  /** A connection of its own: a subscribed Redis connection can do nothing else. */
  subscriber: Redis;
  /** Bans are checked at every upgrade and again periodically. */
  bans: BanList;
  revokedSessions: RevokedSessions;
  rooms: RoomService;
  live: RoomLiveState;
  logger: Logger;
}

interface SocketData {
  userId: string;
  sessionId: string;
  connectionId: string;
  expiresAt: number;
  ip: string;
  deviceId: string | undefined;
  /** Rooms this socket is in. */
  rooms: Set<string>;
  bucket: RateBucket;
  /** Each socket's messages are handled one at a time, in order. */
  queue: Promise<void>;
  open: boolean;
}

type Socket = uws.WebSocket<SocketData>;

export interface RealtimeEdge {
  listen(host: string, port: number): Promise<number>;
  close(): Promise<void>;
  connectionCount(): number;
}

const WS_PATH = '/v1/ws';

/**
 * The WebSocket edge. A socket authenticates during the upgrade and joins its user's channel;
 * then it joins rooms: a snapshot at sequence N, then every room event N+1, N+2, … in order.
 * Redis carries each event once to every edge process; uWebSockets.js fans it out natively.
 */
export function createRealtimeEdge(settings: EdgeSettings, deps: EdgeDeps): RealtimeEdge {
  assertNativeUws(settings.allowJsFallback);
  const { logger, live, rooms } = deps;
  const app = uws.App();
  const sockets = new Set<Socket>();
  const allowedOrigins = new Set(settings.allowedOrigins);
  const maxRooms = settings.maxRoomsPerSocket ?? 3;
  const softBackpressure = settings.maxBackpressureBytes ?? 256 * 1024;
  const feeds = new Map<string, RoomFeed<Socket>>();
  const opening = new Map<string, Promise<RoomFeed<Socket>>>();
  const metrics = createRealtimeMetrics({ connections: () => sockets.size, rooms: () => feeds.size });
  /** Every close the edge decides goes through here, so the metrics see it. */
  function closeSocket(ws: Socket, code: number, reason: string): void {
    if (!ws.getUserData().open) return;
    metrics.closes.inc({ code: String(code) });
    ws.end(code, reason);
  }

  const channels = new ChannelSubscriptions(deps.subscriber, (channel, message) => {
    if (channel.startsWith('aura:room:')) {
      metrics.roomEvents.inc();
      feeds.get(channel.slice('aura:room:'.length))?.receive(message);
      return;
    }
    app.publish(channel, message, false);
    // A signed-out session's sockets close now, not when their access token expires.
    if (message.includes('"session.revoked"')) closeRevokedSession(message);
  });

  // Slow consumers. uWS buffers what a socket can't take yet; past the soft limit we close it
  // with 4008 so the client resumes. The hard limit (4x) is the backstop where uWS closes it
  // without a close frame rather than drop a message. Checking all sockets whenever half the
  // soft limit has been published since the last check means no socket can grow from under the
  // soft limit to past the hard one unseen; a timer catches the rest.
  let publishedSinceCheck = 0;
  function closeSlowConsumers(): void {
    publishedSinceCheck = 0;
    for (const ws of sockets) {
      if (ws.getBufferedAmount() > softBackpressure) closeSocket(ws, CloseCode.ResumeRequired, 'too slow: reconnect and resume');
    }
  }

  const transport: FeedTransport<Socket> = {
    publish: (topic, message) => {
      app.publish(topic, message, false);
      publishedSinceCheck += message.length;
      if (publishedSinceCheck >= softBackpressure / 2) closeSlowConsumers();
    },
    subscribe: (ws, topic) => {
      ws.subscribe(topic);
    },
    unsubscribe: (ws, topic) => {
      ws.unsubscribe(topic);
    },
    send: (ws, message) => {
      ws.send(message, false);
    },
    isOpen: (ws) => ws.getUserData().open,
    resync: (ws, reason) => {
      closeSocket(ws, CloseCode.ResumeRequired, reason);
    },
  };

  function closeRevokedSession(message: string): void {
    let sessionId: unknown;
    try {
      sessionId = (JSON.parse(message) as { type?: string; data?: { sessionId?: unknown } }).data?.sessionId;
    } catch {
      return;
    }
    for (const ws of sockets) {
      if (ws.getUserData().sessionId === sessionId) closeSocket(ws, CloseCode.SessionRevoked, 'session signed out');
    }
  }

  /** The room's feed on this edge, subscribed in Redis before anything is read. */
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

  /** Events the edge itself acts on: people removed from a room, and rooms that closed. */
  function onRoomEvent(roomId: string, event: string, type: string): void {
    if (type !== 'member.left' && type !== 'room.closed') return;
    const feed = feeds.get(roomId);
    if (!feed) return;
    const userId = type === 'member.left' ? (JSON.parse(event) as { data: { userId: string } }).data.userId : null;
    for (const ws of feed.sockets()) {
      const data = ws.getUserData();
      if (userId !== null && data.userId !== userId) continue;
      leaveLocally(ws, roomId);
      live.dropConnection(roomId, data.userId, data.connectionId).catch((err: unknown) => logger.warn({ err }, 'could not drop a connection lease'));
    }
  }

  function leaveLocally(ws: Socket, roomId: string): void {
    ws.getUserData().rooms.delete(roomId);
    feeds.get(roomId)?.detach(ws);
    closeFeedIfIdle(roomId);
  }

  let listenSocket: uws.us_listen_socket | null = null;

  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    metrics.registry.metrics().then(
      (body) => !aborted && res.cork(() => res.writeHeader('Content-Type', metrics.registry.contentType).end(body)),
      () => !aborted && res.cork(() => res.writeStatus('500 Internal Server Error').end()),
    );
  });

  app.get('/healthz', (res) => {
    res.writeHeader('Content-Type', 'application/json').end(JSON.stringify({ status: 'ok', connections: sockets.size, rooms: feeds.size }));
  });

  app.ws<SocketData>(WS_PATH, {
    // uWS drops a connection without a close frame past this; up to it, we answer 1009 ourselves.
    maxPayloadLength: settings.maxMessageBytes * 2,
    // The soft limit (checked on a timer) asks a slow client to resume with 4008. This hard
    // limit is the backstop: past it uWS closes the socket rather than silently drop a message.
    maxBackpressure: softBackpressure * 4,
    closeOnBackpressureLimit: 1,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    compression: uws.DISABLED,

    upgrade: (res, req, context) => {
      // Everything needed from req must be read now: it is gone after the first await.
      const origin = req.getHeader('origin');
      const authorization = req.getHeader('authorization');
      const queryToken = new URLSearchParams(req.getQuery() ?? '').get('access_token') ?? '';
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
      const deviceId = req.getHeader('x-device-id') || undefined;
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });

      // Native apps send no Origin; a browser page must come from an allowed one.
      if (origin && !allowedOrigins.has(origin)) {
        reject(res, '403 Forbidden', 'ORIGIN_NOT_ALLOWED', 'this origin may not open a socket');
        return;
      }
      const bearer = /^Bearer (.+)$/.exec(authorization)?.[1] ?? queryToken;
      if (!bearer) {
        reject(res, '401 Unauthorized', 'UNAUTHENTICATED', 'an access token is required');
        return;
      }
      const admit = async () => {
        const claims = await deps.tokens.verify(bearer);
        const [banned, revoked] = await Promise.all([
          deps.bans.firstBanned([
            ['user', claims.userId],
            ['ip', ip],
            ['device', deviceId],
          ]),
          deps.revokedSessions.isRevoked(claims.sessionId),
        ]);
        return { claims, banned, revoked };
      };
      admit().then(
        ({ claims, banned, revoked }) => {
          if (aborted) return;
          if (banned) {
            res.cork(() => reject(res, '403 Forbidden', 'ACCOUNT_BANNED', 'access is suspended'));
            return;
          }
          if (revoked) {
            res.cork(() => reject(res, '401 Unauthorized', 'SESSION_REVOKED', 'this session was signed out'));
            return;
          }
          res.cork(() => {
            const now = Date.now();
            res.upgrade<SocketData>(
              {
                userId: claims.userId,
                sessionId: claims.sessionId,
                connectionId: randomUUID(),
                expiresAt: claims.expiresAt,
                ip,
                deviceId,
                rooms: new Set(),
                bucket: new RateBucket(settings.messagesPerSecond ?? 10, settings.messageBurst ?? 20, now),
                queue: Promise.resolve(),
                open: true,
              },
              key,
              protocol,
              extensions,
              context,
            );
          });
        },
        (err: unknown) => {
          if (aborted) return;
          const reason = err instanceof AccessTokenError ? err.message : 'access token invalid';
          res.cork(() => reject(res, '401 Unauthorized', 'UNAUTHENTICATED', reason));
        },
      );
    },

    open: (ws) => {
      sockets.add(ws);
      const data = ws.getUserData();
      const channel = userChannel(data.userId);
      ws.subscribe(channel);
      channels.retain(channel).then(
        // The socket may have closed while Redis confirmed the subscription.
        () => data.open && send(ws, { type: 'ready', connectionId: data.connectionId }),
        (err: unknown) => {
          logger.error({ err, userId: data.userId }, 'could not subscribe a user channel');
          closeSocket(ws, CloseCode.TryAgainLater, 'subscription failed');
        },
      );
      logger.debug({ userId: data.userId, connectionId: data.connectionId }, 'socket open');
    },

    message: (ws, message, isBinary) => {
      if (isBinary) {
        closeSocket(ws, CloseCode.UnsupportedData, 'text frames only');
        return;
      }
      if (message.byteLength > settings.maxMessageBytes) {
        closeSocket(ws, CloseCode.MessageTooBig, 'message too big');
        return;
      }
      const data = ws.getUserData();
      if (!data.bucket.take(Date.now())) {
        if (data.bucket.refusedInARow > 50) closeSocket(ws, CloseCode.PolicyViolation, 'too many messages');
        else send(ws, { type: 'error', code: 'RATE_LIMITED', message: 'too many messages: slow down' });
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(message).toString('utf8'));
      } catch {
        send(ws, { type: 'error', code: 'BAD_MESSAGE', message: 'messages are JSON objects' });
        return;
      }
      const result = clientMessage.safeParse(parsed);
      if (!result.success) {
        const type = (parsed as { type?: unknown } | null)?.type;
        const ref = (parsed as { ref?: unknown } | null)?.ref;
        const known = ['ping', 'join', 'resume', 'leave', 'chat'].includes(String(type));
        send(ws, {
          type: 'error',
          ...(typeof ref === 'string' ? { ref } : {}),
          code: known ? 'VALIDATION_FAILED' : 'UNKNOWN_TYPE',
          message: known ? result.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ') : `unknown message type ${String(type)}`,
        });
        return;
      }
      const command = result.data;
      data.queue = data.queue.then(() => handle(ws, command).then(() => commandDone(command.type, null), (err: unknown) => commandFailed(ws, command, err)));
    },

    close: (ws) => {
      const data = ws.getUserData();
      data.open = false;
      sockets.delete(ws);
      channels.release(userChannel(data.userId)).catch((err: unknown) => {
        logger.warn({ err }, 'could not release a user channel');
      });
      for (const roomId of [...data.rooms]) {
        leaveLocally(ws, roomId);
        // The member keeps their place (and seat) for the grace period: see RoomLiveState.
        live.dropConnection(roomId, data.userId, data.connectionId).catch((err: unknown) => logger.warn({ err }, 'could not drop a connection lease'));
      }
    },
  });

  function commandDone(type: string, code: string | null): void {
    metrics.commands.inc({ type, outcome: code ?? 'ok' });
  }

  /** A refused command changed nothing; the client gets the stable code, with its ref. */
  function commandFailed(ws: Socket, command: ClientMessage, err: unknown): void {
    const data = ws.getUserData();
    commandDone(command.type, err instanceof AppError ? err.code : 'INTERNAL');
    if (!data.open) return;
    if (err instanceof AppError) {
      send(ws, { type: 'error', ...ref(command), code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) });
      return;
    }
    logger.error({ err, userId: data.userId, type: command.type }, 'socket command failed');
    send(ws, { type: 'error', ...ref(command), code: 'INTERNAL', message: 'something went wrong' });
  }

  async function handle(ws: Socket, command: ClientMessage): Promise<void> {
    const data = ws.getUserData();
    switch (command.type) {
      case 'ping':
        send(ws, { type: 'pong', ...ref(command), at: Date.now() });
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
        send(ws, { type: 'left', ...ref(command), room: command.room, reason: 'left' });
        return;
      }
      case 'chat': {
        if (!data.rooms.has(command.room)) throw new AppError('NOT_IN_ROOM', 'join the room first', 403);
        const posted = await rooms.postChat(data.userId, command.room, { text: command.text, clientMsgId: command.clientMsgId });
        send(ws, { type: 'ack', ...ref(command), room: command.room, clientMsgId: command.clientMsgId, messageId: posted.message.id, seq: posted.seq, duplicate: posted.duplicate });
        return;
      }
    }
  }

  /** join: a snapshot, then live events. resume: the missed events if still kept, else a snapshot. */
  async function enter(ws: Socket, command: Extract<ClientMessage, { type: 'join' | 'resume' }>): Promise<void> {
    const data = ws.getUserData();
    const roomId = command.room;
    if (data.rooms.has(roomId)) leaveLocally(ws, roomId); // a re-join on the same socket starts over
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
      metrics.resumes.inc({ recovered: String(missed.recovered) });
      if (missed.recovered && data.open) {
        send(ws, { type: 'resumed', ...ref(command), room: roomId, fromSeq: command.lastSeq, toSeq: missed.seq, missed: missed.events.length });
        for (const event of missed.events) ws.send(event, false);
        await feed.attach(ws, missed.seq, command.epoch);
        return;
      }
    }
    const snapshot = await rooms.snapshot(roomId, data.userId);
    if (!data.open || !data.rooms.has(roomId)) return;
    send(ws, {
      type: 'snapshot',
      ...ref(command),
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
      if (running) return; // never overlap a slow run with the next
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

  // Expired access tokens don't keep a socket alive: the client reconnects with a fresh one.
  every(5_000, () => {
    const now = Date.now();
    for (const ws of sockets) {
      if (ws.getUserData().expiresAt <= now) closeSocket(ws, CloseCode.TokenExpired, 'access token expired');
    }
  }, 'token expiry check');

  // A consumer that can't keep up is told to resume rather than silently miss events.
  every(250, closeSlowConsumers, 'backpressure check');

  // Logouts reach sockets at once through the user channel; this catches anything missed
  // (an edge that was disconnected from Redis) and bans set since the upgrade.
  every(settings.sessionCheckMs ?? 30_000, async () => {
    const open = [...sockets];
    if (open.length === 0) return;
    const [revoked, banned] = await Promise.all([
      deps.revokedSessions.revokedAmong([...new Set(open.map((ws) => ws.getUserData().sessionId))]),
      deps.bans.firstBannedEach(
        open.map((ws) => {
          const d = ws.getUserData();
          return [
            ['user', d.userId],
            ['ip', d.ip],
            ['device', d.deviceId],
          ];
        }),
      ),
    ]);
    open.forEach((ws, i) => {
      const d = ws.getUserData();
      if (!d.open) return;
      if (banned[i]) closeSocket(ws, CloseCode.Banned, 'access is suspended');
      else if (revoked.has(d.sessionId)) closeSocket(ws, CloseCode.SessionRevoked, 'session signed out');
    });
  }, 'session re-check');

  // Leases prove this edge still holds its room connections; if it dies, they run out.
  every(Math.max(1_000, Math.floor(live.settings.leaseMs / 3)), async () => {
    const leases: string[] = [];
    const byLease = new Map<string, [Socket, string]>();
    for (const ws of sockets) {
      const d = ws.getUserData();
      for (const roomId of d.rooms) {
        const lease = `${roomId}|${d.userId}|${d.connectionId}`;
        leases.push(lease);
        byLease.set(lease, [ws, roomId]);
      }
    }
    for (const lost of await live.renewLeases(leases)) {
      const [ws, roomId] = byLease.get(lost)!;
      if (!ws.getUserData().open) continue;
      leaveLocally(ws, roomId);
      send(ws, { type: 'left', room: roomId, reason: 'expired' });
    }
  }, 'lease renewal');

  every(settings.sweepMs ?? 1_000, async () => {
    const swept = await rooms.sweep();
    if (swept.removed || swept.closed.length) logger.info(swept, 'swept rooms');
  }, 'room sweep');

  return {
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        app.listen(host, port, (socket) => {
          if (!socket) {
            reject(new Error(`realtime edge could not listen on ${host}:${port}`));
            return;
          }
          listenSocket = socket;
          resolve(uws.us_socket_local_port(socket));
        });
      }),
    close: async () => {
      for (const timer of timers) clearInterval(timer);
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = null;
      for (const ws of [...sockets]) closeSocket(ws, CloseCode.GoingAway, 'server shutting down');
      await channels.close();
    },
    connectionCount: () => sockets.size,
  };
}

function ref(command: { ref?: string }): { ref?: string } {
  return command.ref === undefined ? {} : { ref: command.ref };
}

function send(ws: Socket, message: Record<string, unknown>): void {
  if (ws.getUserData().open) ws.send(JSON.stringify(message), false);
}

function reject(res: uws.HttpResponse, status: string, code: string, message: string): void {
  res
    .writeStatus(status)
    .writeHeader('Content-Type', 'application/json')
    .end(JSON.stringify({ error: { code, message } }));
}
