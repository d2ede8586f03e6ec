import { CircuitState, circuitBreaker, handleWhen, type IBreaker } from 'cockatiel';

/**
 * Opens after `threshold` failures within `windowMs` (the spec: 5 failures in 10 s).
 * cockatiel's built-in breakers count consecutive failures or failure ratios, not this.
 */
export class WindowedFailureBreaker implements IBreaker {
  state: number[] = [];

  constructor(
    private readonly threshold: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  success(): void {
    // Successes don't erase recent failures: a flapping provider should still trip the breaker.
  }

  failure(circuit: CircuitState): boolean {
    const now = this.now();
    if (circuit === CircuitState.HalfOpen) {
      this.state = [now];
      return true; // the trial call failed: open again
    }
    this.state = [...this.state.filter((t) => now - t < this.windowMs), now];
    if (this.state.length >= this.threshold) {
      this.state = [];
      return true;
    }
    return false;
  }
}

export interface OutboundBreakerOptions {
  /** Which failures count against the provider (network errors, 5xx, 429), not refusals. */
  isProviderFailure: (err: Error) => boolean;
  breakerThreshold?: number;
  breakerWindowMs?: number;
  halfOpenAfterMs?: number;
}

/**
 * The spec's circuit breaker for calls to outside providers: it opens after 5 failures in 10 s
 * and lets a trial call through after 30 s; while open, calls fail fast without reaching the
 * provider. It does not retry: callers run inside a Temporal activity, and Temporal's activity
 * retry policy is the one retry layer (two layers would multiply attempts and let a client's
 * retries outlive the activity attempt that started them).
 */
export function outboundCircuitBreaker(options: OutboundBreakerOptions) {
  return circuitBreaker(handleWhen(options.isProviderFailure), {
    breaker: new WindowedFailureBreaker(options.breakerThreshold ?? 5, options.breakerWindowMs ?? 10_000),
    halfOpenAfter: options.halfOpenAfterMs ?? 30_000,
  });
}
