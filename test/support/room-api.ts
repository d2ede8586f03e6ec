import { randomUUID } from 'node:crypto';
import type { RoomLiveState } from '../../db/live/room-live-state';
import type { RoomView } from '../../domain/rooms/model';
import type { RoomService } from '../../services/rooms/room-service';
import type { TestUser } from './rooms';
import type { TestSocket } from './ws-client';

/**
 * The API's rate limits, lifted: every test request comes from 127.0.0.1 and a handful of users.
 * The per-IP counter lives in the shared Redis, so a busy suite would also use up the budget of
 * other suites' APIs (which keep the default limits); with one trusted proxy, `apiClient` sends
 * its requests as from `FORWARDED_FOR` instead, and leaves 127.0.0.1's counter alone.
 */
export const UNLIMITED_RATES = { RATE_LIMIT_USER_PER_MINUTE: 100_000, RATE_LIMIT_IP_PER_MINUTE: 100_000, API_TRUSTED_PROXIES: 1 };
/** A documentation address (RFC 5737): the client address the API sees for these suites. */
export const FORWARDED_FOR = '198.51.100.7';

export interface ApiReply<B = Record<string, unknown>> {
  status: number;
  body: B;
  headers: Headers;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A tiny JSON client for /v1 as one user. `errorCode` reads the stable code of an error body. */
export function apiClient(baseUrl: string) {
  async function call<B = Record<string, unknown>>(token: string, method: Method, path: string, body?: unknown): Promise<ApiReply<B>> {
    const res = await fetch(`${baseUrl}/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'x-forwarded-for': FORWARDED_FOR,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    // Bodiless answers (204, and 202 which Koa fills with "Accepted") read as {}.
    const json = (res.headers.get('content-type') ?? '').includes('application/json');
    return { status: res.status, body: (json && text ? JSON.parse(text) : {}) as B, headers: res.headers };
  }
  return {
    call,
    as(user: TestUser) {
      return {
        get: <B = Record<string, unknown>>(path: string) => call<B>(user.token, 'GET', path),
        post: <B = Record<string, unknown>>(path: string, body: unknown = {}) => call<B>(user.token, 'POST', path, body),
        put: <B = Record<string, unknown>>(path: string, body: unknown = {}) => call<B>(user.token, 'PUT', path, body),
        patch: <B = Record<string, unknown>>(path: string, body: unknown = {}) => call<B>(user.token, 'PATCH', path, body),
        delete: <B = Record<string, unknown>>(path: string) => call<B>(user.token, 'DELETE', path),
      };
    },
  };
}
export type ApiClient = ReturnType<typeof apiClient>;

/** The stable error code of an API error body (undefined for a success). */
export function errorCode(reply: { body: unknown }): string | undefined {
  return (reply.body as { error?: { code?: string } } | null)?.error?.code;
}

/**
 * Makes the user a member of the room the way the edge does on a WebSocket join (admit, then
 * one connection), without a socket. Returns the connection id (for dropping it later).
 */
export async function enterRoom(rooms: RoomService, room: RoomView, userId: string, password?: string): Promise<string> {
  const connectionId = randomUUID();
  const admitted = await rooms.admit(userId, room.id, password);
  await rooms.connect(admitted, userId, connectionId);
  return connectionId;
}

/**
 * Leaves the shared Redis as tidy as it can: closes the suite's rooms (so they don't linger as
 * empty rooms for another suite's sweep) and drops the connections made without a socket (so
 * their leases don't crowd another suite's sweep batch).
 */
export class RoomJanitor {
  private readonly rooms: RoomView[] = [];
  private readonly connections: { roomId: string; userId: string; connectionId: string }[] = [];

  constructor(private readonly service: RoomService, private readonly live: RoomLiveState) {}

  room(room: RoomView): RoomView {
    this.rooms.push(room);
    return room;
  }

  /** Like `enterRoom`, remembering the connection. */
  async enter(room: RoomView, userId: string, password?: string): Promise<string> {
    const connectionId = await enterRoom(this.service, room, userId, password);
    this.connections.push({ roomId: room.id, userId, connectionId });
    return connectionId;
  }

  async sweep(): Promise<void> {
    const rooms = this.rooms.splice(0);
    const connections = this.connections.splice(0);
    for (const room of rooms) {
      await this.service.close(room.ownerId, room.id).catch((err: unknown) => {
        if ((err as { code?: string }).code !== 'ROOM_CLOSED') throw err;
      });
    }
    for (const c of connections) await this.live.dropConnection(c.roomId, c.userId, c.connectionId);
  }
}

/** Sends a socket `join` and returns the reply to it: the snapshot, or the error that refused it. */
export async function joinReply(socket: TestSocket, roomId: string, password?: string): Promise<Record<string, unknown>> {
  const ref = randomUUID();
  socket.send({ type: 'join', room: roomId, ref, ...(password === undefined ? {} : { password }) });
  return socket.until((m) => m.ref === ref);
}

/** Sends a chat line over the socket and returns the reply to it: an `ack` or an `error`. */
export async function sendChat(socket: TestSocket, roomId: string, text: string): Promise<Record<string, unknown>> {
  const ref = randomUUID();
  socket.send({ type: 'chat', room: roomId, text, clientMsgId: `m-${randomUUID()}`, ref });
  return socket.until((m) => m.ref === ref);
}
