import { randomUUID } from 'node:crypto';
import type { Config } from '../config';
import type { Redis } from 'ioredis';
import { AppError, ErrorCode } from '../domain/errors';
import { canonicalText } from '../domain/input/text';
import { userChannel } from '../domain/events';
import { AccessTokenError, type AccessTokens } from '../platform/auth/access-tokens';
import type { BanList } from '../platform/auth/ban-list';
import type { RevokedSessions } from '../platform/auth/revoked-sessions';
import type { SocketTickets } from '../platform/auth/socket-tickets';
import type { WindowLimiter } from '../platform/rate-limits/window-limiter';
import type { RoomConnections } from '../services/rooms/connections';
import { DEPENDENCY_RETRY_AFTER_SECONDS, isDependencyUnavailable } from '../platform/dependency-errors';
import type { Logger } from '../platform/logging';
import { createRealtimeMetrics } from '../platform/metrics';
import type { RoomService } from '../services/rooms/room-service';
import type { PlaybackService } from '../services/playback/playback-service';
import type { MediaAccess, MediaJoin } from '../services/media';
import { ChannelSubscriptions } from './channel-subscriptions';
import { clientMessage, type ClientMessage } from './client-messages';
import { CloseCode } from './protocol';
import { RateBucket } from './rate-bucket';
import { RoomFeed } from './room-feed';

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
  /** How often this edge starts the next item of rooms whose video ended (any edge may; rooms are locked, skipped if busy). */
  playbackSweepMs?: number;
  /** Proxies in front of the edge whose X-Forwarded-For is trusted (read by the server). */
  trustedProxies?: number;
  /** Open sockets per user and per client address on this process; unset: no cap. */
  maxSocketsPerUser?: number;
  maxSocketsPerIp?: number;
  /** Upgrades per client address per minute, across edges (needs `limiter`); unset: no limit. */
  upgradesPerIpPerMinute?: number;
  /** Refusals a socket may collect, refilled at one a second, before it is closed with 1008. */
  floodRefusals?: number;
}

/** The edge's settings from the process config (the production edge and the benchmark's baseline). */
export function edgeSettingsFromConfig(config: Config): EdgeSettings {
  return {
    allowedOrigins: config.REALTIME_ALLOWED_ORIGINS,
    maxMessageBytes: config.REALTIME_MAX_MESSAGE_BYTES,
    allowJsFallback: config.REALTIME_ALLOW_JS_FALLBACK,
    maxBackpressureBytes: config.REALTIME_MAX_BACKPRESSURE_BYTES,
    messagesPerSecond: config.REALTIME_MESSAGES_PER_SECOND,
    messageBurst: config.REALTIME_MESSAGE_BURST,
    sessionCheckMs: config.REALTIME_SESSION_CHECK_SECONDS * 1000,
    trustedProxies: config.REALTIME_TRUSTED_PROXIES ?? config.API_TRUSTED_PROXIES,
    maxSocketsPerUser: config.REALTIME_MAX_SOCKETS_PER_USER,
    maxSocketsPerIp: config.REALTIME_MAX_SOCKETS_PER_IP,
    upgradesPerIpPerMinute: config.REALTIME_UPGRADES_PER_IP_PER_MINUTE,
    floodRefusals: config.REALTIME_FLOOD_REFUSALS,
    playbackSweepMs: config.PLAYBACK_SWEEP_MS,
  };
}

export interface EdgeDeps {
  tokens: AccessTokens;
  /** A connection of its own: a subscribed Redis connection can do nothing else. */
  subscriber: Redis;
  /** Bans are checked at every upgrade and again periodically. */
  bans: BanList;
  revokedSessions: RevokedSessions;
  rooms: RoomService;
  /** The room connections this edge holds (leases, catch-up reads). */
  connections: RoomConnections;
  /** Rooms' playlists: the edge moves them on when a video ends (absent: this edge doesn't). */
  playback?: Pick<PlaybackService, 'advanceEnded'>;
  /** Single-use socket tickets (`?ticket=`) for browsers; absent: tickets are refused. */
  tickets?: SocketTickets;
  /** Shared counters for the upgrade rate per address; absent: no upgrade rate limit. */
  limiter?: WindowLimiter;
  /** Media join tokens for snapshot frames; absent: no media server, frames carry no `media`. */
  media?: MediaAccess | null;
  logger: Logger;
}

/** What the edge keeps per socket. */
export interface SocketState {
  userId: string;
  sessionId: string;
  connectionId: string;
  expiresAt: number;
  ip: string;
  deviceId: string | undefined;
  /** Rooms this socket is in, or joining. */
  rooms: Set<string>;
  bucket: RateBucket;
  /** Refusals this socket may still collect before it is closed as a flooder. */
  strikes: RateBucket;
  /** Whether it is counted against its user's and address's socket caps (until it closes). */
  counted: boolean;
  /** Each socket's commands are handled one at a time, in order. */
  queue: Promise<void>;
  open: boolean;
}

/** The few things the protocol needs from a WebSocket server (uWebSockets.js, or `ws` in the benchmark). */
export interface SocketServer<S> {
  state(ws: S): SocketState;
  /** Sends to every socket subscribed to the topic. */
  publish(topic: string, message: string): void;
  subscribe(ws: S, topic: string): void;
  unsubscribe(ws: S, topic: string): void;
  send(ws: S, message: string): void;
  /** Closes with a close frame. */
  end(ws: S, code: number, reason: string): void;
  bufferedAmount(ws: S): number;
}

/** The upgrade request, as read by the server before anything is awaited. */
export interface UpgradeRequest {
  origin: string;
  authorization: string;
  queryToken: string;
  /** A single-use ticket from POST /v1/realtime/tickets (`?ticket=`). */
  ticket: string;
  ip: string;
  deviceId: string | undefined;
}

export type Admission = { ok: true; state: SocketState } | { ok: false; code: ErrorCode; message: string; retryAfterSeconds?: number };

export interface EdgeCore<S> {
  admit(request: UpgradeRequest): Promise<Admission>;
  /** An admitted upgrade that never opened (the client went away first): frees its place. */
  abandoned(state: SocketState): void;
  opened(ws: S): void;
  received(ws: S, message: ArrayBuffer | Buffer, isBinary: boolean): void;
  closed(ws: S): void;
  /** The edge's Prometheus metrics, for the server's /metrics route. */
  metricsText(): Promise<{ contentType: string; body: string }>;
  health(): { status: 'ok'; connections: number; rooms: number };
  connectionCount(): number;
  close(): Promise<void>;
}

const RESUME_REASON = 'too slow: reconnect and resume';

/**
 * The realtime protocol, independent of the WebSocket server: upgrade admission, commands,
 * room feeds, and the timers (token expiry, slow consumers, session re-checks, leases, sweeps).
 * A socket authenticates during the upgrade and joins its user's channel; then it joins
 * rooms: a snapshot at sequence N, then every room event N+1, N+2, … in order. Redis carries
 * each event once to every edge process; the server fans it out to its sockets.
 */
export function createEdgeCore<S>(settings: EdgeSettings, deps: EdgeDeps, server: SocketServer<S>): EdgeCore<S> {
  const { logger, connections, rooms } = deps;
  const sockets = new Set<S>();
  const allowedOrigins = new Set(settings.allowedOrigins);
  const maxRooms = settings.maxRoomsPerSocket ?? 3;
  const softBackpressure = settings.maxBackpressureBytes ?? 256 * 1024;
  const feeds = new Map<string, RoomFeed<S>>();
  const subscriptions = new Map<RoomFeed<S>, Promise<void>>();
  const metrics = createRealtimeMetrics({ connections: () => sockets.size, rooms: () => feeds.size });
  const state = (ws: S) => server.state(ws);
  // Sockets admitted (opening or open) per user and per address on this process.
  const socketsByUser = new Map<string, number>();
  const socketsByIp = new Map<string, number>();

  /** Every close the edge decides goes through here, so the metrics see it. */
  function closeSocket(ws: S, code: number, reason: string): void {
    if (!state(ws).open) return;
    metrics.closes.inc({ code: String(code) });
    server.end(ws, code, reason);
  }

  function send(ws: S, message: Record<string, unknown>): void {
    if (state(ws).open) server.send(ws, JSON.stringify(message));
  }

  const channels = new ChannelSubscriptions(deps.subscriber, (channel, message) => {
    if (channel.startsWith('aura:room:')) {
      metrics.roomEvents.inc();
      feeds.get(channel.slice('aura:room:'.length))?.receive(message);
      return;
    }
    server.publish(channel, message);
    // A signed-out session's sockets close now, not when their access token expires.
    if (message.includes('"session.revoked"')) closeRevokedSession(message);
  });
  // Pub/sub drops what is published while the subscriber reconnects: have every feed check
  // the stream for what it missed, rather than wait for the room's next event to show a gap.
  // ioredis emits 'ready' just before it writes the re-SUBSCRIBEs, and a read on the command
  // connection could overtake them: an event published in between would reach neither. A PING
  // written after them is answered once they took effect; the read comes after that (and
  // after a failed PING too: the feed retries its read while Redis is unreachable).
  deps.subscriber.on('ready', () => {
    setImmediate(() => {
      deps.subscriber
        .ping()
        .catch(() => undefined)
        .finally(() => {
          for (const feed of feeds.values()) feed.catchUp();
        })
        .catch((err: unknown) => logger.warn({ err }, 'could not catch room feeds up'));
    });
  });

  // Slow consumers. The server buffers what a socket can't take yet; past the soft limit we
  // close it with 4008 so the client resumes. The server's hard limit (4x) is the backstop
  // where it closes without a close frame rather than drop a message. Checking all sockets
  // whenever half the soft limit has been published since the last check means no socket can
  // grow from under the soft limit to past the hard one unseen; a timer catches the rest.
  let publishedSinceCheck = 0;
  function closeSlowConsumers(): void {
    publishedSinceCheck = 0;
    for (const ws of sockets) {
      if (server.bufferedAmount(ws) > softBackpressure) closeSocket(ws, CloseCode.ResumeRequired, RESUME_REASON);
    }
  }

  const feedTransport = {
    publish: (topic: string, message: string) => {
      server.publish(topic, message);
      publishedSinceCheck += message.length;
      if (publishedSinceCheck >= softBackpressure / 2) closeSlowConsumers();
    },
    subscribe: (ws: S, topic: string) => server.subscribe(ws, topic),
    unsubscribe: (ws: S, topic: string) => server.unsubscribe(ws, topic),
    send: (ws: S, message: string) => server.send(ws, message),
    isOpen: (ws: S) => state(ws).open,
    resync: (ws: S, reason: string) => closeSocket(ws, CloseCode.ResumeRequired, reason),
  };

  function closeRevokedSession(message: string): void {
    let sessionId: unknown;
    try {
      sessionId = (JSON.parse(message) as { type?: string; data?: { sessionId?: unknown } }).data?.sessionId;
    } catch {
      return;
    }
    for (const ws of sockets) {
      if (state(ws).sessionId === sessionId) closeSocket(ws, CloseCode.SessionRevoked, 'session signed out');
    }
  }

  /**
   * The room's feed on this edge, created at once (so a joining socket can be counted in it
   * before anything is awaited) and subscribed in Redis before anything is read.
   */
  function feedFor(roomId: string): RoomFeed<S> {
    let feed = feeds.get(roomId);
    if (feed) return feed;
    const created = new RoomFeed<S>(
      roomId,
      connections.channel(roomId),
      feedTransport,
      (id, after, epoch) => connections.readEvents(id, after, epoch),
      (err) => logger.warn({ err, roomId }, 'room feed could not repair a gap'),
      (event, type) => onRoomEvent(roomId, event, type),
      // Redis unreachable (restarting, or the command connection not back yet): the feed retries.
      { maxCatchUpBytes: softBackpressure / 2, isTransient: isDependencyUnavailable },
    );
    feeds.set(roomId, created);
    const subscribed = channels.retain(connections.channel(roomId));
    subscriptions.set(created, subscribed);
    subscribed.catch(() => {
      if (feeds.get(roomId) === created) feeds.delete(roomId);
      subscriptions.delete(created);
    });
    feed = created;
    return feed;
  }

  function closeFeedIfIdle(roomId: string): void {
    const feed = feeds.get(roomId);
    if (!feed || feed.size > 0) return;
    feeds.delete(roomId);
    const subscribed = subscriptions.get(feed);
    subscriptions.delete(feed);
    subscribed?.then(
      () => channels.release(connections.channel(roomId)),
      () => undefined, // never subscribed: nothing to release
    ).catch((err: unknown) => logger.warn({ err }, 'could not release a room channel'));
  }

  /** Events the edge itself acts on: people removed from a room, and rooms that closed. */
  function onRoomEvent(roomId: string, event: string, type: string): void {
    if (type !== 'member.left' && type !== 'room.closed') return;
    const feed = feeds.get(roomId);
    if (!feed) return;
    const userId = type === 'member.left' ? (JSON.parse(event) as { data: { userId: string } }).data.userId : null;
    for (const ws of feed.sockets()) {
      const data = state(ws);
      if (userId !== null && data.userId !== userId) continue;
      leaveLocally(ws, roomId);
      connections.drop(roomId, data.userId, data.connectionId).catch((err: unknown) => logger.warn({ err }, 'could not drop a connection lease'));
    }
  }

  function leaveLocally(ws: S, roomId: string): void {
    state(ws).rooms.delete(roomId);
    feeds.get(roomId)?.detach(ws);
    closeFeedIfIdle(roomId);
  }

  async function admit(request: UpgradeRequest): Promise<Admission> {
    // Native apps send no Origin; a browser page must come from an allowed one.
    if (request.origin && !allowedOrigins.has(request.origin)) {
      return { ok: false, code: ErrorCode.OriginNotAllowed, message: 'this origin may not open a socket' };
    }
    // Cheap refusals first: a flood of upgrades from one address costs a counter, not a token check.
    const full = capReached(request.ip, null);
    if (full) return full;
    if (settings.upgradesPerIpPerMinute !== undefined && deps.limiter) {
      const decision = await deps.limiter.take([{ key: `ws-upgrade:ip:${request.ip}`, max: settings.upgradesPerIpPerMinute, windowMs: 60_000 }]);
      if (!decision.allowed) {
        return { ok: false, code: ErrorCode.RateLimited, message: 'too many connections opened: slow down', retryAfterSeconds: Math.ceil(decision.retryAfterMs / 1000) };
      }
    }
    const authenticated = await authenticate(request);
    if (!authenticated.ok) return authenticated;
    const { claims } = authenticated;
    // A browser's device id comes with its ticket (it can't set X-Device-Id on a socket).
    request = { ...request, deviceId: request.deviceId ?? authenticated.deviceId };
    const [banned, revoked] = await Promise.all([
      deps.bans.firstBanned([
        ['user', claims.userId],
        ['ip', request.ip],
        ['device', request.deviceId],
      ]),
      deps.revokedSessions.isRevoked(claims.sessionId),
    ]);
    if (banned) return { ok: false, code: ErrorCode.AccountBanned, message: 'access is suspended' };
    if (revoked) return { ok: false, code: ErrorCode.SessionRevoked, message: 'this session was signed out' };
    // Checked again now, with nothing awaited before counting, so racing upgrades can't all pass.
    const stillFull = capReached(request.ip, claims.userId);
    if (stillFull) return stillFull;
    const admitted: SocketState = {
      userId: claims.userId,
      sessionId: claims.sessionId,
      connectionId: randomUUID(),
      expiresAt: claims.expiresAt,
      ip: request.ip,
      deviceId: request.deviceId,
      rooms: new Set(),
      bucket: new RateBucket(settings.messagesPerSecond ?? 10, settings.messageBurst ?? 20, Date.now()),
      strikes: new RateBucket(1, settings.floodRefusals ?? 20, Date.now()),
      queue: Promise.resolve(),
      open: true,
      counted: false,
    };
    countSocket(admitted, +1);
    return { ok: true, state: admitted };
  }

  type Authenticated = { ok: true; claims: { userId: string; sessionId: string; expiresAt: number }; deviceId?: string } | Extract<Admission, { ok: false }>;

  /**
   * Who is connecting: a single-use ticket (browsers), the Authorization header (native apps),
   * or, for native apps only, `?access_token=`. A page (it sends an Origin) may not put its
   * access token in the URL, where proxy logs and browser history would keep it.
   */
  async function authenticate(request: UpgradeRequest): Promise<Authenticated> {
    if (request.ticket) {
      const ticket = deps.tickets ? await deps.tickets.redeem(request.ticket) : null;
      if (!ticket) return { ok: false, code: ErrorCode.Unauthenticated, message: 'the ticket is unknown, expired or already used' };
      return { ok: true, claims: ticket, deviceId: ticket.deviceId };
    }
    const header = /^Bearer (.+)$/.exec(request.authorization)?.[1];
    if (!header && request.queryToken && request.origin) {
      return { ok: false, code: ErrorCode.Unauthenticated, message: 'a browser opens its socket with ?ticket= (POST /v1/realtime/tickets), not an access token in the URL' };
    }
    const bearer = header ?? request.queryToken;
    if (!bearer) return { ok: false, code: ErrorCode.Unauthenticated, message: 'an access token is required' };
    try {
      return { ok: true, claims: await deps.tokens.verify(bearer) };
    } catch (err) {
      const reason = err instanceof AccessTokenError ? err.message : 'access token invalid';
      return { ok: false, code: ErrorCode.Unauthenticated, message: reason };
    }
  }

  /** A refusal if this address (or user) already holds as many sockets as allowed here. */
  function capReached(ip: string, userId: string | null): Extract<Admission, { ok: false }> | null {
    if (settings.maxSocketsPerIp !== undefined && (socketsByIp.get(ip) ?? 0) >= settings.maxSocketsPerIp) {
      return { ok: false, code: ErrorCode.TooManyConnections, message: `at most ${settings.maxSocketsPerIp} sockets from one address`, retryAfterSeconds: 10 };
    }
    if (userId !== null && settings.maxSocketsPerUser !== undefined && (socketsByUser.get(userId) ?? 0) >= settings.maxSocketsPerUser) {
      return { ok: false, code: ErrorCode.TooManyConnections, message: `at most ${settings.maxSocketsPerUser} sockets per account: close one first`, retryAfterSeconds: 10 };
    }
    return null;
  }

  function countSocket(socket: SocketState, delta: 1 | -1): void {
    // uWS keeps a copy of the state it was given, so the flag travels with the object, not its identity.
    if (socket.counted === (delta === 1)) return; // already counted, or already released
    socket.counted = delta === 1;
    for (const [map, key] of [
      [socketsByUser, socket.userId],
      [socketsByIp, socket.ip],
    ] as const) {
      const n = (map.get(key) ?? 0) + delta;
      if (n > 0) map.set(key, n);
      else map.delete(key);
    }
  }

  function opened(ws: S): void {
    sockets.add(ws);
    const data = state(ws);
    const channel = userChannel(data.userId);
    server.subscribe(ws, channel);
    channels.retain(channel).then(
      // The socket may have closed while Redis confirmed the subscription.
      () => send(ws, { type: 'ready', connectionId: data.connectionId }),
      (err: unknown) => {
        logger.error({ err, userId: data.userId }, 'could not subscribe a user channel');
        closeSocket(ws, CloseCode.TryAgainLater, 'subscription failed');
      },
    );
    logger.debug({ userId: data.userId, connectionId: data.connectionId }, 'socket open');
  }

  function received(ws: S, message: ArrayBuffer | Buffer, isBinary: boolean): void {
    if (isBinary) {
      closeSocket(ws, CloseCode.UnsupportedData, 'text frames only');
      return;
    }
    const data = state(ws);
    const now = Date.now();
    // uWS caps frames at twice this, so reading the ref from an oversized one stays cheap.
    const text = (Buffer.isBuffer(message) ? message : Buffer.from(message)).toString('utf8');
    if (message.byteLength > settings.maxMessageBytes) {
      send(ws, { type: 'error', ...lenientRef(text), code: ErrorCode.PayloadTooLarge, message: `messages are at most ${settings.maxMessageBytes} bytes` });
      closeSocket(ws, CloseCode.MessageTooBig, 'message too big');
      return;
    }
    if (!data.bucket.take(now)) {
      refuse(ws, now, { type: 'error', ...lenientRef(text), code: ErrorCode.RateLimited, message: 'too many messages: slow down', retryAfterMs: data.bucket.msUntilNext(now) });
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      refuse(ws, now, { type: 'error', ...lenientRef(text), code: 'BAD_MESSAGE', message: 'messages are JSON objects' });
      return;
    }
    const result = clientMessage.safeParse(parsed);
    if (!result.success) {
      const type = (parsed as { type?: unknown } | null)?.type;
      const known = ['ping', 'time', 'join', 'resume', 'leave', 'chat'].includes(String(type));
      refuse(ws, now, {
        type: 'error',
        ...lenientRef(parsed),
        code: known ? 'VALIDATION_FAILED' : 'UNKNOWN_TYPE',
        message: known ? result.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ') : `unknown message type ${String(type)}`,
      });
      return;
    }
    const command = result.data;
    if (command.type === 'time') {
      // Answered at once, never behind a slow command: the round trip is the client's error bar.
      send(ws, { type: 'time', ...ref(command), t0: command.t0, serverTime: Date.now() });
      commandDone('time', null);
      return;
    }
    // The queue never rejects: one that did would skip every later command, and the socket
    // would go silent while staying open.
    data.queue = data.queue
      .then(() => handle(ws, command).then(() => commandDone(command.type, null), (err: unknown) => commandFailed(ws, command, err)))
      .catch((err: unknown) => logger.error({ err, userId: data.userId, type: command.type }, 'socket command could not be answered'));
  }

  /**
   * Sends a refusal, and spends one of the socket's strikes: a client that keeps sending
   * after being refused (a bug or a flood) runs out and is closed with 1008.
   */
  function refuse(ws: S, now: number, reply: Record<string, unknown>): void {
    if (!state(ws).strikes.take(now)) {
      closeSocket(ws, CloseCode.PolicyViolation, 'kept sending after refusals');
      return;
    }
    send(ws, reply);
  }

  function closed(ws: S): void {
    const data = state(ws);
    data.open = false;
    countSocket(data, -1);
    sockets.delete(ws);
    channels.release(userChannel(data.userId)).catch((err: unknown) => {
      logger.warn({ err }, 'could not release a user channel');
    });
    for (const roomId of [...data.rooms]) {
      leaveLocally(ws, roomId);
      // The member keeps their place (and seat) for the grace period: see RoomLiveState.
      connections.drop(roomId, data.userId, data.connectionId).catch((err: unknown) => logger.warn({ err }, 'could not drop a connection lease'));
    }
  }

  function commandDone(type: string, code: string | null): void {
    metrics.commands.inc({ type, outcome: code ?? 'ok' });
  }

  /** A refused command changed nothing; the client gets the stable code, with its ref. */
  function commandFailed(ws: S, command: ClientMessage, err: unknown): void {
    const data = state(ws);
    const unavailable = isDependencyUnavailable(err) || (err instanceof AppError && err.code === ErrorCode.DependencyUnavailable);
    commandDone(command.type, err instanceof AppError ? err.code : unavailable ? ErrorCode.DependencyUnavailable : 'INTERNAL');
    if (!data.open) return;
    if (unavailable) {
      // Redis or PostgreSQL is down or stalled: send it again later (chat carries clientMsgId, so a resend is kept once).
      send(ws, { type: 'error', ...ref(command), code: ErrorCode.DependencyUnavailable, message: 'a service this command needs is unavailable; retry shortly', retryable: true, retryAfterMs: DEPENDENCY_RETRY_AFTER_SECONDS * 1000 });
      return;
    }
    if (err instanceof AppError) {
      const retryAfterMs = (err.details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
      send(ws, {
        type: 'error',
        ...ref(command),
        code: err.code,
        message: err.message,
        ...(typeof retryAfterMs === 'number' ? { retryAfterMs } : {}),
        ...(err.details ? { details: err.details } : {}),
      });
      return;
    }
    logger.error({ err, userId: data.userId, type: command.type }, 'socket command failed');
    send(ws, { type: 'error', ...ref(command), code: 'INTERNAL', message: 'something went wrong' });
  }

  async function handle(ws: S, command: ClientMessage): Promise<void> {
    const data = state(ws);
    switch (command.type) {
      case 'ping':
        send(ws, { type: 'pong', ...ref(command), at: Date.now() });
        return;
      case 'time':
        return; // answered in received()
      case 'join':
      case 'resume':
        await enter(ws, command);
        return;
      case 'leave': {
        if (!data.rooms.has(command.room)) throw new AppError('NOT_IN_ROOM', 'join the room first');
        leaveLocally(ws, command.room);
        await rooms.leave(data.userId, command.room).catch((err: unknown) => {
          if (!(err instanceof AppError && err.code === 'NOT_IN_ROOM')) throw err;
        });
        await connections.drop(command.room, data.userId, data.connectionId);
        send(ws, { type: 'left', ...ref(command), room: command.room, reason: 'left' });
        return;
      }
      case 'chat': {
        if (!data.rooms.has(command.room)) throw new AppError('NOT_IN_ROOM', 'join the room first');
        const posted = await rooms.postChat(data.userId, command.room, { text: command.text, clientMsgId: command.clientMsgId });
        send(ws, { type: 'ack', ...ref(command), room: command.room, clientMsgId: command.clientMsgId, messageId: posted.message.id, seq: posted.seq, duplicate: posted.duplicate });
        return;
      }
    }
  }

  /**
   * join: a snapshot, then live events. resume: the missed events if still kept (and not too
   * many to send at once), else a snapshot marked not recovered. The socket is counted in the
   * room's feed from the moment it is let in, so a kick, a ban or the room closing reaches it
   * even mid-join, and the feed can't be torn down under it; after every wait it checks it is
   * still joining before going on.
   */
  async function enter(ws: S, command: Extract<ClientMessage, { type: 'join' | 'resume' }>): Promise<void> {
    const data = state(ws);
    const roomId = command.room;
    if (data.rooms.has(roomId)) leaveLocally(ws, roomId); // a re-join on the same socket starts over
    if (data.rooms.size >= maxRooms) throw new AppError('VALIDATION_FAILED', `a socket may be in at most ${maxRooms} rooms`);
    const room = await rooms.admit(data.userId, roomId, command.password, { ip: data.ip });
    // `joined` is decided atomically with the connection: true means this user was no longer a
    // member (kicked, banned, their grace period ran out): a resume can't pick up where it left.
    const { joined } = await rooms.connect(room, data.userId, data.connectionId);
    const rejoined = command.type === 'resume' && joined;
    if (!data.open) {
      await connections.drop(roomId, data.userId, data.connectionId);
      return;
    }
    const feed = feedFor(roomId);
    data.rooms.add(roomId);
    feed.reserve(ws);
    const stillJoining = () => {
      if (!data.open) return false;
      if (!data.rooms.has(roomId) || feeds.get(roomId) !== feed) throw new AppError('NOT_IN_ROOM', 'you left the room while joining it');
      return true;
    };
    try {
      await subscriptions.get(feed);
      if (!stillJoining()) return;
      if (rejoined) metrics.resumes.inc({ recovered: 'false' });
      if (command.type === 'resume' && !rejoined) {
        const missed = await connections.readEvents(roomId, command.lastSeq, command.epoch);
        if (!stillJoining()) return;
        const bytes = missed.events.reduce((sum, e) => sum + e.length, 0);
        const sendable = missed.recovered && bytes <= softBackpressure / 2;
        metrics.resumes.inc({ recovered: String(sendable) });
        // Removed since connecting (the live event also reaches this socket's feed): no replay.
        if (sendable && (await connections.isMember(roomId, data.userId))) {
          if (!stillJoining()) return;
          send(ws, { type: 'resumed', ...ref(command), room: roomId, fromSeq: command.lastSeq, toSeq: missed.seq, missed: missed.events.length });
          for (const event of missed.events) server.send(ws, event);
          await feed.attach(ws, missed.seq, command.epoch);
          return;
        }
      }
      const snapshot = await rooms.snapshot(roomId, data.userId);
      if (!stillJoining()) return;
      if (snapshot.status !== 'open') throw new AppError('ROOM_CLOSED', 'this room has closed');
      if (!snapshot.member) throw new AppError('NOT_IN_ROOM', 'you were removed from the room while joining it');
      const media = await mediaJoin(snapshot, data.userId);
      if (!stillJoining()) return;
      send(ws, {
        type: 'snapshot',
        ...ref(command),
        room: roomId,
        seq: snapshot.seq,
        epoch: snapshot.epoch,
        recovered: command.type === 'resume' ? false : undefined,
        ...(rejoined ? { rejoined: true } : {}),
        ...(media ? { media } : {}),
        data: snapshot,
      });
      await feed.attach(ws, snapshot.seq, snapshot.epoch);
    } catch (err) {
      if (data.rooms.has(roomId)) {
        leaveLocally(ws, roomId);
        await connections.drop(roomId, data.userId, data.connectionId).catch(() => undefined);
      }
      throw err;
    }
  }

  /**
   * The member's media join (token and grant from their seat in this very snapshot). Signed
   * locally, so the media server being down never holds a join up; should it fail anyway the
   * frame goes without `media` (the app asks POST /v1/rooms/:id/media/token later).
   */
  async function mediaJoin(snapshot: Awaited<ReturnType<RoomService['snapshot']>>, userId: string): Promise<MediaJoin | null> {
    if (!deps.media) return null;
    try {
      return await deps.media.joinFor(snapshot, userId);
    } catch (err) {
      logger.warn({ err, roomId: snapshot.room.id }, 'could not issue a media join token; the snapshot goes without it');
      return null;
    }
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
      if (state(ws).expiresAt <= now) closeSocket(ws, CloseCode.TokenExpired, 'access token expired');
    }
  }, 'token expiry check');

  every(250, closeSlowConsumers, 'backpressure check');

  // Logouts reach sockets at once through the user channel; this catches anything missed
  // (an edge that was disconnected from Redis) and bans set since the upgrade.
  every(settings.sessionCheckMs ?? 30_000, async () => {
    const open = [...sockets];
    if (open.length === 0) return;
    const [revoked, banned] = await Promise.all([
      deps.revokedSessions.revokedAmong([...new Set(open.map((ws) => state(ws).sessionId))]),
      deps.bans.firstBannedEach(
        open.map((ws) => {
          const d = state(ws);
          return [
            ['user', d.userId],
            ['ip', d.ip],
            ['device', d.deviceId],
          ];
        }),
      ),
    ]);
    open.forEach((ws, i) => {
      if (banned[i]) closeSocket(ws, CloseCode.Banned, 'access is suspended');
      else if (revoked.has(state(ws).sessionId)) closeSocket(ws, CloseCode.SessionRevoked, 'session signed out');
    });
  }, 'session re-check');

  // Leases prove this edge still holds its room connections; if it dies, they run out. A lease
  // found gone was swept (this edge stalled) or its member was removed on another edge.
  every(Math.max(1_000, Math.floor(connections.leaseMs / 3)), async () => {
    const leases: string[] = [];
    const byLease = new Map<string, [S, string]>();
    for (const ws of sockets) {
      const d = state(ws);
      for (const roomId of d.rooms) {
        const lease = `${roomId}|${d.userId}|${d.connectionId}`;
        leases.push(lease);
        byLease.set(lease, [ws, roomId]);
      }
    }
    for (const lost of await connections.renew(leases)) {
      const [ws, roomId] = byLease.get(lost)!;
      if (!state(ws).open || !state(ws).rooms.has(roomId)) continue;
      leaveLocally(ws, roomId);
      send(ws, { type: 'left', room: roomId, reason: 'expired' });
    }
  }, 'lease renewal');

  every(settings.sweepMs ?? 1_000, async () => {
    const swept = await rooms.sweep();
    if (swept.removed || swept.closed.length) logger.info(swept, 'swept rooms');
  }, 'room sweep');

  // Rooms whose video ended start their next one, with or without anyone connected (see
  // PlaybackService.advanceEnded for why a sweeper).
  const playback = deps.playback;
  if (playback) {
    every(settings.playbackSweepMs ?? 500, async () => {
      const { advanced } = await playback.advanceEnded();
      if (advanced.length) logger.debug({ rooms: advanced.length }, 'playlists moved on');
    }, 'playback sweep');
  }

  return {
    admit,
    abandoned: (socket) => countSocket(socket, -1),
    opened,
    received,
    closed,
    metricsText: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
    health: () => ({ status: 'ok', connections: sockets.size, rooms: feeds.size }),
    connectionCount: () => sockets.size,
    close: async () => {
      for (const timer of timers) clearInterval(timer);
      for (const ws of [...sockets]) closeSocket(ws, CloseCode.GoingAway, 'server shutting down');
      await channels.close();
    },
  };
}

function ref(command: { ref?: string }): { ref?: string } {
  return command.ref === undefined ? {} : { ref: command.ref };
}

const MAX_REF_LENGTH = 64;
const REF_IN_TEXT = /"ref"\s*:\s*"([^"\\]{1,64})"/;

/**
 * The `ref` of a frame the edge refuses before (or without) validating it, so the client can
 * match the error to its command: from the parsed object, else found in the raw text. Only a
 * short string is echoed back.
 */
function lenientRef(frame: unknown): { ref?: string } {
  let found: unknown;
  if (typeof frame === 'string') {
    try {
      found = (JSON.parse(frame) as { ref?: unknown } | null)?.ref;
    } catch {
      found = REF_IN_TEXT.exec(frame)?.[1];
    }
  } else if (frame !== null && typeof frame === 'object') {
    found = (frame as { ref?: unknown }).ref;
  }
  if (typeof found !== 'string' || found.length > MAX_REF_LENGTH) return {};
  // Echoed only if it passes the one text rule, as a valid frame's ref would.
  const checked = canonicalText(found);
  return checked.ok && checked.value.length > 0 ? { ref: checked.value } : {};
}
