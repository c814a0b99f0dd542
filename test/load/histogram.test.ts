import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../load/histogram.js';

/** Exact nearest-rank percentile of a list, to compare against. */
function exact(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('LatencyHistogram', () => {
  it('answers percentiles within 1% of the exact value over six orders of magnitude', () => {
    const values: number[] = [];
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let i = 0; i < 20_000; i++) values.push(0.2 * Math.exp(random() * Math.log(500_000)));
    const h = new LatencyHistogram();
    for (const v of values) h.record(v);
    for (const p of [1, 10, 50, 90, 99, 99.9]) {
      const want = exact(values, p);
      const got = h.percentile(p)!;
      expect(got, `p${p}`).toBeGreaterThanOrEqual(want * 0.999);
      expect(got, `p${p}`).toBeLessThanOrEqual(want * 1.011);
    }
  });

  it('reports min and max exactly as p0 and p100, and count, mean', () => {
    const h = new LatencyHistogram();
    for (const v of [12.5, 3, 480, 7]) h.record(v);
    expect(h.percentile(0)).toBe(3);
    expect(h.percentile(100)).toBe(480);
    expect({ count: h.count, min: h.minMs, max: h.maxMs, mean: h.meanMs }).toEqual({ count: 4, min: 3, max: 480, mean: 125.625 });
  });

  it('has no percentile, min, max or mean when empty', () => {
    const h = new LatencyHistogram();
    expect([h.percentile(50), h.minMs, h.maxMs, h.meanMs, h.count]).toEqual([undefined, undefined, undefined, undefined, 0]);
  });

  it('puts values at or below 0.1 ms into the first bucket and still reports them exactly at the extremes', () => {
    const h = new LatencyHistogram();
    h.record(0);
    h.record(0.05);
    expect(h.toBuckets()).toEqual([[0.1, 2]]);
    expect(h.percentile(100)).toBe(0.05);
  });

  it('merges to exactly what recording everything into one gives', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    const all = new LatencyHistogram();
    for (let i = 1; i <= 500; i++) {
      (i % 3 === 0 ? a : b).record(i * 1.7);
      all.record(i * 1.7);
    }
    const merged = LatencyHistogram.merge([a, b]);
    expect(merged.toBuckets()).toEqual(all.toBuckets());
    expect([merged.count, merged.minMs, merged.maxMs, merged.percentile(99)]).toEqual([all.count, all.minMs, all.maxMs, all.percentile(99)]);
  });

  it('summarizes for a benchmark: exact count, mean, min and max, percentiles within 1%, NaN when empty', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i);
    const s = h.summary();
    expect([s.count, s.meanMs, s.minMs, s.maxMs]).toEqual([1000, 500.5, 1, 1000]);
    for (const [reported, exact] of [
      [s.p50Ms, 500],
      [s.p90Ms, 900],
      [s.p99Ms, 990],
      [s.p999Ms, 999],
    ] as const) {
      expect(reported).toBeGreaterThanOrEqual(exact);
      expect(reported).toBeLessThanOrEqual(exact * 1.01);
    }
    expect(Object.values(new LatencyHistogram().summary())).toEqual([0, Number.NaN, Number.NaN, Number.NaN, Number.NaN, Number.NaN, Number.NaN, Number.NaN]);
  });

  it('refuses negative or non-finite latencies and percentiles out of range', () => {
    const h = new LatencyHistogram();
    expect(() => h.record(-1)).toThrow('a latency must be a finite, non-negative number of milliseconds (got -1)');
    expect(() => h.record(Number.NaN)).toThrow('(got NaN)');
    expect(() => h.percentile(101)).toThrow('a percentile is between 0 and 100 (got 101)');
  });
});
