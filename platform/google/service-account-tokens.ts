import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { z } from 'zod';

export interface ServiceAccount {
  clientEmail: string;
  privateKeyPem: string;
}

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** A cached access token is renewed this long before Google says it expires. */
const RENEW_MARGIN_MS = 60_000;

const tokenAnswerSchema = z.object({ access_token: z.string().min(1), expires_in: z.number().positive(), token_type: z.string() });

/** The token endpoint failed, refused or did not answer: worth another attempt later. */
export class TokenEndpointError extends Error {
  override name = 'TokenEndpointError';
}

/**
 * OAuth 2.0 access tokens for a Google service account (RFC 7523 JWT-bearer grant): an RS256
 * assertion signed with the account's key is exchanged at the token endpoint (also the
 * assertion's audience) for a token, cached until a minute before it expires and shared by
 * concurrent callers. Neither the assertion nor a token ever appears in a message.
 */
export class ServiceAccountTokens {
  private readonly privateKey: KeyObject;
  private cached?: { value: string; renewAt: number };
  /** The one token request in flight, shared by the calls that need it. */
  private minting?: Promise<string>;

  constructor(
    private readonly settings: {
      serviceAccount: ServiceAccount;
      scope: string;
      tokenUrl?: string;
      /** One token request, from connecting to the last byte. */
      timeoutMs: number;
    },
  ) {
    // Parsed once: a malformed key fails at start, not at the first call.
    this.privateKey = createPrivateKey(settings.serviceAccount.privateKeyPem);
  }

  private get tokenUrl(): string {
    return this.settings.tokenUrl ?? GOOGLE_TOKEN_URL;
  }

  /** A cached access token, or a new one; waits no longer than `signal`. */
  async get(signal: AbortSignal): Promise<string> {
    if (this.cached && Date.now() < this.cached.renewAt) return this.cached.value;
    this.minting ??= this.mint().finally(() => (this.minting = undefined));
    try {
      return await untilAborted(this.minting, signal);
    } catch (err) {
      if (err instanceof TokenEndpointError || !signal.aborted) throw err;
      throw new TokenEndpointError('Google token endpoint did not answer in time');
    }
  }

  /** The API refused `token` (revoked or expired early): the next call mints a new one. */
  invalidate(token: string): void {
    if (this.cached?.value === token) this.cached = undefined;
  }

  /** Under its own timeout: the request is shared, so no one caller's signal may cut it. */
  private async mint(): Promise<string> {
    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    const iat = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ scope: this.settings.scope })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(this.settings.serviceAccount.clientEmail)
      .setAudience(this.tokenUrl)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3600)
      .sign(this.privateKey);
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
        signal: timeout,
      });
      text = await res.text();
    } catch (err) {
      throw new TokenEndpointError(timeout.aborted ? 'Google token endpoint did not answer in time' : `Google token endpoint unreachable: ${(err as Error).message}`);
    }
    const body = parseJson(text);
    if (!res.ok) {
      const error = (body as { error?: unknown } | undefined)?.error;
      throw new TokenEndpointError(`Google token endpoint answered ${res.status}${typeof error === 'string' ? ` (${error})` : ''}`);
    }
    const parsed = tokenAnswerSchema.safeParse(body);
    if (!parsed.success) throw new TokenEndpointError('Google token endpoint answered an unexpected body');
    this.cached = { value: parsed.data.access_token, renewAt: Date.now() + parsed.data.expires_in * 1000 - RENEW_MARGIN_MS };
    return parsed.data.access_token;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `promise`, or a rejection as soon as `signal` fires (the promise itself goes on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort)).catch(() => undefined);
  });
}
