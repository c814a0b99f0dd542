/**
 * A latency histogram in the spirit of HdrHistogram: values in microseconds,
 * exact below 1024 µs, then 512 linear sub-buckets per power of two (relative
 * error under 0.2 %), up to about 2^31 µs (35 min). Fixed memory, O(1) record.
 */
const LINEAR = 1024;
const SUB = 512;
const SUB_BITS = 9; // log2(SUB)
const MAX_SHIFT = 22;

export class Histogram {
  private readonly counts = new Float64Array(LINEAR + MAX_SHIFT * SUB);
  private total = 0;
  private sum = 0;
  private minUs = Number.POSITIVE_INFINITY;
  private maxUs = 0;

  /** Records one value in microseconds (negative values count as 0). */
  record(us: number): void {
    const v = Math.max(0, Math.round(us));
    this.counts[indexOf(v)]! += 1;
    this.total += 1;
    this.sum += v;
    if (v < this.minUs) this.minUs = v;
    if (v > this.maxUs) this.maxUs = v;
  }

  recordMs(ms: number): void {
    this.record(ms * 1000);
  }

  merge(other: Histogram): void {
    for (let i = 0; i < this.counts.length; i += 1) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.sum += other.sum;
    this.minUs = Math.min(this.minUs, other.minUs);
    this.maxUs = Math.max(this.maxUs, other.maxUs);
  }

  get count(): number {
    return this.total;
  }

  /** The value (µs) at or below which `p` percent of the recorded values fall (upper edge of its bucket, capped at the max). */
  percentileUs(p: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i += 1) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperEdgeOf(i), this.maxUs);
    }
    return this.maxUs;
  }

  summaryMs(): LatencySummary {
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: this.total,
      meanMs: this.total === 0 ? Number.NaN : ms(this.sum / this.total),
      minMs: this.total === 0 ? Number.NaN : ms(this.minUs),
      p50Ms: ms(this.percentileUs(50)),
      p90Ms: ms(this.percentileUs(90)),
      p99Ms: ms(this.percentileUs(99)),
      p999Ms: ms(this.percentileUs(99.9)),
      maxMs: this.total === 0 ? Number.NaN : ms(this.maxUs),
    };
  }
}

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

function indexOf(v: number): number {
  if (v < LINEAR) return v;
  const shift = Math.min(MAX_SHIFT, Math.floor(Math.log2(v)) - SUB_BITS);
  const top = Math.min(SUB - 1, Math.floor(v / 2 ** shift) - SUB);
  return LINEAR + (shift - 1) * SUB + top;
}

function upperEdgeOf(index: number): number {
  if (index < LINEAR) return index;
  const shift = Math.floor((index - LINEAR) / SUB) + 1;
  const top = (index - LINEAR) % SUB;
  return (SUB + top + 1) * 2 ** shift - 1;
}

/** Median of a list of numbers (NaN when empty). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Least-squares line through (x, y): slope, intercept and r². */
export function linearFit(points: ReadonlyArray<readonly [number, number]>): { slope: number; intercept: number; r2: number } {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
    syy += (y - my) ** 2;
  }
  const slope = sxx === 0 ? Number.NaN : sxy / sxx;
  const r2 = sxx === 0 || syy === 0 ? Number.NaN : (sxy * sxy) / (sxx * syy);
  return { slope, intercept: my - slope * mx, r2 };
}
