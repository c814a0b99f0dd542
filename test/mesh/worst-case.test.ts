import { Duration, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { ResiliencePolicy, routeTiming } from '../../mesh/resilience-policy.js';
import { Retry } from '../../mesh/retry.js';
import { Route } from '../../mesh/route.js';
import { backoffBoundMs, triesCost, worstCase } from '../../mesh/worst-case.js';
import * as timing from '../../analysis/resilience-timing.js';

const policy = (route: Route) => new ResiliencePolicy(Testing.chart(), 'policy', { service: 'payment', port: 8080, replicas: 2, routes: [route] });

describe("one model of a route's worst case (mesh/worst-case.ts)", () => {
  it("bounds Envoy's jittered exponential backoff by (2^n - 1) x base per retry, capped at 10 x base (25ms base: 25, 75, 175, 250, 250)", () => {
    expect([1, 2, 3, 4, 5].map((attempts) => backoffBoundMs({ attempts, backoffMs: 25 }))).toEqual([25, 100, 275, 525, 775]);
    expect(backoffBoundMs({ attempts: 0, backoffMs: 25 })).toBe(0);
  });

  it('is the very functions the analyzer uses', () => {
    expect(timing.worstCase).toBe(worstCase);
    expect(timing.backoffBoundMs).toBe(backoffBoundMs);
  });

  it('validation rejects a route whose tries fit the timeout only without backoff (the 775ms the analyzer added and validation ignored)', () => {
    // 6 tries x 500ms = 3s fits a 3s timeout; with 5 retries Envoy may wait 775ms more between them.
    const route = Route.idempotentWrite('POST', '/charges', {
      keyHeader: 'idempotency-key',
      timeout: Duration.seconds(3),
      retry: Retry.onTransientErrors({ attempts: 5, perTryTimeout: Duration.millis(500) }),
    });
    expect(triesCost(routeTiming(route), Infinity)).toMatchObject({ ms: 3775, backoffMs: 775 });
    expect(worstCase(routeTiming(route), Infinity).explanation).toBe('the 3s timeout (6 tries x 500ms + 775ms backoff would be longer)');
    expect(() => policy(route)).toThrow(
      "'perTryTimeout' (500ms) x tries (6) + backoff (up to 775ms) = 3.775s exceeds 'timeout' (3s), so the last retries are cut off: raise timeout or lower attempts",
    );
  });

  it('validation accepts exactly what the analyzer finds within the timeout', () => {
    const fits = Route.read('/charges', { timeout: Duration.seconds(1), retry: Retry.onGatewayErrors({ attempts: 2, perTryTimeout: Duration.millis(300) }) });
    expect(worstCase(routeTiming(fits), Infinity)).toEqual({ ms: 1000, explanation: '3 tries x 300ms + 100ms backoff' });
    expect(() => policy(fits)).not.toThrow();
    const over = Route.read('/charges', { timeout: Duration.seconds(1), retry: Retry.onGatewayErrors({ attempts: 2, perTryTimeout: Duration.millis(301) }) });
    expect(() => policy(over)).toThrow("= 1.003s exceeds 'timeout' (1s)");
  });

  it('a default perTryTimeout leaves room for the backoff, so the default split always validates', () => {
    const route = Route.read('/charges', { timeout: Duration.seconds(2), retry: Retry.onGatewayErrors({ attempts: 3 }) });
    // (2000 - 275) / 4 = 431ms per try: 4 x 431 + 275 = 1999 <= 2000.
    expect(route.perTryTimeout.toMilliseconds()).toBe(431);
    expect(() => policy(route)).not.toThrow();
  });
});
