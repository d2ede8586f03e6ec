import { STATUS_CODES } from 'node:http';
import { ErrorCode } from '../domain/errors';
import { httpStatusFor } from '../platform/http/error-status';
import { createEdgeCore, type EdgeDeps, type EdgeSettings, type SocketState } from './edge-core';
import { clientAddress } from './client-address';
import { assertNativeUws, uws } from './uws';

export type { EdgeDeps, EdgeSettings } from './edge-core';

export interface RealtimeEdge {
  listen(host: string, port: number): Promise<number>;
  close(): Promise<void>;
  connectionCount(): number;
}

type Socket = uws.WebSocket<SocketState>;

const WS_PATH = '/v1/ws';

/**
 * The production WebSocket edge: the realtime protocol (edge-core.ts) on uWebSockets.js, whose
 * native topic publish fans one room event out to thousands of sockets in one call.
 */
export function createRealtimeEdge(settings: EdgeSettings, deps: EdgeDeps): RealtimeEdge {
  assertNativeUws(settings.allowJsFallback);
  const app = uws.App();
  const softBackpressure = settings.maxBackpressureBytes ?? 256 * 1024;
  const core = createEdgeCore<Socket>(settings, deps, {
    state: (ws) => ws.getUserData(),
    publish: (topic, message) => {
      app.publish(topic, message, false);
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
    end: (ws, code, reason) => {
      ws.end(code, reason);
    },
    bufferedAmount: (ws) => ws.getBufferedAmount(),
  });
  let listenSocket: uws.us_listen_socket | null = null;

  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    core.metricsText().then(
      ({ contentType, body }) => !aborted && res.cork(() => res.writeHeader('Content-Type', contentType).end(body)),
      () => !aborted && res.cork(() => res.writeStatus('500 Internal Server Error').end()),
    );
  });

  app.get('/healthz', (res) => {
    res.writeHeader('Content-Type', 'application/json').end(JSON.stringify(core.health()));
  });

  app.ws<SocketState>(WS_PATH, {
    // uWS drops a connection without a close frame past this; up to it, we answer 1009 ourselves.
    maxPayloadLength: settings.maxMessageBytes * 2,
    // The core's soft limit asks a slow client to resume with 4008. This hard limit is the
    // backstop: past it uWS closes the socket rather than silently drop a message. uWS sends
    // topic publishes in one batch per loop turn, so the core sees a socket's buffer one turn
    // late; the extra MiB covers a turn's worth of events (a Redis read is at most 64 KiB).
    maxBackpressure: softBackpressure * 4 + 1024 * 1024,
    closeOnBackpressureLimit: 1,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    compression: uws.DISABLED,

    upgrade: (res, req, context) => {
      // Everything needed from req must be read now: it is gone after the first await.
      const query = new URLSearchParams(req.getQuery() ?? '');
      const request = {
        origin: req.getHeader('origin'),
        authorization: req.getHeader('authorization'),
        queryToken: query.get('access_token') ?? '',
        ticket: query.get('ticket') ?? '',
        ip: clientAddress(Buffer.from(res.getRemoteAddressAsText()).toString(), req.getHeader('x-forwarded-for'), settings.trustedProxies ?? 0),
        deviceId: req.getHeader('x-device-id') || undefined,
      };
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      core.admit(request).then(
        (admission) => {
          if (aborted) {
            if (admission.ok) core.abandoned(admission.state);
            return;
          }
          res.cork(() => {
            if (admission.ok) res.upgrade<SocketState>(admission.state, key, protocol, extensions, context);
            else reject(res, admission.code, admission.message, admission.retryAfterSeconds);
          });
        },
        () => {
          if (!aborted) res.cork(() => reject(res, ErrorCode.DependencyUnavailable, 'try again shortly'));
        },
      );
    },
    open: (ws) => core.opened(ws),
    message: (ws, message, isBinary) => core.received(ws, message, isBinary),
    close: (ws) => core.closed(ws),
  });

  // uWS hands a request without a WebSocket handshake on to the next route: say what is expected.
  app.any(WS_PATH, (res) => {
    res.cork(() => {
      res.writeStatus('426 Upgrade Required').writeHeader('Upgrade', 'websocket').writeHeader('Content-Type', 'application/json');
      // Closes the connection: a client that sent plain HTTP here has nothing else to ask this port.
      res.end(JSON.stringify({ error: { code: ErrorCode.UpgradeRequired, message: 'this URL takes a WebSocket upgrade (see docs/realtime-protocol.md)' } }), true);
    });
  });

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
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = null;
      await core.close();
    },
    connectionCount: () => core.connectionCount(),
  };
}

function reject(res: uws.HttpResponse, code: ErrorCode, message: string, retryAfterSeconds?: number): void {
  const status = httpStatusFor(code);
  res.writeStatus(`${status} ${STATUS_CODES[status] ?? ''}`.trim());
  // Every 429 (and 503) says when to come back.
  if (status === 429 || status === 503) res.writeHeader('Retry-After', String(Math.max(1, retryAfterSeconds ?? (status === 503 ? 5 : 1))));
  res
    .writeHeader('Content-Type', 'application/json')
    // A refused upgrade ends the connection: the client retries (if at all) on a new one.
    .end(JSON.stringify({ error: retryAfterSeconds === undefined ? { code, message } : { code, message, details: { retryAfterSeconds } } }), true);
}
