import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** One Prometheus registry per process, scraped at /metrics. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    /** Alert on a spike: brute force or a broken client. */
    signInFailures: new Counter({
      name: 'aura_sign_in_failures_total',
      help: 'Failed sign-in attempts by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    ...createGiftMetrics(registry),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Gifting anti-fraud counters. The API's registry has them (refusals happen in the send path,
 * reviews in the staff routes); a worker that runs the fraud scan registers its own.
 */
export function createGiftMetrics(registry: Registry) {
  return {
    /** Sends refused by a rule (caps, coins owed, region, ...), by error code. */
    giftRefusals: new Counter({
      name: 'aura_gift_refusals_total',
      help: 'Gift sends refused, by error code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    /** New anti-fraud flags opened by the scan (a re-scan adding receipts to an open flag is not counted). */
    giftFraudFlags: new Counter({
      name: 'aura_gift_fraud_flags_total',
      help: 'Gift anti-fraud flags opened, by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    giftFraudReviews: new Counter({
      name: 'aura_gift_fraud_reviews_total',
      help: 'Gift anti-fraud flags reviewed by staff, by decision',
      labelNames: ['decision'] as const,
      registers: [registry],
    }),
  };
}

export type GiftMetrics = ReturnType<typeof createGiftMetrics>;

/** For the send path: counts one refused gift by its stable error code. */
export function countGiftRefusal(metrics: Pick<GiftMetrics, 'giftRefusals'>, code: string): void {
  metrics.giftRefusals.inc({ code });
}

/** The realtime edge's own registry, scraped at the edge's /metrics. */
export function createRealtimeMetrics(live: { connections(): number; rooms(): number }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({ name: 'aura_ws_connections', help: 'Open sockets on this edge', registers: [registry], collect() { this.set(live.connections()); } });
  new Gauge({ name: 'aura_ws_room_feeds', help: 'Rooms with at least one socket on this edge', registers: [registry], collect() { this.set(live.rooms()); } });
  return {
    registry,
    roomEvents: new Counter({ name: 'aura_ws_room_events_total', help: 'Room events this edge received from Redis and fanned out', registers: [registry] }),
    closes: new Counter({ name: 'aura_ws_closes_total', help: 'Sockets the edge closed, by close code', labelNames: ['code'] as const, registers: [registry] }),
    resumes: new Counter({ name: 'aura_ws_resumes_total', help: 'Resume requests, by whether the missed events were still kept', labelNames: ['recovered'] as const, registers: [registry] }),
    commands: new Counter({ name: 'aura_ws_commands_total', help: 'Client commands, by type and outcome (ok or an error code)', labelNames: ['type', 'outcome'] as const, registers: [registry] }),
  };
}

export type RealtimeMetrics = ReturnType<typeof createRealtimeMetrics>;

/**
 * The worker's registry: what its activities count (the anti-fraud scan's new flags), scraped at
 * the worker's own /metrics when WORKER_METRICS_PORT is set.
 */
export function createWorkerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return { registry, ...createGiftMetrics(registry) };
}
