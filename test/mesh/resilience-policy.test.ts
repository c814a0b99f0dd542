import { Duration, Testing, type Chart } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { ResiliencePolicy, type ResiliencePolicyProps } from '../../mesh/resilience-policy.js';
import { Retry } from '../../mesh/retry.js';
import { Route } from '../../mesh/route.js';
import { find, synth } from '../support/manifests.js';

function policy(props: Partial<ResiliencePolicyProps> = {}) {
  const chart = Testing.chart();
  new ResiliencePolicy(chart, 'payment', {
    service: 'payment',
    namespace: 'shop',
    port: 8080,
    replicas: 2,
    routes: [Route.idempotentWrite('POST', '/charges', { keyHeader: 'Idempotency-Key' }), Route.read('/charges/{id}')],
    ...props,
  });
  return synth(chart);
}

describe('ResiliencePolicy', () => {
  it('renders one VirtualService route per operation plus a conservative fallback, in order', () => {
    const vs = find(policy(), 'VirtualService', 'payment');
    expect(vs.apiVersion).toBe('networking.istio.io/v1');
    expect(vs.spec.hosts).toEqual(['payment.shop.svc.cluster.local']);
    expect(vs.spec.http.map((r: { name: string }) => r.name)).toEqual(['post-charges', 'get-charges-id', 'fallback']);
  });

  it('retries an idempotent write only when the request carries its idempotency key', () => {
    const vs = find(policy(), 'VirtualService', 'payment');
    expect(vs.spec.http[0]).toMatchObject({
      match: [{ method: { exact: 'POST' }, uri: { exact: '/charges' }, headers: { 'idempotency-key': { regex: '.+' } } }],
      timeout: '3s',
      retries: { attempts: 2, perTryTimeout: '0.9s', retryOn: 'gateway-error,connect-failure,refused-stream,reset' },
    });
  });

  it('matches path templates with an anchored regex', () => {
    const vs = find(policy(), 'VirtualService', 'payment');
    expect(vs.spec.http[1].match).toEqual([
      { method: { exact: 'GET' }, uri: { regex: '^/charges/[^/]+$' } },
      { method: { exact: 'HEAD' }, uri: { regex: '^/charges/[^/]+$' } },
    ]);
  });

  it('sends requests matching no operation through a fallback that never re-sends a request that reached the app', () => {
    const vs = find(policy(), 'VirtualService', 'payment');
    const fallback = vs.spec.http[2];
    expect(fallback.match).toBeUndefined();
    expect(fallback.retries.retryOn).toBe('connect-failure,refused-stream,reset-before-request');
  });

  /** A payment policy declaring only GET /charges/{id}, for routes added after construction. */
  const chargeReads = (chart: Chart) =>
    new ResiliencePolicy(chart, 'payment', { service: 'payment', namespace: 'shop', port: 8080, replicas: 2, routes: [Route.read('/charges/{id}')] });

  it('renders routes added after construction, after the declared ones and before the fallback', () => {
    const chart = Testing.chart();
    const payment = chargeReads(chart);
    const refund = Route.idempotentWrite('POST', '/charges/{id}/refund', { keyHeader: 'Idempotency-Key' });
    payment.addRoute(refund);
    expect(payment.routes).toEqual([payment.routes[0], refund]);
    const vs = find(synth(chart), 'VirtualService', 'payment');
    expect(vs.spec.http.map((r: { name: string }) => r.name)).toEqual(['get-charges-id', 'post-charges-id-refund', 'fallback']);
    expect(vs.spec.http[1]).toMatchObject({
      match: [{ method: { exact: 'POST' }, uri: { regex: '^/charges/[^/]+/refund$' }, headers: { 'idempotency-key': { regex: '.+' } } }],
      retries: { attempts: 2, perTryTimeout: '0.9s' },
    });
  });

  it('refuses a bad route at the addRoute call that adds it, naming the prop, value and fix', () => {
    const chart = Testing.chart();
    const payment = chargeReads(chart);
    const unsafe = Route.write('POST', '/charges', { retry: Retry.onGatewayErrors() });
    expect(() => payment.addRoute(unsafe)).toThrow(
      "ResiliencePolicy 'payment': addRoute(POST /charges): invalid props\n  - route 'POST /charges': 'retry' retries on gateway-error,reset but the route is not idempotent, so a retry can apply the write twice: use Retry.onConnectFailure(), or make it Route.idempotentWrite with a keyHeader the service deduplicates on",
    );
    expect(() => payment.addRoute(Route.read('/charges/{id}'))).toThrow("route 'GET|HEAD /charges/{id}' is declared twice: remove one of them");
    expect(payment.routes.map((r) => r.description)).toEqual(['GET|HEAD /charges/{id}']);
    expect(find(synth(chart), 'VirtualService', 'payment').spec.http.map((r: { name: string }) => r.name)).toEqual(['get-charges-id', 'fallback']);
  });

  it('renders Retry.none() as attempts 0, which switches off Istio default retries', () => {
    const vs = find(policy({ routes: [Route.write('POST', '/charges', { retry: Retry.none() })] }), 'VirtualService', 'payment');
    expect(vs.spec.http[0].retries).toEqual({ attempts: 0 });
  });

  it('renders a DestinationRule with subset, connection pool, outlier detection and retry budget', () => {
    const dr = find(policy(), 'DestinationRule', 'payment');
    expect(dr.spec).toMatchObject({
      host: 'payment.shop.svc.cluster.local',
      subsets: [{ name: 'v1', labels: { version: 'v1' } }],
      trafficPolicy: {
        connectionPool: {
          // Two replicas: 16 connections, 8 pending and 24 requests each.
          tcp: { maxConnections: 32, connectTimeout: '0.5s' },
          http: { http1MaxPendingRequests: 16, http2MaxRequests: 48, maxRetries: 16, idleTimeout: '30s' },
        },
        outlierDetection: { consecutive5xxErrors: 3, interval: '5s', baseEjectionTime: '30s', maxEjectionPercent: 50 },
        retryBudget: { percent: 20, minRetryConcurrency: 3 },
      },
    });
  });

  it('sizes the connection pool by default from the replicas', () => {
    const dr = find(policy({ replicas: 4 }), 'DestinationRule', 'payment');
    expect(dr.spec.trafficPolicy.connectionPool).toMatchObject({ tcp: { maxConnections: 64 }, http: { http1MaxPendingRequests: 32, http2MaxRequests: 96 } });
  });

  it('sizes maxEjectionPercent by default so that exactly one pod always keeps serving', () => {
    const dr = find(policy({ replicas: 4 }), 'DestinationRule', 'payment');
    expect(dr.spec.trafficPolicy.outlierDetection.maxEjectionPercent).toBe(75);
  });

  it('leaves the retry budget out when asked', () => {
    const dr = find(policy({ retryBudget: false }), 'DestinationRule', 'payment');
    expect(dr.spec.trafficPolicy.retryBudget).toBeUndefined();
  });

  it('renders outlier detection changed after construction, keeping the fields it does not name', () => {
    const chart = Testing.chart();
    const payment = chargeReads(chart);
    payment.configureOutlierDetection({ consecutive5xxErrors: 5, baseEjectionTime: Duration.seconds(10) });
    const dr = find(synth(chart), 'DestinationRule', 'payment');
    expect(dr.spec.trafficPolicy.outlierDetection).toEqual({ consecutive5xxErrors: 5, interval: '5s', baseEjectionTime: '10s', maxEjectionPercent: 50 });
  });

  it('renders a connection pool changed after construction, keeping the fields it does not name', () => {
    const chart = Testing.chart();
    const payment = chargeReads(chart);
    payment.configureConnectionPool({ maxPendingRequests: 8, connectTimeout: Duration.millis(250) });
    const dr = find(synth(chart), 'DestinationRule', 'payment');
    expect(dr.spec.trafficPolicy.connectionPool).toEqual({
      tcp: { maxConnections: 32, connectTimeout: '0.25s' },
      http: { http1MaxPendingRequests: 8, http2MaxRequests: 48, maxRetries: 16, idleTimeout: '30s' },
    });
  });

  it('renders a retry budget changed, left out or brought back after construction', () => {
    const chart = Testing.chart();
    const payment = chargeReads(chart);
    payment.configureRetryBudget({ percent: 30 });
    expect(find(synth(chart), 'DestinationRule', 'payment').spec.trafficPolicy.retryBudget).toEqual({ percent: 30, minRetryConcurrency: 3 });
    payment.configureRetryBudget(false);
    expect(find(synth(chart), 'DestinationRule', 'payment').spec.trafficPolicy.retryBudget).toBeUndefined();
    payment.configureRetryBudget({ minRetryConcurrency: 5 });
    expect(find(synth(chart), 'DestinationRule', 'payment').spec.trafficPolicy.retryBudget).toEqual({ percent: 20, minRetryConcurrency: 5 });
  });

  it('renders subsets added after construction after its own version, while the VirtualService keeps routing to its own', () => {
    const chart = Testing.chart();
    const payment = chargeReads(chart);
    payment.addSubset('v2');
    expect(payment.subsets).toEqual(['v1', 'v2']);
    const manifests = synth(chart);
    expect(find(manifests, 'DestinationRule', 'payment').spec.subsets).toEqual([
      { name: 'v1', labels: { version: 'v1' } },
      { name: 'v2', labels: { version: 'v2' } },
    ]);
    const subsets = find(manifests, 'VirtualService', 'payment').spec.http.map(
      (r: { route: { destination: { subset: string } }[] }) => r.route[0]!.destination.subset,
    );
    expect(new Set(subsets)).toEqual(new Set(['v1']));
  });

  it('refuses a bad traffic policy setting at the call that sets it, naming the prop, value and fix, and keeps the last good one', () => {
    const chart = Testing.chart();
    const payment = chargeReads(chart);
    expect(() => payment.configureOutlierDetection({ maxEjectionPercent: 100 })).toThrow(
      "ResiliencePolicy 'payment': configureOutlierDetection: invalid props\n  - 'outlierDetection.maxEjectionPercent' (100) with 'replicas' (2) can eject every pod, leaving none to serve: lower it to at most 50",
    );
    expect(() => payment.configureConnectionPool({ maxRequests: 0 })).toThrow(
      "ResiliencePolicy 'payment': configureConnectionPool: invalid props\n  - 'connectionPool.maxRequests' (0) must be a whole number of at least 1",
    );
    expect(() => payment.configureRetryBudget({ percent: 150 })).toThrow(
      "ResiliencePolicy 'payment': configureRetryBudget: invalid props\n  - 'retryBudget.percent' (150) must be above 0 and at most 100",
    );
    expect(() => payment.addSubset('V2')).toThrow(
      "ResiliencePolicy 'payment': addSubset(V2): invalid props\n  - 'version' ('V2') names a subset, which Istio requires to be a DNS-1123 label (lower case, digits, '-'): rename it, e.g. 'v2'",
    );
    expect(() => payment.addSubset('v1')).toThrow("'version' ('v1') already has a subset: add each version once");
    const dr = find(synth(chart), 'DestinationRule', 'payment');
    expect(dr.spec.trafficPolicy).toMatchObject({
      outlierDetection: { maxEjectionPercent: 50 },
      connectionPool: { http: { http2MaxRequests: 48 } },
      retryBudget: { percent: 20 },
    });
    expect(dr.spec.subsets).toEqual([{ name: 'v1', labels: { version: 'v1' } }]);
  });

  describe('validation', () => {
    it('rejects tries whose per-try timeouts cannot fit in the route timeout', () => {
      const route = Route.read('/charges', { timeout: Duration.seconds(2), retry: Retry.onGatewayErrors({ attempts: 3, perTryTimeout: Duration.seconds(1) }) });
      expect(() => policy({ routes: [route] })).toThrow(
        "route 'GET|HEAD /charges': 'perTryTimeout' (1s) x tries (4) + backoff (up to 275ms) = 4.275s exceeds 'timeout' (2s), so the last retries are cut off: raise timeout or lower attempts",
      );
    });

    it('rejects a perTryTimeout longer than the timeout', () => {
      const route = Route.write('POST', '/charges', { timeout: Duration.seconds(1), retry: Retry.onConnectFailure({ perTryTimeout: Duration.seconds(2) }) });
      expect(() => policy({ routes: [route] })).toThrow("'perTryTimeout' (2s) exceeds 'timeout' (1s): lower perTryTimeout or raise timeout");
    });

    it('rejects retries on 5xx for a non-idempotent write and says how to fix it', () => {
      const route = Route.write('POST', '/charges', { retry: Retry.on(['5xx', 'connect-failure'], { attempts: 2, perTryTimeout: Duration.seconds(1) }) });
      expect(() => policy({ routes: [route] })).toThrow(
        "route 'POST /charges': 'retry' retries on 5xx but the route is not idempotent, so a retry can apply the write twice: use Retry.onConnectFailure(), or make it Route.idempotentWrite with a keyHeader the service deduplicates on",
      );
    });

    it('rejects an idempotent POST without the header that carries the key', () => {
      expect(() => policy({ routes: [Route.idempotentWrite('POST', '/charges')] })).toThrow("route 'POST /charges': 'keyHeader' is missing");
    });

    it('accepts an idempotent PUT without a key header, since PUT is idempotent by HTTP semantics', () => {
      expect(() => policy({ routes: [Route.idempotentWrite('PUT', '/charges/{id}')] })).not.toThrow();
    });

    it('rejects a maxEjectionPercent that can never eject a pod of a small deployment', () => {
      expect(() => policy({ replicas: 2, outlierDetection: { maxEjectionPercent: 10 } })).toThrow(
        "'outlierDetection.maxEjectionPercent' (10) with 'replicas' (2) ejects no pod at all (Envoy ejects floor(2 x 10%) = 0): raise it to at least 50",
      );
    });

    it('rejects a maxEjectionPercent that can eject every pod', () => {
      expect(() => policy({ replicas: 3, outlierDetection: { maxEjectionPercent: 100 } })).toThrow(
        "'outlierDetection.maxEjectionPercent' (100) with 'replicas' (3) can eject every pod, leaving none to serve: lower it to at most 66",
      );
    });

    it('rejects a backoff as long as the per-try timeout', () => {
      const route = Route.read('/charges', { retry: Retry.onGatewayErrors({ perTryTimeout: Duration.millis(100), backoff: Duration.millis(100) }) });
      expect(() => policy({ routes: [route] })).toThrow("'retry.backoff' (100ms) must be shorter than 'perTryTimeout' (100ms): lower backoff");
    });

    it('rejects a version that cannot name a subset', () => {
      expect(() => policy({ version: 'V1.2' })).toThrow(
        "'version' ('V1.2') names a subset, which Istio requires to be a DNS-1123 label (lower case, digits, '-'): rename it, e.g. 'v2'",
      );
    });

    it('rejects the same operation declared twice', () => {
      expect(() => policy({ routes: [Route.read('/charges'), Route.read('/charges')] })).toThrow("route 'GET|HEAD /charges' is declared twice");
    });

    it('reports every broken rule at once', () => {
      try {
        policy({ replicas: 2, outlierDetection: { maxEjectionPercent: 10 }, connectionPool: { maxPendingRequests: 0 }, retryBudget: { percent: 0 } });
        expect.fail('expected a validation error');
      } catch (error) {
        expect((error as { problems: string[] }).problems).toEqual([
          "'outlierDetection.maxEjectionPercent' (10) with 'replicas' (2) ejects no pod at all (Envoy ejects floor(2 x 10%) = 0): raise it to at least 50",
          "'connectionPool.maxPendingRequests' (0) must be a whole number of at least 1",
          "'retryBudget.percent' (0) must be above 0 and at most 100",
        ]);
      }
    });
  });
});
