import type { HistogramData } from '../realtime/stats';

/** What the orchestrator (run.ts) and its load processes (sender.ts) say to each other. */

/** One request a client can make; `body` is sent as JSON. */
export interface LoadTask {
  method: 'GET' | 'POST';
  path: string;
  token?: string;
  body?: string;
}

export interface LoadCommand {
  type: 'run';
  baseUrl: string;
  tasks: LoadTask[];
  /** true: each task is made once (first claims of distinct users), the phase ends early when they run out. */
  once: boolean;
  /** Requests in flight at once (closed loop: the next one leaves when one answers). */
  concurrency: number;
  /** Send an `Idempotency-Key: <uuid>` header with each request. */
  idempotencyKey: boolean;
  /** The status that counts as success (201 for a send, 200 for a claim). */
  okStatus: number;
  /** Epoch ms (high-resolution): before `measureFrom` is warm-up; nothing is sent after `measureUntil`. */
  measureFrom: number;
  measureUntil: number;
  /** Keep, for each measured success, the response's `sendId` and when the request left (epoch ms). */
  recordSendTimes: boolean;
}

export interface LoadReport {
  type: 'done';
  /** Requests answered in the measured window, by status (and `transport` for a socket error). */
  statuses: Record<string, number>;
  /** Error codes of refusals in the measured window. */
  errorCodes: Record<string, number>;
  ok: number;
  latency: HistogramData;
  /** The measured window as this process saw it (ms) and whether the tasks ran out in it. */
  windowMs: number;
  exhausted: boolean;
  warmupRequests: number;
  /** [sendId, epoch ms the request left] of measured successes (recordSendTimes only). */
  sendTimes: [string, number][];
}
