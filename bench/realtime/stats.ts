/**
 * Latency statistics that are cheap to record on every message and cheap to merge across
 * processes: a log-scale histogram with 1% wide buckets from 1 µs to several minutes.
 * A percentile read from it is within 1% of the exact value.
 */

const MIN_MS = 0.001;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
export const HISTOGRAM_BUCKETS = 2048; // 0.001 ms × 1.01^2047 ≈ 7 × 10^5 ms

export interface HistogramData {
  counts: number[];
  count: number;
  sumMs: number;
  minMs: number;
  maxMs: number;
}

export class Histogram {
  readonly counts = new Uint32Array(HISTOGRAM_BUCKETS);
  count = 0;
  sumMs = 0;
  minMs = Infinity;
  maxMs = -Infinity;

  record(ms: number): void {
    this.count++;
    this.sumMs += ms;
    if (ms < this.minMs) this.minMs = ms;
    if (ms > this.maxMs) this.maxMs = ms;
    // Clock skew between processes can make a tiny latency negative: it lands in bucket 0.
    let bucket = ms <= MIN_MS ? 0 : Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH) + 1;
    if (bucket >= HISTOGRAM_BUCKETS) bucket = HISTOGRAM_BUCKETS - 1;
    this.counts[bucket]!++;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sumMs = 0;
    this.minMs = Infinity;
    this.maxMs = -Infinity;
  }

  toJSON(): HistogramData {
    return { counts: Array.from(this.counts), count: this.count, sumMs: this.sumMs, minMs: this.minMs, maxMs: this.maxMs };
  }

  static merge(parts: HistogramData[]): Histogram {
    const out = new Histogram();
    for (const p of parts) {
      for (let i = 0; i < HISTOGRAM_BUCKETS; i++) out.counts[i]! += p.counts[i] ?? 0;
      out.count += p.count;
      out.sumMs += p.sumMs;
      if (p.count > 0) {
        out.minMs = Math.min(out.minMs, p.minMs);
        out.maxMs = Math.max(out.maxMs, p.maxMs);
      }
    }
    return out;
  }

  /** The value below which `p` (0..1) of the samples fall: the bucket's upper edge, capped at the max seen. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(p * this.count));
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const upper = i === 0 ? MIN_MS : MIN_MS * GROWTH ** i;
        return Math.max(this.minMs, Math.min(upper, this.maxMs));
      }
    }
    return this.maxMs;
  }

  mean(): number {
    return this.count === 0 ? NaN : this.sumMs / this.count;
  }
}

/** Exact percentile of a small list (e.g. per-step figures). */
export function percentileOf(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
