import {
  CircuitState,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  noJitterGenerator,
  retry,
  wrap,
  type IBreaker,
} from 'cockatiel';

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

export interface OutboundPolicyOptions {
  /** Which failures are worth retrying (network errors, 5xx, 429), not refusals. */
  isTransient: (err: Error) => boolean;
  retryDelaysMs?: [number, number, number];
  breakerThreshold?: number;
  breakerWindowMs?: number;
  halfOpenAfterMs?: number;
}

/**
 * The spec's policy for calls to outside providers: 3 retries at 1 s, 2 s and 4 s, inside a
 * circuit breaker that opens after 5 failures in 10 s and lets a trial call through after 30 s.
 * Each attempt counts toward the breaker; an open breaker fails fast and is not retried.
 */
export function outboundCallPolicy(options: OutboundPolicyOptions) {
  const [first, , last] = options.retryDelaysMs ?? [1_000, 2_000, 4_000];
  const breaker = circuitBreaker(handleWhen(options.isTransient), {
    breaker: new WindowedFailureBreaker(options.breakerThreshold ?? 5, options.breakerWindowMs ?? 10_000),
    halfOpenAfter: options.halfOpenAfterMs ?? 30_000,
  });
  const retries = retry(handleWhen(options.isTransient), {
    maxAttempts: 3,
    backoff: new ExponentialBackoff({ initialDelay: first, maxDelay: last, exponent: 2, generator: noJitterGenerator }),
  });
  return Object.assign(wrap(retries, breaker), { breaker });
}
