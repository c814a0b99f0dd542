/**
 * A latency histogram with logarithmic buckets (1% relative width from 0.1 ms up), in the
 * spirit of HdrHistogram: constant memory per distinct bucket, percentiles within 1% of
 * the true value, cheap to merge. Exact count, sum, min and max are kept beside it.
 * The one histogram of the chaos load generator and the benchmarks.
 */
export class LatencyHistogram {
  /** Lower edge of the first bucket; everything at or below it lands in bucket 0. */
  static readonly floorMs = 0.1;
  /** Relative width of a bucket: a reported percentile is at most this much above the true value. */
  static readonly precision = 0.01;
  private static readonly logBase = Math.log1p(LatencyHistogram.precision);

  private readonly buckets = new Map<number, number>();
  private total = 0;
  private sum = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = 0;

  get count(): number {
    return this.total;
  }

  /** Smallest recorded value; undefined when empty. */
  get minMs(): number | undefined {
    return this.total === 0 ? undefined : this.min;
  }

  /** Largest recorded value; undefined when empty. */
  get maxMs(): number | undefined {
    return this.total === 0 ? undefined : this.max;
  }

  /** Arithmetic mean; undefined when empty. */
  get meanMs(): number | undefined {
    return this.total === 0 ? undefined : this.sum / this.total;
  }

  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`a latency must be a finite, non-negative number of milliseconds (got ${ms})`);
    const index = LatencyHistogram.bucketOf(ms);
    this.buckets.set(index, (this.buckets.get(index) ?? 0) + 1);
    this.total += 1;
    this.sum += ms;
    this.min = Math.min(this.min, ms);
    this.max = Math.max(this.max, ms);
  }

  /**
   * The value below which `p` percent of the recorded values fall (nearest rank), as the
   * upper edge of its bucket, clamped to the recorded min and max (so p0 and p100 are exact).
   * Undefined when nothing was recorded.
   */
  percentile(p: number): number | undefined {
    if (!(p >= 0 && p <= 100)) throw new Error(`a percentile is between 0 and 100 (got ${p})`);
    if (this.total === 0) return undefined;
    if (p === 0) return this.min;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (const index of [...this.buckets.keys()].sort((a, b) => a - b)) {
      seen += this.buckets.get(index) ?? 0;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, LatencyHistogram.upperEdge(index)));
    }
    return this.max;
  }

  /** Adds every value of `other` to this histogram. */
  add(other: LatencyHistogram): this {
    for (const [index, n] of other.buckets) this.buckets.set(index, (this.buckets.get(index) ?? 0) + n);
    this.total += other.total;
    this.sum += other.sum;
    if (other.total > 0) {
      this.min = Math.min(this.min, other.min);
      this.max = Math.max(this.max, other.max);
    }
    return this;
  }

  /** Buckets as `[upper edge in ms, count]`, ascending: for JSON reports and plots. */
  toBuckets(): [number, number][] {
    return [...this.buckets.entries()].sort(([a], [b]) => a - b).map(([index, n]) => [round(LatencyHistogram.upperEdge(index)), n]);
  }

  /** The figures a benchmark reports, in ms rounded to the µs; NaN when empty (JSON writes null). */
  summary(): LatencySummary {
    const ms = (value: number | undefined) => (value === undefined ? Number.NaN : round(value));
    return {
      count: this.total,
      meanMs: ms(this.meanMs),
      minMs: ms(this.minMs),
      p50Ms: ms(this.percentile(50)),
      p90Ms: ms(this.percentile(90)),
      p99Ms: ms(this.percentile(99)),
      p999Ms: ms(this.percentile(99.9)),
      maxMs: ms(this.maxMs),
    };
  }

  static merge(histograms: readonly LatencyHistogram[]): LatencyHistogram {
    const merged = new LatencyHistogram();
    for (const h of histograms) merged.add(h);
    return merged;
  }

  private static bucketOf(ms: number): number {
    if (ms <= LatencyHistogram.floorMs) return 0;
    return Math.ceil(Math.log(ms / LatencyHistogram.floorMs) / LatencyHistogram.logBase);
  }

  private static upperEdge(index: number): number {
    return LatencyHistogram.floorMs * Math.exp(index * LatencyHistogram.logBase);
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

export interface LatencySummary {
  readonly count: number;
  readonly meanMs: number;
  readonly minMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}
