import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Who a ticket stands for: the session that asked for it, bounded by its access token's expiry. */
export interface SocketTicketClaims {
  userId: string;
  sessionId: string;
  /** When the access token that asked for the ticket expires (ms); the socket ends then too. */
  expiresAt: number;
  deviceId: string | undefined;
}

const key = (ticket: string) => `aura:ws-ticket:${createHash('sha256').update(ticket).digest('hex')}`;
const TICKET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Short-lived, single-use tickets for opening a socket from a browser, which can't set an
 * Authorization header on a WebSocket and shouldn't put a long-lived token in a URL (URLs end
 * up in proxy logs and browser history). The API issues one to a bearer of a valid access
 * token; the edge redeems it once. Redis keeps only the ticket's hash, so a Redis dump can't
 * be replayed; GETDEL makes redeeming atomic, so two upgrades racing with one ticket can't
 * both win.
 */
export class SocketTickets {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
  ) {}

  get expiresIn(): number {
    return this.ttlSeconds;
  }

  async issue(claims: SocketTicketClaims): Promise<string> {
    const ticket = randomBytes(32).toString('base64url');
    await this.redis.set(key(ticket), JSON.stringify(claims), 'EX', this.ttlSeconds);
    return ticket;
  }

  /** The ticket's claims, once; null for an unknown, expired or already used ticket. */
  async redeem(ticket: string): Promise<SocketTicketClaims | null> {
    if (!TICKET_SHAPE.test(ticket)) return null;
    const stored = await this.redis.getdel(key(ticket));
    if (stored === null) return null;
    const claims = JSON.parse(stored) as SocketTicketClaims;
    return claims.expiresAt > Date.now() ? claims : null;
  }
}
