import 'reflect-metadata';
import { createServer, STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { loadConfig } from '../../config';
import { createDataSource } from '../../db/data-source';
import { accessTokensFromConfig } from '../../platform/auth/access-tokens';
import { BanList } from '../../platform/auth/ban-list';
import { RevokedSessions } from '../../platform/auth/revoked-sessions';
import { stopOnSignals } from '../../platform/lifecycle';
import { createLogger } from '../../platform/logging';
import { createRedis } from '../../platform/redis';
import { httpStatusFor } from '../../platform/http/error-status';
import { createEdgeCore, edgeSettingsFromConfig, type SocketState } from '../../realtime/edge-core';
import { createRoomService } from '../../services/rooms';

/**
 * The benchmark's baseline: the same realtime protocol core as the production edge
 * (realtime/edge-core.ts: upgrade checks, commands, RoomFeed, leases, sweeps, the slow-consumer
 * guard) on the `ws` package instead of uWebSockets.js. Only the server differs: topics are a
 * Map of Sets and a publish is a loop of `ws.send` (the message encoded to a Buffer once).
 * Started like realtime/main.ts, from the same environment.
 */

type Socket = WebSocket & { state: SocketState; alive: boolean };

const WS_PATH = '/v1/ws';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'realtime-ws-baseline', level: config.LOG_LEVEL });
  const dataSource = await createDataSource({ url: config.DATABASE_URL, poolSize: 5, applicationName: 'aura-realtime-ws' }).initialize();
  const redis = createRedis(config.REDIS_URL, { name: 'aura-realtime-ws' });
  const { rooms, connections } = createRoomService({ config, dataSource, redis });
  const settings = edgeSettingsFromConfig(config);

  const topics = new Map<string, Set<Socket>>();
  // uWS pings idle sockets itself; with ws, the usual heartbeat: a socket that misses a pong goes.
  const sockets = new Set<Socket>();
  const core = createEdgeCore<Socket>(
    settings,
    {
      tokens: accessTokensFromConfig(config),
      subscriber: createRedis(config.REDIS_URL, { name: 'aura-realtime-ws-sub' }),
      bans: new BanList(redis),
      revokedSessions: new RevokedSessions(redis),
      rooms,
      connections,
      logger,
    },
    {
      state: (ws) => ws.state,
      publish: (topic, message) => {
        const subscribers = topics.get(topic);
        if (!subscribers || subscribers.size === 0) return;
        const bytes = Buffer.from(message);
        for (const ws of subscribers) ws.send(bytes, { binary: false });
      },
      subscribe: (ws, topic) => {
        let set = topics.get(topic);
        if (!set) topics.set(topic, (set = new Set()));
        set.add(ws);
      },
      unsubscribe: (ws, topic) => {
        const set = topics.get(topic);
        if (set?.delete(ws) && set.size === 0) topics.delete(topic);
      },
      send: (ws, message) => ws.send(message),
      end: (ws, code, reason) => ws.close(code, reason),
      bufferedAmount: (ws) => ws.bufferedAmount,
    },
  );

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: settings.maxMessageBytes * 2, clientTracking: false });
  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(core.health()));
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
    let aborted = false;
    socket.once('close', () => (aborted = true));
    core
      .admit({
        origin: req.headers.origin ?? '',
        authorization: req.headers.authorization ?? '',
        queryToken: url.searchParams.get('access_token') ?? '',
        ticket: url.searchParams.get('ticket') ?? '',
        ip: req.socket.remoteAddress ?? '',
        deviceId: (req.headers['x-device-id'] as string | undefined) || undefined,
      })
      .then(
        (admission) => {
          if (aborted) {
            if (admission.ok) core.abandoned(admission.state);
            return;
          }
          if (!admission.ok) return reject(socket, `${httpStatusFor(admission.code)} ${STATUS_CODES[httpStatusFor(admission.code)]}`, admission.code, admission.message);
          wss.handleUpgrade(req, socket, head, (raw) => {
            const ws = Object.assign(raw, { state: admission.state, alive: true }) as Socket;
            sockets.add(ws);
            ws.on('close', () => sockets.delete(ws));
            ws.on('pong', () => (ws.alive = true));
            ws.on('message', (message: Buffer, isBinary: boolean) => core.received(ws, message, isBinary));
            ws.on('close', () => core.closed(ws));
            ws.on('error', () => undefined);
            core.opened(ws);
          });
        },
        () => !aborted && reject(socket, '503 Service Unavailable', 'DEPENDENCY_UNAVAILABLE', 'try again shortly'),
      );
  });

  const heartbeat = setInterval(() => {
    for (const ws of sockets) {
      if (!ws.alive) {
        ws.terminate();
        continue;
      }
      ws.alive = false;
      ws.ping();
    }
  }, 30_000);
  heartbeat.unref();

  await new Promise<void>((resolve, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(config.REALTIME_PORT, config.REALTIME_HOST, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.REALTIME_PORT;
  logger.info({ url: `ws://${config.REALTIME_HOST}:${port}/v1/ws` }, 'realtime edge (ws baseline) listening');

  stopOnSignals(logger, async () => {
    clearInterval(heartbeat);
    server.close();
    await core.close();
    redis.disconnect();
    await dataSource.destroy();
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
