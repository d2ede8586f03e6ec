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
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

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
