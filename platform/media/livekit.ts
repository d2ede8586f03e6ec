import { BrokenCircuitError } from 'cockatiel';
import {
  AccessToken,
  RoomServiceClient,
  TrackSource,
  TrackType,
  TwirpError,
  WebhookReceiver,
  type ParticipantInfo,
  type ParticipantPermission,
} from 'livekit-server-sdk';
import type { Config } from '../../config';
import { AppError, ErrorCode } from '../../domain/errors';
import type { MediaGrant, MediaSource } from '../../domain/media/grants';
import { outboundCircuitBreaker, type OutboundBreakerOptions } from '../resilience/outbound-policy';

/**
 * The media server (an SFU) as the rest of the backend sees it: rooms named after Aura rooms,
 * participants named after users, and what each may publish. One implementation, over LiveKit's
 * server API; the names on the LiveKit side are decided here and nowhere else.
 */
export interface MediaServer {
  /** Where apps connect (the LiveKit URL handed out with tokens). */
  readonly url: string;
  /** Creates the room ahead of the first participant (LiveKit also creates it on first join). */
  ensureRoom(roomId: string): Promise<void>;
  /** Ends the room: every participant is disconnected. A room that isn't there is fine. */
  closeRoom(roomId: string): Promise<void>;
  /** 'absent': the user is not connected to the room's media (nobody to update). */
  setPermissions(roomId: string, userId: string, grant: MediaGrant): Promise<'updated' | 'absent'>;
  removeParticipant(roomId: string, userId: string): Promise<'removed' | 'absent'>;
  /** [] when the room is not open on the media server. */
  listParticipants(roomId: string): Promise<MediaParticipant[]>;
  /** Aura rooms that are open on the media server now. */
  listRooms(): Promise<string[]>;
  /** Signed locally: no call to the media server, so joins never wait on it. */
  mintJoinToken(roomId: string, userId: string, grant: MediaGrant, ttlSeconds: number): Promise<{ token: string; expiresAt: number }>;
  /** Verifies a webhook's signature over the raw body; throws MediaWebhookRejected. */
  verifyWebhook(rawBody: string, authorization: string | undefined): Promise<MediaWebhookEvent>;
}

export interface MediaParticipant {
  userId: string;
  /** The media server's id for this connection (a reconnect after leaving gets a new one). */
  sid: string;
  /** What the server currently lets this participant do. */
  grant: MediaGrant;
  /** Tracks the participant publishes now. */
  tracks: { sid: string; source: MediaSource | 'other'; kind: 'audio' | 'video' | 'data'; muted: boolean }[];
}

export interface MediaWebhookEvent {
  /** LiveKit's event name: participant_joined, participant_left, room_started, track_published, ... */
  event: string;
  id: string;
  /** The Aura room, or null for a room that is not one of ours. */
  roomId: string | null;
  participant: { userId: string; sid: string } | null;
  /** When the media server sent it (ms). */
  createdAt: number;
}

/** The media server is down, stalled or overloaded (or its breaker is open): retry later. */
export class MediaServerUnavailable extends AppError {
  constructor(message: string) {
    super(ErrorCode.DependencyUnavailable, message);
    this.name = 'MediaServerUnavailable';
  }
}

/** The media server refused a call that retrying will not fix (a bad request, bad credentials). */
export class MediaServerRefused extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
    this.name = 'MediaServerRefused';
  }
}

/** A webhook that is unsigned, forged, stale or unreadable. */
export class MediaWebhookRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MediaWebhookRejected';
  }
}

const ROOM_PREFIX = 'aura-';

/** The LiveKit room of an Aura room. */
export function mediaRoomName(roomId: string): string {
  return `${ROOM_PREFIX}${roomId}`;
}

/** The Aura room of a LiveKit room name, or null for a room that isn't ours. */
export function roomIdOfMediaRoom(name: string): string | null {
  return name.startsWith(ROOM_PREFIX) ? name.slice(ROOM_PREFIX.length) : null;
}

/** A user's identity on the media server is their user id. */
export function mediaIdentity(userId: string): string {
  return userId;
}

const TO_TRACK_SOURCE: Record<MediaSource, TrackSource> = { microphone: TrackSource.MICROPHONE, camera: TrackSource.CAMERA };

function sourceOf(source: TrackSource): MediaSource | 'other' {
  if (source === TrackSource.MICROPHONE) return 'microphone';
  if (source === TrackSource.CAMERA) return 'camera';
  return 'other';
}

/**
 * Every field of LiveKit's permission, since an update replaces the whole of it: a field left
 * out would be reset to false (canUpdateMetadata, hidden) or, for the sources, to "any".
 */
function toPermission(grant: MediaGrant): Partial<ParticipantPermission> {
  return {
    canSubscribe: grant.canSubscribe,
    canPublish: grant.canPublish && grant.sources.length > 0,
    canPublishData: grant.canPublishData,
    canPublishSources: grant.sources.map((s) => TO_TRACK_SOURCE[s]),
    canUpdateMetadata: false,
    hidden: false,
    recorder: false,
  };
}

function fromPermission(permission: ParticipantPermission | undefined): MediaGrant {
  if (!permission) return { canSubscribe: false, canPublish: false, sources: [], canPublishData: false };
  const sources = permission.canPublishSources.map(sourceOf).filter((s): s is MediaSource => s !== 'other');
  // LiveKit reads "publish with no source list" as "any source": say so rather than hide it.
  const any = permission.canPublish && permission.canPublishSources.length === 0;
  return {
    canSubscribe: permission.canSubscribe,
    canPublish: permission.canPublish,
    sources: any ? ['microphone', 'camera'] : sources,
    canPublishData: permission.canPublishData,
  };
}

function toParticipant(info: ParticipantInfo): MediaParticipant {
  return {
    userId: info.identity,
    sid: info.sid,
    grant: fromPermission(info.permission),
    tracks: info.tracks.map((t) => ({
      sid: t.sid,
      source: sourceOf(t.source),
      kind: t.type === TrackType.AUDIO ? 'audio' : t.type === TrackType.VIDEO ? 'video' : 'data',
      muted: t.muted,
    })),
  };
}

class NotFound extends Error {}

export interface LiveKitSettings {
  /** ws(s):// URL apps connect to. */
  url: string;
  /** http(s):// URL of the server API; defaults to `url` with http(s). */
  apiUrl?: string;
  apiKey: string;
  apiSecret: string;
  /** One server-API call, from sending to the last byte of the answer. */
  timeoutMs: number;
  breaker?: Omit<Partial<OutboundBreakerOptions>, 'isProviderFailure'>;
}

/**
 * LiveKit over its server API (Twirp over HTTP, livekit-server-sdk). Each call is bounded by
 * `timeoutMs` (the SDK aborts its fetch; a timer backs that up) and goes through the outbound
 * circuit breaker: a stalled or dead SFU answers MediaServerUnavailable within the timeout, then
 * at once while the breaker is open. There are no retries here: the seat binder's reconcile
 * loop is the retry, and it re-reads the seat grid first, so it never applies a stale decision.
 */
export class LiveKitMediaServer implements MediaServer {
  readonly url: string;
  private readonly rooms: RoomServiceClient;
  private readonly webhooks: WebhookReceiver;
  private readonly breaker;

  constructor(private readonly settings: LiveKitSettings) {
    this.url = settings.url;
    const apiUrl = settings.apiUrl ?? settings.url.replace(/^ws/, 'http');
    this.rooms = new RoomServiceClient(apiUrl, settings.apiKey, settings.apiSecret, { requestTimeout: settings.timeoutMs / 1000, failover: false });
    this.webhooks = new WebhookReceiver(settings.apiKey, settings.apiSecret);
    this.breaker = outboundCircuitBreaker({ isProviderFailure: (err) => err instanceof MediaServerUnavailable, ...settings.breaker });
  }

  get circuitState() {
    return this.breaker.state;
  }

  async ensureRoom(roomId: string): Promise<void> {
    await this.call('createRoom', () => this.rooms.createRoom({ name: mediaRoomName(roomId) }));
  }

  async closeRoom(roomId: string): Promise<void> {
    await this.absentIfNotFound(this.call('deleteRoom', () => this.rooms.deleteRoom(mediaRoomName(roomId))));
  }

  async setPermissions(roomId: string, userId: string, grant: MediaGrant): Promise<'updated' | 'absent'> {
    const done = await this.absentIfNotFound(
      this.call('updateParticipant', () => this.rooms.updateParticipant(mediaRoomName(roomId), mediaIdentity(userId), { permission: toPermission(grant) })),
    );
    return done === 'absent' ? 'absent' : 'updated';
  }

  async removeParticipant(roomId: string, userId: string): Promise<'removed' | 'absent'> {
    const done = await this.absentIfNotFound(this.call('removeParticipant', () => this.rooms.removeParticipant(mediaRoomName(roomId), mediaIdentity(userId))));
    return done === 'absent' ? 'absent' : 'removed';
  }

  async listParticipants(roomId: string): Promise<MediaParticipant[]> {
    const found = await this.absentIfNotFound(this.call('listParticipants', () => this.rooms.listParticipants(mediaRoomName(roomId))));
    return found === 'absent' ? [] : found.map(toParticipant);
  }

  async listRooms(): Promise<string[]> {
    const rooms = await this.call('listRooms', () => this.rooms.listRooms());
    return rooms.map((r) => roomIdOfMediaRoom(r.name)).filter((id): id is string => id !== null);
  }

  async mintJoinToken(roomId: string, userId: string, grant: MediaGrant, ttlSeconds: number): Promise<{ token: string; expiresAt: number }> {
    const at = new AccessToken(this.settings.apiKey, this.settings.apiSecret, { identity: mediaIdentity(userId), ttl: ttlSeconds });
    const permission = toPermission(grant);
    at.addGrant({
      roomJoin: true,
      room: mediaRoomName(roomId),
      canSubscribe: permission.canSubscribe,
      canPublish: permission.canPublish,
      canPublishData: permission.canPublishData,
      canPublishSources: permission.canPublishSources,
      canUpdateOwnMetadata: false,
    });
    const expiresAt = Date.now() + ttlSeconds * 1000;
    return { token: await at.toJwt(), expiresAt };
  }

  async verifyWebhook(rawBody: string, authorization: string | undefined): Promise<MediaWebhookEvent> {
    if (!authorization) throw new MediaWebhookRejected('the webhook carries no signature');
    let event;
    try {
      event = await this.webhooks.receive(rawBody, authorization);
    } catch (err) {
      throw new MediaWebhookRejected(`the webhook is not signed by our media server: ${(err as Error).message}`);
    }
    const participant = event.participant && event.participant.identity ? { userId: event.participant.identity, sid: event.participant.sid } : null;
    return {
      event: event.event,
      id: event.id,
      roomId: event.room ? roomIdOfMediaRoom(event.room.name) : null,
      participant,
      createdAt: Number(event.createdAt) * 1000,
    };
  }

  /** 'absent' for a room or participant the server doesn't have. */
  private async absentIfNotFound<T>(call: Promise<T>): Promise<T | 'absent'> {
    try {
      return await call;
    } catch (err) {
      if (err instanceof NotFound) return 'absent';
      throw err;
    }
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.breaker.execute(() => this.attempt(what, fn));
    } catch (err) {
      if (err instanceof BrokenCircuitError) throw new MediaServerUnavailable(`media server circuit is open (${what} not sent)`);
      throw err;
    }
  }

  /** One bounded attempt, its failure classified: absent, transient (counts against the breaker) or a refusal. */
  private async attempt<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new MediaServerUnavailable(`media server did not answer ${what} within ${this.settings.timeoutMs} ms`)), this.settings.timeoutMs + 50);
    });
    try {
      return await Promise.race([fn(), deadline]);
    } catch (err) {
      if (err instanceof MediaServerUnavailable) throw err;
      if (err instanceof TwirpError) {
        if (err.status === 404) throw new NotFound(err.message);
        if (err.status >= 500 || err.status === 429) throw new MediaServerUnavailable(`media server answered ${what} with ${err.status}`);
        throw new MediaServerRefused(`media server refused ${what}: ${err.status} ${err.code ?? ''} ${err.message}`, err.status);
      }
      const name = (err as Error | null)?.name;
      const why = name === 'TimeoutError' || name === 'AbortError' ? `did not answer ${what} within ${this.settings.timeoutMs} ms` : `unreachable for ${what}: ${(err as Error).message}`;
      throw new MediaServerUnavailable(`media server ${why}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The media server configured for this process, or null (LIVEKIT_URL unset: rooms work silent). */
export function mediaServerFromConfig(config: Config): LiveKitMediaServer | null {
  if (!config.LIVEKIT_URL) return null;
  return new LiveKitMediaServer({
    url: config.LIVEKIT_URL,
    apiUrl: config.LIVEKIT_API_URL,
    apiKey: config.LIVEKIT_API_KEY,
    apiSecret: config.LIVEKIT_API_SECRET,
    timeoutMs: config.LIVEKIT_TIMEOUT_MS,
  });
}
