import type { HistogramData } from './stats';

/** What the orchestrator (run.ts) and its child processes say to each other over the IPC channel. */

export type ListenerCommand =
  | { type: 'connect'; host: string; port: number; room: string; tokens: string[]; concurrency: number; timeoutMs: number }
  | { type: 'step' }
  | { type: 'status' }
  | { type: 'report'; targetSeq: number }
  | { type: 'disconnect' }
  /** bench/gifts: start (or stop) keeping receipt times by the events' data.sendId, from empty. */
  | { type: 'track'; on: boolean; key?: string }
  /** bench/gifts: receipt − send time of every socket's event, for these [sendId, sent at] pairs. */
  | { type: 'sendLatency'; sendTimes: [string, number][] };

export interface ListenerReport {
  /** Room events (messages with "seq") received since the step began. */
  received: number;
  latency: HistogramData;
  /** Receive times (ms since the epoch, sub-ms precision) of the step's first and last event. */
  firstAt: number;
  lastAt: number;
  /** Open, joined sockets, and how many events they are missing up to targetSeq (gaps included). */
  open: number;
  lost: number;
  behind: number;
  duplicates: number;
  /** Close codes seen since the step began (4008 = the edge's backpressure guard). */
  closes: Record<string, number>;
}

export type ListenerReply =
  | { type: 'connected'; joined: number; failed: number; errors: string[]; ms: number }
  | { type: 'stepped' }
  | { type: 'status'; received: number; open: number; minSeq: number }
  | ({ type: 'report' } & ListenerReport)
  | { type: 'disconnected' }
  | { type: 'tracking' }
  | {
      type: 'sendLatency';
      /** By the room event's type (gift.sent, gift.combo): latencies over every socket, and the sends they cover. */
      byType: Record<string, { latency: HistogramData; sends: number }>;
      /** Sends no socket of this process saw an event for. */
      withoutEvent: number;
      /** Distinct sendIds seen in events. */
      eventsSeen: number;
    };

export type PublisherCommand = { type: 'run'; room: string; eventType: string; rate: number; durationMs: number; payloadBytes: number };

export type PublisherReply =
  | { type: 'ready' }
  | { type: 'done'; firstSeq: number; lastSeq: number; emitted: number; failed: number; wallMs: number; maxLagMs: number; eventBytes: number };
