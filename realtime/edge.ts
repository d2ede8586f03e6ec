import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { userChannel } from '../domain/events';
import { AccessTokenError, type AccessTokens } from '../platform/auth/access-tokens';
import type { BanList } from '../platform/auth/ban-list';
import type { Logger } from '../platform/logging';
import { ChannelSubscriptions } from './channel-subscriptions';
import { CloseCode } from './protocol';
import { assertNativeUws, uws } from './uws';

export interface EdgeSettings {
  allowedOrigins: string[];
  maxMessageBytes: number;
  allowJsFallback: boolean;
  /** Bytes buffered for one slow socket before messages to it are dropped. */
  maxBackpressureBytes?: number;
}

export interface EdgeDeps {
  tokens: AccessTokens;
  /** A connection of its own: a subscribed Redis connection can do nothing else. */
  subscriber: Redis;
  /** Bans are checked at every upgrade. */
  bans: BanList;
  logger: Logger;
}

interface SocketData {
  userId: string;
  sessionId: string;
  connectionId: string;
  expiresAt: number;
}

type Socket = uws.WebSocket<SocketData>;

export interface RealtimeEdge {
  listen(host: string, port: number): Promise<number>;
  close(): Promise<void>;
  connectionCount(): number;
}

const WS_PATH = '/v1/ws';

/**
 * The WebSocket edge. A socket authenticates during the upgrade, then joins its user's
 * channel; anything published once to that channel in Redis reaches the user's sockets on
 * every edge process.
 */
export function createRealtimeEdge(settings: EdgeSettings, deps: EdgeDeps): RealtimeEdge {
  assertNativeUws(settings.allowJsFallback);
  const { logger } = deps;
  const app = uws.App();
  const sockets = new Set<Socket>();
  const allowedOrigins = new Set(settings.allowedOrigins);
  const channels = new ChannelSubscriptions(deps.subscriber, (channel, message) => {
    app.publish(channel, message, false);
    // A signed-out session's sockets close now, not when their access token expires.
    if (message.includes('"session.revoked"')) closeRevokedSession(message);
  });

  function closeRevokedSession(message: string): void {
    let sessionId: unknown;
    try {
      sessionId = (JSON.parse(message) as { type?: string; data?: { sessionId?: unknown } }).data?.sessionId;
    } catch {
      return;
    }
    for (const ws of sockets) {
      if (ws.getUserData().sessionId === sessionId) ws.end(CloseCode.SessionRevoked, 'session signed out');
    }
  }
  let listenSocket: uws.us_listen_socket | null = null;

  app.get('/healthz', (res) => {
    res.writeHeader('Content-Type', 'application/json').end(JSON.stringify({ status: 'ok', connections: sockets.size }));
  });

  app.ws<SocketData>(WS_PATH, {
    // uWS drops a connection without a close frame past this; up to it, we answer 1009 ourselves.
    maxPayloadLength: settings.maxMessageBytes * 2,
    maxBackpressure: settings.maxBackpressureBytes ?? 1024 * 1024,
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
        const banned = await deps.bans.firstBanned([
          ['user', claims.userId],
          ['ip', ip],
          ['device', deviceId],
        ]);
        return { claims, banned };
      };
      admit().then(
        ({ claims, banned }) => {
          if (aborted) return;
          if (banned) {
            res.cork(() => reject(res, '403 Forbidden', 'ACCOUNT_BANNED', 'access is suspended'));
            return;
          }
          res.cork(() => {
            res.upgrade<SocketData>(
              { userId: claims.userId, sessionId: claims.sessionId, connectionId: randomUUID(), expiresAt: claims.expiresAt },
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
        () => sockets.has(ws) && send(ws, { type: 'ready', connectionId: data.connectionId }),
        (err: unknown) => {
          logger.error({ err, userId: data.userId }, 'could not subscribe a user channel');
          if (sockets.has(ws)) ws.end(CloseCode.TryAgainLater, 'subscription failed');
        },
      );
      logger.debug({ userId: data.userId, connectionId: data.connectionId }, 'socket open');
    },

    message: (ws, message, isBinary) => {
      if (isBinary) {
        ws.end(CloseCode.UnsupportedData, 'text frames only');
        return;
      }
      if (message.byteLength > settings.maxMessageBytes) {
        ws.end(CloseCode.MessageTooBig, 'message too big');
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(message).toString('utf8'));
      } catch {
        send(ws, { type: 'error', code: 'BAD_MESSAGE', message: 'messages are JSON objects' });
        return;
      }
      const type = (parsed as { type?: unknown } | null)?.type;
      if (type === 'ping') {
        send(ws, { type: 'pong', at: new Date().toISOString() });
      } else {
        send(ws, { type: 'error', code: 'UNKNOWN_TYPE', message: `unknown message type ${String(type)}` });
      }
    },

    close: (ws) => {
      sockets.delete(ws);
      const data = ws.getUserData();
      channels.release(userChannel(data.userId)).catch((err: unknown) => {
        logger.warn({ err }, 'could not release a user channel');
      });
    },
  });

  // Expired access tokens don't keep a socket alive: the client reconnects with a fresh one.
  const expiryTimer = setInterval(() => {
    const now = Date.now();
    for (const ws of sockets) {
      if (ws.getUserData().expiresAt <= now) ws.end(CloseCode.TokenExpired, 'access token expired');
    }
  }, 5_000);
  expiryTimer.unref();

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
      clearInterval(expiryTimer);
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = null;
      for (const ws of [...sockets]) ws.end(CloseCode.GoingAway, 'server shutting down');
      await channels.close();
    },
    connectionCount: () => sockets.size,
  };
}

function send(ws: Socket, message: Record<string, unknown>): void {
  ws.send(JSON.stringify(message), false);
}

function reject(res: uws.HttpResponse, status: string, code: string, message: string): void {
  res
    .writeStatus(status)
    .writeHeader('Content-Type', 'application/json')
    .end(JSON.stringify({ error: { code, message } }));
}
