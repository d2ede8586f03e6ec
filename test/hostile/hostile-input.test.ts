import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Router from '@koa/router';
import { createApiApp } from '../../api/app';
import { Sessions } from '../../services/auth/sessions';
import { SessionStore } from '../../db/repositories/sessions';
import { RedisUserEventPublisher } from '../../platform/events/publisher';
import type { RoomView } from '../../domain/rooms/model';
import { periodIdAt } from '../../domain/economy/ranking-periods';
import { startEdge, testLogger } from '../support/app-harness';
import { connectRealStack, type RealStack } from '../support/real-stack';
import { FORWARDED_FOR, RoomJanitor, UNLIMITED_RATES } from '../support/room-api';
import { createRoom, createUser, join, type TestUser } from '../support/rooms';
import { TestSocket } from '../support/ws-client';
import { BAD_TEXT, hostileValues, jsonText, RawJson, type FieldKind } from './catalogue';

/**
 * Hostile input against every route and every socket command, on the real stack: each value
 * from the catalogue, in each field of each route (the rest of the request valid), plus odd
 * methods, encodings, content types and bodies. Every one must answer a 4xx (501 for a method
 * nobody implements) in the error shape, and leave the database and the room's live state as
 * they were. The routes are read from the routers themselves, so a new route without an entry
 * below fails this test.
 */

let stack: RealStack;
let edge: Awaited<ReturnType<typeof startEdge>>;
let server: http.Server;
let baseUrl: string;
let routes: string[];
let janitor: RoomJanitor;
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

interface World {
  room: RoomView;
  owner: TestUser;
  admin: TestUser;
  seated: TestUser;
  target: TestUser;
  banned: TestUser;
  messageId: string;
}
let w: World;

beforeAll(async () => {
  stack = await connectRealStack('hostile');
  edge = await startEdge(stack, { sweepMs: 3_600_000, messagesPerSecond: 10_000, messageBurst: 10_000, maxMessageBytes: 64 * 1024, floodRefusals: 10_000 });
  const app = createApiApp({
    config: { ...stack.config, ...UNLIMITED_RATES, RATE_LIMIT_AUTH_IP_PER_10_MINUTES: 1_000_000 },
    dataSource: stack.dataSource,
    redis: stack.redis,
    temporal: stack.temporal,
    tokens: stack.tokens,
    logger: testLogger,
  });
  routes = routesOf(app.middleware);
  server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  janitor = new RoomJanitor(edge.rooms, edge.live);

  const owner = await createUser(stack, 'Owner');
  const room = janitor.room(await createRoom(edge.rooms, owner.userId, { seatCount: 9 }));
  const [admin, seated, target, banned] = [await createUser(stack, 'Admin'), await createUser(stack, 'Seated'), await createUser(stack, 'Target'), await createUser(stack, 'Banned')];
  await edge.rooms.grantAdmin(owner.userId, room.id, admin.userId);
  for (const user of [admin, seated, target, banned]) await janitor.enter(room, user.userId);
  await edge.rooms.takeSeat(seated.userId, room.id, 1);
  await edge.rooms.ban(owner.userId, room.id, banned.userId, 'spam');
  const { message } = await edge.rooms.postChat(seated.userId, room.id, { text: 'hello', clientMsgId: `m-${randomUUID()}` });
  w = { room, owner, admin, seated, target, banned, messageId: message.id };
  // Staff, so the staff routes' own validation is what refuses (everyone else gets 403 first).
  await stack.dataSource.query(`INSERT INTO staff_members (user_id, granted_by) VALUES ($1, 'hostile test')`, [owner.userId]);
});

afterAll(async () => {
  await janitor?.sweep();
  agent.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await edge?.close();
  await stack?.close();
});

/** `METHOD /v1/path` of every route the app's routers serve (HEAD is GET's twin). */
function routesOf(middleware: unknown[]): string[] {
  const found = new Set<string>();
  for (const mw of middleware) {
    const router = (mw as { router?: Router }).router;
    if (!router) continue;
    for (const layer of router.stack) {
      for (const method of layer.methods) if (method !== 'HEAD') found.add(`${method} ${layer.path}`);
    }
  }
  return [...found].sort();
}

// -- The wire ----------------------------------------------------------------------------------

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  contentType: string;
  body: unknown;
  raw: string;
}

function send(method: string, path: string, options: { headers?: Record<string, string>; body?: string; token?: string | null } = {}): Promise<Reply> {
  const token = options.token === undefined ? w.owner.token : options.token;
  const headers: Record<string, string> = {
    'x-forwarded-for': FORWARDED_FOR,
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...(options.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(options.body)) }),
    ...options.headers,
  };
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}${path}`, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body: unknown = null;
        try {
          body = raw ? JSON.parse(raw) : null;
        } catch {
          body = null;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, contentType: String(res.headers['content-type'] ?? ''), body, raw });
      });
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** Percent-encodes a query value byte by byte (a lone surrogate becomes U+FFFD, as a browser sends it). */
const enc = (v: string) => [...Buffer.from(v, 'utf8')].map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('');

function queryString(query: Record<string, string | undefined>): string {
  const parts = Object.entries(query).flatMap(([k, v]) => (v === undefined ? [] : [`${enc(k)}=${enc(v)}`]));
  return parts.length ? `?${parts.join('&')}` : '';
}

function isErrorShape(body: unknown): boolean {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof error?.code === 'string' && typeof error.message === 'string' && error.code !== 'INTERNAL';
}

// -- What must not change ------------------------------------------------------------------------

const TABLES = ['users', 'sessions', 'rooms', 'room_admins', 'room_bans', 'room_messages', 'room_moderation_log', 'reports', 'user_follows', 'user_blocks', 'daily_reward_claims', 'ledger_entries', 'gift_fraud_flags', 'gift_fraud_reviews', 'store_purchases', 'room_playlist_items', 'room_playback', 'room_playlist_skip_votes', 'media_uploads', 'gifts', 'gift_catalog_changes', 'user_medals', 'medals', 'level_ups', 'medal_item_grants', 'referrals', 'referral_refusals', 'referral_payouts', 'notifications', 'notification_preferences', 'push_tokens', 'push_outbox', 'vip_purchases', 'cp_proposals', 'cp_pairs', 'cp_intimacy_gifts'];

async function databaseState(): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  for (const table of TABLES) {
    const [row]: { n: number; h: string }[] = await stack.dataSource.query(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h FROM ${table} t`,
    );
    state[table] = `${row!.n}:${row!.h}`;
  }
  return state;
}

/** The room as the API shows it and as Redis holds it (seq included: a refused command emits nothing). */
async function roomState(): Promise<unknown> {
  const shown = await send('GET', `/v1/rooms/${w.room.id}`);
  const live = await edge.live.snapshot(w.room.id, w.owner.userId);
  const members = await edge.live.members(w.room.id, { afterScore: 0, afterUser: '', limit: 100 });
  const applications = await edge.live.applications(w.room.id);
  return { shown: shown.body, live, members, applications };
}

async function everything(): Promise<unknown> {
  return { db: await databaseState(), room: await roomState() };
}

// -- Each route: a valid request, and the kind of each part ---------------------------------------

type Part = [value: unknown, kind: FieldKind];

interface RouteSpec {
  params?: Record<string, Part>;
  /** Headers the valid request carries (an Idempotency-Key on money routes). */
  headers?: Record<string, string>;
  /** An undefined value: the parameter is optional and absent from the valid request. */
  query?: Record<string, [string | undefined, FieldKind]>;
  body?: Record<string, Part>;
  /**
   * Only the path and the shell's cases: a well-formed body would reach a provider (social
   * sign-in), Temporal (the daily claim) or nothing at all (health).
   */
  shellOnly?: boolean;
  /** Sent without a token (public routes). */
  anonymous?: boolean;
  /**
   * Liveness: answered before any other middleware, so that a stalled dependency can never fail
   * it. It reads nothing from the request and changes nothing, so only odd methods are tried.
   */
  liveness?: boolean;
}

function specs(): Record<string, RouteSpec> {
  const room: Part = [w.room.id, 'uuid-path'];
  const page = { limit: ['5', 'limit'], cursor: [undefined, 'cursor'] } as RouteSpec['query'];
  return {
    'GET /v1/healthz': { anonymous: true, shellOnly: true, liveness: true },
    'GET /v1/readyz': { anonymous: true, shellOnly: true },
    'GET /v1/metrics': { anonymous: true, shellOnly: true },
    'POST /v1/auth/otp/request': { anonymous: true, body: { phone: ['+447400123456', 'phone'] } },
    'POST /v1/auth/otp/verify': {
      anonymous: true,
      body: {
        phone: ['+447400123456', 'phone'],
        code: ['123456', 'otp-code'],
        device: [{ id: 'hostile-device-1', name: 'phone' }, 'object'],
        inviteCode: ['ACEF3467', 'invite-code'],
      },
    },
    'POST /v1/auth/refresh': { anonymous: true, body: { refreshToken: ['r'.repeat(40), 'token'] } },
    'POST /v1/auth/social/:provider': { anonymous: true, shellOnly: true, params: { provider: ['google', 'provider-path'] } },
    'POST /v1/auth/logout': {},
    'POST /v1/realtime/tickets': {},
    'POST /v1/auth/logout-all': {},
    'GET /v1/auth/sessions': { shellOnly: true },
    'DELETE /v1/auth/sessions/:id': { params: { id: [randomUUID(), 'uuid-path'] } },
    'GET /v1/rewards/daily': { shellOnly: true },
    'GET /v1/rewards/daily/claims': { query: { limit: ['5', 'limit'], before: [undefined, 'date'] } },
    'POST /v1/rewards/daily/claim': { shellOnly: true, body: {} },
    'GET /v1/me': {},
    'PATCH /v1/me': {
      body: {
        displayName: ['New name', 'text-required'],
        timeZone: ['Asia/Kolkata', 'time-zone'],
        avatarKey: [`avatar/${w.owner.userId}/${randomUUID()}.png`, 'media-key'],
        language: ['hi-IN', 'language'],
        region: ['IN', 'region'],
        birthday: ['1990-01-31', 'date'],
      },
    },
    'POST /v1/me/identities/:provider': { shellOnly: true, params: { provider: ['google', 'provider-path'] } },
    'DELETE /v1/me/identities/:provider': { params: { provider: ['google', 'provider-path'] } },
    'POST /v1/rooms': {
      body: {
        type: ['voice', 'enum'],
        name: ['Hostile', 'text-required'],
        seatCount: [9, 'seat-count'],
        seatMode: ['free', 'enum'],
        topic: ['a topic', 'text'],
        region: ['IN', 'region'],
        password: ['pass1234', 'password'],
      },
    },
    'GET /v1/rooms': { query: { sort: ['new', 'enum'], region: ['IN', 'region'], ...page } },
    'GET /v1/rooms/:id': { params: { id: room } },
    'PATCH /v1/rooms/:id': {
      params: { id: room },
      body: {
        name: ['Renamed', 'text-required'],
        topic: ['t', 'text'],
        region: ['IN', 'region'],
        coverKey: [`room-cover/${w.owner.userId}/${randomUUID()}.png`, 'media-key'],
        seatMode: ['apply', 'enum'],
        password: ['pass1234', 'password'],
        playlistPolicy: ['everyone', 'enum'],
      },
    },
    'POST /v1/rooms/:id/close': { params: { id: room } },
    'GET /v1/rooms/:id/playlist': { params: { id: room }, query: page },
    'POST /v1/rooms/:id/playlist': { params: { id: room }, body: { url: ['https://www.youtube.com/watch?v=dQw4w9WgXcQ', 'video-url'] } },
    'DELETE /v1/rooms/:id/playlist/:itemId': { params: { id: room, itemId: [randomUUID(), 'uuid-path'] } },
    'POST /v1/rooms/:id/playlist/:itemId/move': { params: { id: room, itemId: [randomUUID(), 'uuid-path'] }, body: { index: [1, 'int'] } },
    'POST /v1/rooms/:id/playlist/:itemId/skip-votes': { params: { id: room, itemId: [randomUUID(), 'uuid-path'] } },
    'GET /v1/rooms/:id/playback': { params: { id: room } },
    'POST /v1/rooms/:id/playback/play': { params: { id: room }, body: { version: [0, 'int'] } },
    'POST /v1/rooms/:id/playback/pause': { params: { id: room }, body: { version: [0, 'int'] } },
    'POST /v1/rooms/:id/playback/seek': { params: { id: room }, body: { positionMs: [1000, 'int'], version: [0, 'int'] } },
    'POST /v1/rooms/:id/playback/next': { params: { id: room }, body: { version: [0, 'int'] } },
    'PUT /v1/rooms/:id/now-playing': { params: { id: room }, body: { title: ['A song', 'text-required'], artist: ['An artist', 'text-required'] } },
    'DELETE /v1/rooms/:id/now-playing': { params: { id: room } },
    'GET /v1/rooms/:id/members': { params: { id: room }, query: page },
    'PUT /v1/rooms/:id/admins/:userId': { params: { id: room, userId: [w.target.userId, 'uuid-path'] } },
    'DELETE /v1/rooms/:id/admins/:userId': { params: { id: room, userId: [w.admin.userId, 'uuid-path'] } },
    'POST /v1/rooms/:id/seats/take': { params: { id: room }, body: { seat: [2, 'seat'] } },
    'POST /v1/rooms/:id/seats/leave': { params: { id: room } },
    'POST /v1/rooms/:id/seats/move': { params: { id: room }, body: { seat: [3, 'seat'] } },
    'POST /v1/rooms/:id/seats/mute': { params: { id: room }, body: { muted: [true, 'boolean'] } },
    'POST /v1/rooms/:id/seats/invitation': { params: { id: room }, body: { accept: [true, 'boolean'] } },
    'POST /v1/rooms/:id/seats/applications': { params: { id: room } },
    'DELETE /v1/rooms/:id/seats/applications': { params: { id: room } },
    'GET /v1/rooms/:id/seats/applications': { params: { id: room } },
    'POST /v1/rooms/:id/seats/applications/:userId': {
      params: { id: room, userId: [w.target.userId, 'uuid-path'] },
      body: { approve: [true, 'boolean'], seat: [2, 'seat'] },
    },
    'POST /v1/rooms/:id/seats/invitations': { params: { id: room }, body: { userId: [w.target.userId, 'uuid'], seat: [2, 'seat'] } },
    'POST /v1/rooms/:id/seats/:seat/lock': { params: { id: room, seat: ['2', 'seat-path'] }, body: { locked: [true, 'boolean'] } },
    'POST /v1/rooms/:id/seats/:seat/mute': { params: { id: room, seat: ['1', 'seat-path'] }, body: { muted: [true, 'boolean'] } },
    'POST /v1/rooms/:id/seats/remove': { params: { id: room }, body: { userId: [w.seated.userId, 'uuid'] } },
    'POST /v1/rooms/:id/kick': { params: { id: room }, body: { userId: [w.target.userId, 'uuid'] } },
    'GET /v1/rooms/:id/bans': { params: { id: room }, query: page },
    'PUT /v1/rooms/:id/bans/:userId': { params: { id: room, userId: [w.target.userId, 'uuid-path'] }, body: { reason: ['spam', 'text-required'] } },
    'DELETE /v1/rooms/:id/bans/:userId': { params: { id: room, userId: [w.banned.userId, 'uuid-path'] } },
    'PUT /v1/rooms/:id/chat-mutes/:userId': { params: { id: room, userId: [w.target.userId, 'uuid-path'] }, body: { minutes: [5, 'minutes'] } },
    'DELETE /v1/rooms/:id/chat-mutes/:userId': { params: { id: room, userId: [w.target.userId, 'uuid-path'] } },
    'PUT /v1/rooms/:id/mute-all': { params: { id: room }, body: { on: [true, 'boolean'] } },
    'GET /v1/rooms/:id/moderation-log': { params: { id: room }, query: page },
    'GET /v1/rooms/:id/messages': { params: { id: room }, query: page },
    'POST /v1/rooms/:id/messages/:messageId/recall': { params: { id: room, messageId: [w.messageId, 'message-id-path'] } },
    'DELETE /v1/rooms/:id/messages/:messageId': { params: { id: room, messageId: [w.messageId, 'message-id-path'] } },
    'POST /v1/rooms/:id/reports': {
      params: { id: room },
      body: {
        targetUserId: [w.target.userId, 'uuid'],
        messageId: [w.messageId, 'message-id'],
        reason: ['spam', 'enum'],
        details: ['line one\nline two', 'multiline-text'],
      },
    },
    'PUT /v1/users/:id/follow': { params: { id: [w.target.userId, 'uuid-path'] } },
    'DELETE /v1/users/:id/follow': { params: { id: [w.target.userId, 'uuid-path'] } },
    'PUT /v1/users/:id/block': { params: { id: [w.target.userId, 'uuid-path'] } },
    'DELETE /v1/users/:id/block': { params: { id: [w.target.userId, 'uuid-path'] } },
    'GET /v1/rankings/wealth': { query: { period: ['weekly', 'enum'], at: [periodIdAt('weekly', Date.now()), 'period-id'], limit: ['5', 'limit'] } },
    'GET /v1/rankings/charm': { query: { period: ['monthly', 'enum'], at: [periodIdAt('monthly', Date.now()), 'period-id'], limit: ['5', 'limit'] } },
    'GET /v1/rooms/:id/rankings/contribution': {
      params: { id: room },
      query: { period: ['daily', 'enum'], at: [periodIdAt('daily', Date.now()), 'period-id'], limit: ['5', 'limit'] },
    },
    'GET /v1/users/:id': { params: { id: [w.target.userId, 'uuid-path'] } },
    'GET /v1/users/badges': { query: { ids: [w.target.userId, 'uuid'] } },
    'GET /v1/users/:id/followers': { params: { id: [w.target.userId, 'uuid-path'] }, query: page },
    'GET /v1/users/:id/following': { params: { id: [w.target.userId, 'uuid-path'] }, query: page },
    'GET /v1/me/following': { query: page },
    'GET /v1/me/blocked': { query: page },
    'GET /v1/gifts': { query: { region: ['IN', 'region'] } },
    'GET /v1/vip/tiers': {},
    'GET /v1/me/vip': {},
    // Tier 5 costs more than the owner holds: even a request that slipped through would change nothing.
    'POST /v1/me/vip/purchases': { headers: { 'idempotency-key': randomUUID() }, body: { tier: [5, 'int'], periods: [1, 'int'] } },
    'GET /v1/wallet': {},
    'GET /v1/wallet/transactions': { query: { currency: ['coins', 'enum'], ...page } },
    'POST /v1/wallet/exchanges': { headers: { 'idempotency-key': randomUUID() }, body: { diamonds: [100_000_001, 'minutes'] } },
    'POST /v1/rooms/:id/gifts': {
      headers: { 'idempotency-key': randomUUID() },
      params: { id: room },
      body: { giftId: ['rose', 'enum'], quantity: [2, 'minutes'], to: [[w.target.userId], 'uuid'] },
    },
    'GET /v1/staff/gift-flags': { query: { status: ['open', 'enum'], ...page } },
    'GET /v1/staff/gift-flags/:id': { params: { id: [randomUUID(), 'uuid-path'] } },
    'POST /v1/staff/gift-flags/:id/review': {
      params: { id: [randomUUID(), 'uuid-path'] },
      body: { decision: ['release', 'enum'], note: ['looks fine\nchecked the rooms', 'multiline-text'] },
    },
    'POST /v1/media/uploads': { body: { kind: ['avatar', 'enum'], contentType: ['image/png', 'content-type'], bytes: [1000, 'byte-count'] } },
    'GET /v1/media/uploads/:id': { params: { id: [randomUUID(), 'uuid-path'] } },
    'POST /v1/media/uploads/:id/complete': { params: { id: [randomUUID(), 'uuid-path'] } },
    'PUT /v1/staff/gifts/:giftId/animation': {
      params: { giftId: ['rose', 'gift-id-path'] },
      body: { key: [`gift-animation/${w.owner.userId}/${randomUUID()}.svga`, 'media-key'], format: ['svga', 'enum'] },
    },
    'GET /v1/me/referral': {},
    'POST /v1/me/referral/attribution': { body: { inviteCode: ['ACEF3467', 'invite-code'] } },
    'GET /v1/me/referrals': { query: page },
    'GET /v1/referrals/leaderboard': { query: { period: ['all', 'enum'], ...page } },
    'GET /v1/wallet/packages': { query: { region: ['IN', 'region'] } },
    'POST /v1/wallet/recharges/google-play': { body: { productId: ['coins_500', 'enum'], purchaseToken: ['hostile-purchase-token-0001.AO-J1Oz', 'token'] } },
    'GET /v1/wallet/recharges/:id': { params: { id: [randomUUID(), 'uuid-path'] } },
    'POST /v1/rooms/:id/media/token': { params: { id: room } },
    'GET /v1/levels': { anonymous: true },
    'GET /v1/me/levels': {},
    'GET /v1/medals': { anonymous: true },
    'GET /v1/me/medals': {},
    'PUT /v1/me/medals/display': { body: { medalIds: [[], 'medal-ids'] } },
    'GET /v1/notifications': { query: page },
    'GET /v1/notifications/unread-count': {},
    'POST /v1/notifications/:id/read': { params: { id: [randomUUID(), 'uuid-path'] } },
    'POST /v1/notifications/read-all': { body: { upTo: [new Date().toISOString(), 'instant'] } },
    'GET /v1/me/notification-preferences': {},
    'PUT /v1/me/notification-preferences': { body: { push: [{ follow: false }, 'object'] } },
    'POST /v1/me/push-tokens': { body: { token: [`hostile-${randomUUID()}:APA91b`, 'token'], platform: ['android', 'enum'], deviceId: ['hostile-device-9', 'token'] } },
    'DELETE /v1/me/push-tokens/:token': { params: { token: [`hostile-${randomUUID()}:APA91b`, 'push-token-path'] } },
    'DELETE /v1/me/push-tokens': { query: { deviceId: ['hostile-device-9', 'token'] } },
    // Signed by the media server, not by a user: every hostile variant is unsigned (401).
    'POST /v1/media/livekit/webhook': { anonymous: true, shellOnly: true },
    'POST /v1/cp/proposals': { headers: { 'idempotency-key': randomUUID() }, body: { toUserId: [w.target.userId, 'uuid'], ringGiftId: ['cp-ring', 'enum'] } },
    'GET /v1/cp/proposals': { query: { direction: ['in', 'enum'], ...page } },
    'POST /v1/cp/proposals/:id/accept': { params: { id: [randomUUID(), 'uuid-path'] } },
    'POST /v1/cp/proposals/:id/decline': { params: { id: [randomUUID(), 'uuid-path'] } },
    'POST /v1/cp/proposals/:id/withdraw': { params: { id: [randomUUID(), 'uuid-path'] } },
    'POST /v1/cp/breakup': { headers: { 'idempotency-key': randomUUID() } },
    'GET /v1/me/cp': {},
    'GET /v1/cp/rankings/weekly': { query: { at: [periodIdAt('weekly', Date.now()), 'period-id'], ...page } },
  };
}

interface HostileRequest {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** 501 for a method nobody implements; any 4xx otherwise. */
  expect: '4xx' | '501';
}

function pathOf(template: string, params: Record<string, string>): string {
  return template.replace(/:(\w+)/g, (_m, name: string) => params[name] ?? `:${name}`);
}

/** The valid request of a route, and each hostile variant of it. */
function hostileRequests(route: string, spec: RouteSpec): HostileRequest[] {
  const [method, template] = route.split(' ') as [string, string];
  const params = Object.fromEntries(Object.entries(spec.params ?? {}).map(([k, [v]]) => [k, String(v)]));
  const query = Object.fromEntries(Object.entries(spec.query ?? {}).map(([k, [v]]) => [k, v]));
  const body = spec.body && Object.fromEntries(Object.entries(spec.body).map(([k, [v]]) => [k, v]));
  const takesBody = ['POST', 'PUT', 'PATCH'].includes(method);
  const validBody = takesBody && body ? jsonText(body) : undefined;
  const path = pathOf(template, params) + queryString(query);
  const out: HostileRequest[] = [];

  for (const [name, [, kind]] of Object.entries(spec.params ?? {})) {
    for (const [desc, value] of hostileValues(kind)) {
      out.push({ name: `path :${name} ${desc}`, method, path: pathOf(template, { ...params, [name]: String(value) }) + queryString(query), body: validBody, expect: '4xx' });
    }
  }
  if (!spec.shellOnly) {
    for (const [name, [, kind]] of Object.entries(spec.query ?? {})) {
      for (const [desc, value] of hostileValues(kind)) {
        if (typeof value !== 'string') continue;
        out.push({ name: `query ${name} ${desc}`, method, path: pathOf(template, params) + queryString({ ...query, [name]: value }), expect: '4xx' });
      }
    }
    if (spec.query) out.push({ name: 'query: unknown parameter', method, path: pathOf(template, params) + queryString({ ...query, extra: '1' }), expect: '4xx' });
    for (const [name, [, kind]] of Object.entries(spec.body ?? {})) {
      for (const [desc, value] of hostileValues(kind)) {
        out.push({ name: `body ${name} ${desc}`, method, path, body: jsonText({ ...body, [name]: value }), expect: '4xx' });
      }
    }
    if (spec.body) out.push({ name: 'body: unknown key', method, path, body: jsonText({ ...body, extra: 1 }), expect: '4xx' });
  }

  // The shell: methods, encodings, content types, body shapes, prototype keys, repeated parameters.
  const anyBody = validBody ?? '{}';
  const bodyHeaders = (type: string) => ({ 'content-type': type });
  for (const odd of ['PROPFIND', 'TRACE', 'PURGE', 'LINK', 'BREW', 'M-SEARCH']) out.push({ name: `method ${odd}`, method: odd, path, expect: '501' });
  if (spec.liveness) return out;
  for (const encoding of ['gzip', 'deflate', 'br', 'compress', 'identity, gzip', 'x-unknown']) {
    out.push({ name: `Content-Encoding ${encoding} on a plain body`, method, path, headers: { 'content-encoding': encoding }, body: anyBody, expect: '4xx' });
  }
  out.push({ name: 'Content-Type text/plain', method, path, headers: bodyHeaders('text/plain'), body: anyBody, expect: '4xx' });
  out.push({ name: 'Content-Type form', method, path, headers: bodyHeaders('application/x-www-form-urlencoded'), body: 'a=1', expect: '4xx' });
  out.push({ name: 'Content-Type json-patch', method, path, headers: bodyHeaders('application/json-patch+json'), body: anyBody, expect: '4xx' });
  out.push({ name: 'JSON in latin-1', method, path, headers: bodyHeaders('application/json; charset=iso-8859-1'), body: anyBody, expect: '4xx' });
  out.push({ name: 'JSON in UTF-16', method, path, headers: bodyHeaders('application/json; charset=utf-16'), body: anyBody, expect: '4xx' });
  out.push({ name: 'a body past 64 kB', method, path, body: `{"a":"${'x'.repeat(70_000)}"}`, expect: '4xx' });
  out.push({ name: 'arrays nested 20,000 deep', method, path, body: `${'['.repeat(20_000)}${']'.repeat(20_000)}`, expect: '4xx' });
  out.push({ name: 'objects nested 5,000 deep', method, path, body: `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`, expect: '4xx' });
  out.push({ name: 'a 20 kB query string (past the header limit)', method, path: `${pathOf(template, params)}?q=${'x'.repeat(20_000)}`, expect: '4xx' });
  for (const [desc, text] of [
    ['malformed JSON', '{"a":'],
    ['JSON5', '{a:1}'],
    ['single quotes', "{'a':1}"],
    ['an array', '[]'],
    ['an array of the body', `[${anyBody}]`],
    ['a string', '"x"'],
    ['null', 'null'],
    ['a number', '5'],
    ['__proto__', '{"__proto__":{"polluted":1}}'],
    ['constructor.prototype', '{"constructor":{"prototype":{"polluted":1}}}'],
    ['nested __proto__', '{"a":{"__proto__":{"polluted":1}}}'],
    ['prototype', '{"prototype":{"polluted":1}}'],
  ]) {
    out.push({ name: `body ${desc}`, method, path, body: text, expect: '4xx' });
  }
  if (takesBody && !spec.shellOnly) {
    // Routes that take no body refuse one too: the handler would otherwise act and ignore it.
    out.push({ name: 'body with a lone surrogate escape as a key', method, path, body: '{"\\ud800":1}', expect: '4xx' });
  }
  if (spec.body && Object.keys(spec.body).length > 0) {
    out.push({ name: 'valid body with __proto__ added', method, path, body: `${anyBody.slice(0, -1)},"__proto__":{"polluted":1}}`, expect: '4xx' });
  }
  const sep = path.includes('?') ? '&' : '?';
  out.push({ name: 'a repeated query parameter', method, path: `${path}${sep}limit=1&limit=2`, body: validBody, expect: '4xx' });
  out.push({ name: 'query __proto__', method, path: `${path}${sep}__proto__=x`, body: validBody, expect: '4xx' });
  out.push({ name: 'query constructor', method, path: `${path}${sep}constructor=x`, body: validBody, expect: '4xx' });
  return out;
}

describe('hostile input to every route', () => {
  it('has a catalogue entry for every route the routers serve, and none for a route that is gone', () => {
    const table = specs();
    expect(routes.filter((r) => !(r in table))).toEqual([]);
    expect(Object.keys(table).filter((r) => !routes.includes(r))).toEqual([]);
    expect(routes.length).toBeGreaterThan(50);
  });

  it('refuses every hostile request with a 4xx in the error shape, changing nothing', async () => {
    const table = specs();
    const failures: string[] = [];
    let sent = 0;
    // A member's socket in the room: the room's own view of what happened (nothing may).
    const watcher = await TestSocket.connect(edge.url, { token: w.seated.token });
    const joinedAt = (await join(watcher, w.room.id)).seq;
    for (const route of routes) {
      const spec = table[route]!;
      const before = await everything();
      const requests = hostileRequests(route, spec);
      // A few at a time: the order within a route doesn't matter, since none may change anything.
      for (let i = 0; i < requests.length; i += 8) {
        await Promise.all(
          requests.slice(i, i + 8).map(async (r) => {
            const reply = await send(r.method, r.path, { headers: { ...spec.headers, ...r.headers }, body: r.body, token: spec.anonymous ? null : undefined });
            sent++;
            const statusOk = r.expect === '501' ? reply.status === 501 : reply.status >= 400 && reply.status < 500;
            if (!statusOk || !isErrorShape(reply.body)) failures.push(`${route} ${r.name}: ${reply.status} ${reply.raw.slice(0, 160)}`);
          }),
        );
      }
      const after = await everything();
      try {
        expect(after).toEqual(before);
      } catch (err) {
        failures.push(`${route}: state changed: ${(err as Error).message.slice(0, 600)}`);
      }
    }
    const mark = `mark-${randomUUID()}`;
    watcher.send({ type: 'ping', ref: mark });
    await watcher.until((m) => m.ref === mark);
    expect(watcher.roomEvents(w.room.id).filter((e) => e.seq > joinedAt)).toEqual([]);
    await watcher.close();
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(2000);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });
});

describe('case variants of ids act on the same thing as lower case', () => {
  const upper = (id: string) => id.toUpperCase();
  const mixed = (id: string) => id.replace(/[a-f]/g, (c, i: number) => (i % 2 ? c.toUpperCase() : c));

  it('reads a room by an upper-case id, and answers with the canonical id', async () => {
    const reply = await send('GET', `/v1/rooms/${upper(w.room.id)}`);
    expect(reply.status).toBe(200);
    expect((reply.body as { id: string }).id).toBe(w.room.id);
  });

  it('kicks, bans and mutes the live member an upper- or mixed-case id names', async () => {
    const room = janitor.room(await createRoom(edge.rooms, w.owner.userId));
    const [kicked, banned, muted] = [await createUser(stack), await createUser(stack), await createUser(stack)];
    for (const user of [kicked, banned, muted]) await janitor.enter(room, user.userId);

    expect((await send('POST', `/v1/rooms/${upper(room.id)}/kick`, { body: JSON.stringify({ userId: upper(kicked.userId) }) })).status).toBe(204);
    expect(await edge.live.isMember(room.id, kicked.userId)).toBe(false);

    expect((await send('PUT', `/v1/rooms/${mixed(room.id)}/bans/${mixed(banned.userId)}`, { body: '{}' })).status).toBe(204);
    expect(await edge.live.isMember(room.id, banned.userId)).toBe(false);
    expect(await edge.rooms.admit(banned.userId, room.id).catch((err: { code?: string }) => err.code)).toBe('ROOM_BANNED');

    expect((await send('PUT', `/v1/rooms/${upper(room.id)}/chat-mutes/${upper(muted.userId)}`, { body: '{"minutes":5}' })).status).toBe(200);
    const snapshot = (await edge.live.snapshot(room.id, muted.userId)) as unknown as { chatMutedUntil: unknown };
    expect(snapshot.chatMutedUntil).toEqual(expect.any(Number));

    const log = await send('GET', `/v1/rooms/${room.id}/moderation-log`);
    const targets = (log.body as { items: { action: string; targetUserId: string }[] }).items.map((e) => [e.action, e.targetUserId]);
    expect(targets).toEqual([
      ['chat-mute', muted.userId],
      ['ban', banned.userId],
      ['kick', kicked.userId],
    ]);
  });

  it('joins and chats over the socket with an upper-case room id', async () => {
    const user = await createUser(stack);
    const socket = await TestSocket.connect(edge.url, { token: user.token });
    try {
      const snapshot = await join(socket, upper(w.room.id));
      expect(snapshot.room).toBe(w.room.id);
      expect(await edge.live.isMember(w.room.id, user.userId)).toBe(true);
      const ref = randomUUID();
      socket.send({ type: 'chat', room: mixed(w.room.id), text: 'hi', clientMsgId: `m-${randomUUID()}`, ref });
      const ack = await socket.until((m) => m.ref === ref);
      expect(ack).toMatchObject({ type: 'ack', room: w.room.id });
      socket.send({ type: 'leave', room: upper(w.room.id), ref: 'leave-1' });
      expect(await socket.until((m) => m.ref === 'leave-1')).toMatchObject({ type: 'left', room: w.room.id });
    } finally {
      await socket.close();
    }
  });

  it('revokes a session named by an upper-case id: its access token stops working', async () => {
    const user = await createUser(stack);
    const sessions = new Sessions(new SessionStore(stack.dataSource), stack.tokens, stack.redis, new RedisUserEventPublisher(stack.redis), {
      accessTtlSeconds: 900,
      refreshTtlDays: 30,
      reuseGraceSeconds: 30,
    });
    const signedIn = await sessions.issue(user.userId, { deviceId: 'hostile-device-2', deviceName: 'phone' });
    expect((await send('GET', '/v1/me', { token: signedIn.accessToken })).status).toBe(200);
    expect((await send('DELETE', `/v1/auth/sessions/${upper(signedIn.sessionId)}`, { token: user.token })).status).toBe(204);
    expect((await send('GET', '/v1/me', { token: signedIn.accessToken })).status).toBe(401);
  });

  it('follows by an upper-case id once, listed by the canonical id', async () => {
    const me = await createUser(stack);
    const other = await createUser(stack);
    expect((await send('PUT', `/v1/users/${upper(other.userId)}/follow`, { token: me.token })).status).toBe(204);
    expect((await send('PUT', `/v1/users/${other.userId}/follow`, { token: me.token })).status).toBe(204);
    const list = await send('GET', '/v1/me/following', { token: me.token });
    expect((list.body as { items: { userId: string }[] }).items.map((i) => i.userId)).toEqual([other.userId]);
  });
});

describe('a room that does not exist', () => {
  it('is ROOM_NOT_FOUND on every room route, whatever state error the route could give', async () => {
    const table = specs();
    const missing = randomUUID();
    const failures: string[] = [];
    const before = await databaseState();
    for (const route of routes.filter((r) => r.includes('/rooms/:id'))) {
      const [method, template] = route.split(' ') as [string, string];
      const spec = table[route]!;
      const params = { ...Object.fromEntries(Object.entries(spec.params ?? {}).map(([k, [v]]) => [k, String(v)])), id: missing };
      const query = Object.fromEntries(Object.entries(spec.query ?? {}).map(([k, [v]]) => [k, v]));
      const body = spec.body ? jsonText(Object.fromEntries(Object.entries(spec.body).map(([k, [v]]) => [k, v]))) : undefined;
      const reply = await send(method, pathOf(template, params) + queryString(query), {
        headers: spec.headers,
        body: ['POST', 'PUT', 'PATCH'].includes(method) ? body : undefined,
      });
      const code = (reply.body as { error?: { code?: string } } | null)?.error?.code;
      if (reply.status !== 404 || code !== 'ROOM_NOT_FOUND') failures.push(`${route}: ${reply.status} ${reply.raw.slice(0, 120)}`);
    }
    expect(failures).toEqual([]);
    expect(await databaseState()).toEqual(before);
  });
});

describe('a room Redis lost', () => {
  it('is rebuilt from PostgreSQL for a live step, not refused as closed (or a 500)', async () => {
    const room = janitor.room(await createRoom(edge.rooms, w.owner.userId));
    const keys = await stack.redis.keys(`aura:room:{${room.id}}:*`);
    expect(keys.length).toBeGreaterThan(0);
    await stack.redis.del(...keys);
    // Rebuilt with nobody inside (the members were in what was lost): the owner must join first.
    const reply = await send('POST', `/v1/rooms/${room.id}/seats/take`, { body: '{"seat":0}' });
    expect({ status: reply.status, code: (reply.body as { error?: { code?: string } }).error?.code }).toEqual({ status: 403, code: 'NOT_IN_ROOM' });
    expect((await edge.live.snapshot(room.id)).status).toBe('open');
  });
});

describe('methods', () => {
  it('answers a method a route lacks with 405 and its Allow header, and an unknown method with 501', async () => {
    const put = await send('PUT', '/v1/rooms', { body: '{}' });
    expect(put.status).toBe(405);
    expect(isErrorShape(put.body)).toBe(true);
    expect(String(put.headers.allow).split(', ').sort()).toEqual(['GET', 'HEAD', 'POST']);
    for (const method of ['PROPFIND', 'BREW']) {
      const reply = await send(method, '/v1/rooms');
      expect({ status: reply.status, code: (reply.body as { error: { code: string } }).error.code }).toEqual({ status: 501, code: 'METHOD_NOT_IMPLEMENTED' });
      expect(reply.headers.allow).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    }
  });
});

describe('cursors that are ours in shape but not real', () => {
  it('answers 400 for impossible dates and malformed keys in every kind of cursor', async () => {
    const cursors = hostileValues('cursor').map(([, v]) => v as string);
    const lists = ['/v1/rooms?sort=new', '/v1/rooms?sort=following', '/v1/rooms?sort=popular', `/v1/rooms/${w.room.id}/members?limit=5`, `/v1/rooms/${w.room.id}/bans?limit=5`, `/v1/rooms/${w.room.id}/moderation-log?limit=5`, `/v1/rooms/${w.room.id}/messages?limit=5`, `/v1/rooms/${w.room.id}/playlist?limit=5`, '/v1/me/following?limit=5', '/v1/me/blocked?limit=5', `/v1/users/${w.target.userId}/followers?limit=5`, `/v1/users/${w.target.userId}/following?limit=5`, '/v1/notifications?limit=5'];
    const failures: string[] = [];
    for (const list of lists) {
      for (const cursor of cursors) {
        const reply = await send('GET', `${list}&cursor=${enc(cursor)}`);
        if (reply.status !== 400 || !isErrorShape(reply.body)) failures.push(`${list} ${JSON.stringify(cursor)}: ${reply.status} ${reply.raw.slice(0, 100)}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('hostile socket commands', () => {
  it('answers each with an error (never INTERNAL), keeps the socket open, and changes nothing', async () => {
    const socket = await TestSocket.connect(edge.url, { token: w.target.token });
    try {
      await join(socket, w.room.id);
      const before = await everything();
      const room = w.room.id;
      const valid: Record<string, Record<string, [unknown, FieldKind | 'ref' | 'epoch' | 'seq' | 'client-msg-id' | 't0']>> = {
        ping: { ref: ['p-1', 'ref'] },
        time: { t0: [1234.5, 't0'], ref: ['t-1', 'ref'] },
        join: { room: [room, 'uuid'], password: ['pass1234', 'password'], ref: ['j-1', 'ref'] },
        resume: { room: [room, 'uuid'], lastSeq: [1, 'seq'], epoch: [randomUUID(), 'epoch'], password: ['pass1234', 'password'], ref: ['r-1', 'ref'] },
        leave: { room: [room, 'uuid'], ref: ['l-1', 'ref'] },
        chat: { room: [room, 'uuid'], text: ['hello', 'multiline-text'], clientMsgId: [`m-${randomUUID()}`, 'client-msg-id'], ref: ['c-1', 'ref'] },
      };
      const extra: Record<string, [string, unknown][]> = {
        ref: [...BAD_TEXT, ['over-long', 'r'.repeat(65)], ['empty', ''], ['a number', 5]],
        epoch: [['NUL', 'e\u0000'], ['over-long', 'e'.repeat(65)], ['a space', 'a b'], ['right-to-left override', '\u202eabc'], ['a number', 5]],
        seq: [['negative', -1], ['fraction', 1.5], ['exponent overflow', new RawJson('1e400')], ['past 2^53', 2 ** 60], ['a string', '1']],
        t0: [['negative', -1], ['exponent overflow', new RawJson('1e400')], ['past 2^53', 2 ** 60], ['a string', '1'], ['null', null], ['an array', [1]]],
        'client-msg-id': [['short', 'abc'], ['NUL', 'abcdefgh\u0000'], ['a space', 'abcd efgh'], ['right-to-left override', 'abcdefgh\u202e'], ['a number', 12345678]],
      };
      const frames: { name: string; text: string }[] = [];
      for (const [type, fields] of Object.entries(valid)) {
        const message = { type, ...Object.fromEntries(Object.entries(fields).map(([k, [v]]) => [k, v])) };
        for (const [field, [, kind]] of Object.entries(fields)) {
          const values = extra[kind] ?? hostileValues(kind as FieldKind);
          for (const [desc, value] of values) frames.push({ name: `${type}.${field} ${desc}`, text: jsonText({ ...message, [field]: value }) });
        }
        frames.push({ name: `${type} with an unknown key`, text: jsonText({ ...message, extra: 1 }) });
        frames.push({ name: `${type} with __proto__`, text: `${jsonText(message).slice(0, -1)},"__proto__":{"polluted":1}}` });
        frames.push({ name: `${type} with upper-case type`, text: jsonText({ ...message, type: type.toUpperCase() }) });
      }
      for (const [name, text] of [
        ['not JSON', '{"type":'],
        ['an array', '[]'],
        ['an array of a command', `[{"type":"ping"}]`],
        ['null', 'null'],
        ['a number', '5'],
        ['a string', '"ping"'],
        ['an object type', '{"type":{"x":1}}'],
        ['no type', '{}'],
        ['__proto__ only', '{"__proto__":{"type":"ping"}}'],
        ['constructor', '{"type":"ping","constructor":{"prototype":{"polluted":1}}}'],
      ]) {
        frames.push({ name: name!, text: text! });
      }
      const failures: string[] = [];
      for (const frame of frames) {
        const mark = `mark-${randomUUID()}`;
        const seen = socket.log.length;
        socket.send(frame.text);
        socket.send({ type: 'ping', ref: mark });
        await socket.until((m) => m.ref === mark);
        const replies = socket.log.slice(seen).filter((m) => m.ref !== mark);
        const errors = replies.filter((m) => m.type === 'error');
        if (replies.length !== 1 || errors.length !== 1 || errors[0]!.code === 'INTERNAL' || typeof errors[0]!.message !== 'string') {
          failures.push(`${frame.name}: ${JSON.stringify(replies).slice(0, 200)}`);
        }
      }
      expect(failures).toEqual([]);
      expect(frames.length).toBeGreaterThan(150);
      expect(await everything()).toEqual(before);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    } finally {
      await socket.close();
    }
  });
});
