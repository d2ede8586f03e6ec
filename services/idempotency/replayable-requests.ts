import { createHash } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '../../domain/errors';

/** A response as it is kept and replayed. */
export interface StoredResponse {
  status: number;
  body: unknown;
}

export interface ReplayableRequest {
  userId: string;
  /** The client's Idempotency-Key header. */
  key: string;
  /** What the request asked for: two requests under one key must agree (see `fingerprint`). */
  fingerprint: string;
}

/**
 * The Idempotency-Key header with Stripe's semantics, for requests that move money:
 *  - the same key and the same request answers the first response again and applies nothing a
 *    second time;
 *  - the same key with another request is refused (IDEMPOTENCY_KEY_REUSED);
 *  - a key whose first request is still running is refused (IDEMPOTENCY_KEY_IN_FLIGHT), never
 *    waited on.
 * The key is recorded in the transaction of the effect itself, so a crash can leave neither a
 * key without its effect nor an effect without its key: unlike a separate "in flight" row,
 * nothing has to be recovered after a crash. In-flight detection is a transaction-scoped
 * advisory lock on the key, released by the commit or the rollback.
 * A refusal (not enough coins, a receiver who left) keeps nothing, like any bad request: the
 * same key may be retried once the reason is gone. Stripe replays refusals too; we don't, so
 * that a refused request changes nothing at all.
 */
export class ReplayableRequests {
  constructor(private readonly dataSource: DataSource) {}

  async run(
    request: ReplayableRequest,
    work: (tx: EntityManager) => Promise<StoredResponse>,
  ): Promise<StoredResponse & { replayed: boolean }> {
    return this.dataSource.transaction(async (tx) => {
      // One round trip: the request's earlier answer, if any, and the key's lock.
      const [row] = (await tx.query(
        `SELECT (SELECT json_build_object('hash', request_hash, 'status', status_code, 'response', response)
                   FROM idempotent_requests WHERE user_id = $2 AND key = $3) AS prior,
                pg_try_advisory_xact_lock(hashtextextended($1, 7)) AS locked`,
        [`${request.userId}:${request.key}`, request.userId, request.key],
      )) as { prior: Prior | null; locked: boolean }[];
      if (row?.prior) return answerOf(row.prior, request);
      if (!row?.locked) {
        throw new AppError(ErrorCode.IdempotencyKeyInFlight, 'a request with this Idempotency-Key is still being processed; retry it shortly');
      }

      const response = await work(tx);
      await tx.query(
        `INSERT INTO idempotent_requests (user_id, key, request_hash, status_code, response) VALUES ($1, $2, $3, $4, $5)`,
        [request.userId, request.key, request.fingerprint, response.status, JSON.stringify(response.body)],
      );
      return { ...response, replayed: false };
    });
  }

  /**
   * The answer kept for this key, if its request ran before (without waiting for a lock): for a
   * caller that found a reason to refuse before opening its transaction, since a replay must get
   * the first answer even when that reason (a receiver who left) is new.
   */
  async earlierAnswer(request: ReplayableRequest): Promise<(StoredResponse & { replayed: true }) | null> {
    const rows = (await this.dataSource.query(
      `SELECT json_build_object('hash', request_hash, 'status', status_code, 'response', response) AS prior
         FROM idempotent_requests WHERE user_id = $1 AND key = $2`,
      [request.userId, request.key],
    )) as { prior: Prior }[];
    return rows[0] ? answerOf(rows[0].prior, request) : null;
  }
}

interface Prior {
  hash: string;
  status: number;
  response: unknown;
}

function answerOf(prior: Prior, request: ReplayableRequest): StoredResponse & { replayed: true } {
  if (prior.hash !== request.fingerprint) {
    throw new AppError(ErrorCode.IdempotencyKeyReused, 'this Idempotency-Key was used for a different request');
  }
  return { status: prior.status, body: prior.response, replayed: true };
}

/** SHA-256 of the operation and its canonical input (object keys sorted). */
export function fingerprint(operation: string, input: unknown): string {
  return createHash('sha256').update(operation).update('\n').update(canonicalJson(input)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}
