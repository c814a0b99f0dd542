import { describe, expect, it } from 'vitest';
import { addedLatency, cpuMsPer1k, percentile } from '../../bench/lib/sidecar.js';

describe('bench:sidecar arithmetic', () => {
  it('takes nearest-rank percentiles of sorted values', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 90)).toBe(90);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('subtracts the baseline per percentile, to the microsecond', () => {
    expect(addedLatency({ p50Ms: 0.5, p90Ms: 0.9, p99Ms: 2 }, { p50Ms: 0.7504, p90Ms: 1.2, p99Ms: 1.5 })).toEqual({ p50Ms: 0.25, p90Ms: 0.3, p99Ms: -0.5 });
  });

  it('turns clock ticks into CPU ms per 1,000 requests (= vCPU × 1000 at 1,000 rps)', () => {
    // 20 s of CPU (2,000 ticks at 100 Hz) over 100,000 requests: 200 ms per 1,000, i.e. 0.2 vCPU at 1,000 rps.
    expect(cpuMsPer1k(2000, 100, 100_000)).toBe(200);
    expect(cpuMsPer1k(5, 100, 0)).toBeNaN();
  });
});
