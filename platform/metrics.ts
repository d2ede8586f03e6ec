import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

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
