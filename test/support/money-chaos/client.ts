/**
 * How a mobile client talks to the API when money is at stake: a request that fails with a
 * network error, a 5xx, a 429, an "in flight" 409 or a 202 ("still working on it") is sent again
 * with the SAME Idempotency-Key and body (or the same purchase token) until it gets a definitive
 * answer. Requests go to any API process that is up, like a load balancer would send them.
 */
export interface Reply {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; details?: Record<string, unknown> } };
  replayed: boolean;
  /** What each attempt met, for a failure's message: `<api> <status>` or `<api> network`. */
  trail?: string[];
}

export interface AttemptStats {
  /** HTTP attempts, definitive or not. */
  attempts: number;
  networkErrors: number;
  serverErrors: number;
  inFlight: number;
  pending: number;
  rateLimited: number;
}

export interface MoneyRequest {
  token: string;
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  idempotencyKey?: string;
}

const REQUEST_TIMEOUT_MS = 20_000;
/** A request that never gets a definitive answer within this fails the test (it should not happen). */
const GIVE_UP_MS = 120_000;

export class ChaosClient {
  readonly stats: AttemptStats = { attempts: 0, networkErrors: 0, serverErrors: 0, inFlight: 0, pending: 0, rateLimited: 0 };

  constructor(
    private readonly apis: () => string[],
    private readonly pickIndex: (n: number) => number,
  ) {}

  /** One attempt: any answer, or null for a network error. */
  async once(req: MoneyRequest, trail: string[] = []): Promise<Reply | null> {
    const urls = this.apis();
    const base = urls[this.pickIndex(urls.length)]!;
    const at = `${Date.now() % 1_000_000} ${base.slice(-5)}`;
    this.stats.attempts += 1;
    try {
      const res = await fetch(`${base}/v1${req.path}`, {
        method: req.method,
        headers: {
          authorization: `Bearer ${req.token}`,
          ...(req.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(req.idempotencyKey ? { 'idempotency-key': req.idempotencyKey } : {}),
        },
        ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await res.text();
      let body: Reply['body'] = {};
      if (text) {
        try {
          body = JSON.parse(text) as Reply['body'];
        } catch {
          // A half-written body from a process that died mid-answer: a network error.
          this.stats.networkErrors += 1;
          trail.push(`${at} torn`);
          return null;
        }
      }
      trail.push(`${at} ${res.status}${res.headers.get('idempotent-replayed') === 'true' ? ' replayed' : ''}`);
      return { status: res.status, body, replayed: res.headers.get('idempotent-replayed') === 'true', trail };
    } catch {
      this.stats.networkErrors += 1;
      trail.push(`${at} network`);
      return null;
    }
  }

  /** Sends until the answer is definitive; returns it. */
  async definitive(req: MoneyRequest): Promise<Reply> {
    const started = Date.now();
    const trail: string[] = [];
    for (let attempt = 0; ; attempt++) {
      const reply = await this.once(req, trail);
      if (reply && isDefinitive(reply)) return reply;
      if (reply) {
        if (reply.status >= 500) this.stats.serverErrors += 1;
        else if (reply.status === 202) this.stats.pending += 1;
        else if (reply.status === 429) this.stats.rateLimited += 1;
        else this.stats.inFlight += 1;
      }
      if (Date.now() - started > GIVE_UP_MS) {
        throw new Error(`${req.method} ${req.path} got no definitive answer in ${GIVE_UP_MS} ms (last: ${reply ? `${reply.status} ${JSON.stringify(reply.body)}` : 'network error'})`);
      }
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** Math.min(attempt, 5), 1_000)));
    }
  }
}

export function isDefinitive(reply: Reply): boolean {
  if (reply.status >= 500 || reply.status === 429 || reply.status === 202) return false;
  if (reply.status === 409 && reply.body.error?.code === 'IDEMPOTENCY_KEY_IN_FLIGHT') return false;
  return true;
}

export const errorCode = (reply: Reply): string | undefined => reply.body.error?.code;
