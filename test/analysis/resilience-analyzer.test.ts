/**
 * The resilience rules over crafted meshes. Good inputs and most bad ones are
 * built with the real constructs (MeshedService, Route, Retry); where the
 * constructs refuse a bad policy at construction (a write retried on
 * gateway-error, an ejection percentage that ejects nothing or everything, a
 * missing DestinationRule), the synthesized JSON is edited by hand — each such
 * test says so with `edit(...)`.
 */
import { Chart, Duration, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { describe, expect, it } from 'vitest';
import { MeshedService, type MeshedServiceProps } from '../../constructs/meshed-service.js';
import { Callers } from '../../mesh/callers.js';
import { callGraphFromEnv, callGraphFromJson, type CallGraph } from '../../analysis/resilience-callgraph.js';
import { buildMeshModel, parseDurationMs } from '../../analysis/resilience-model.js';
import type { KubeObject } from '../../manifests/kube-object.js';
import { reportJson, reportText } from '../../analysis/resilience-report.js';
import { analyzeResilience, type AnalysisOptions, type Finding, type RuleId } from '../../analysis/resilience-rules.js';
import { worstCase } from '../../analysis/resilience-timing.js';
import { Retry } from '../../mesh/retry.js';
import { Route } from '../../mesh/route.js';
import { synth, type Manifest } from '../support/manifests.js';

const key = { keyHeader: 'idempotency-key' };
const BACK_ROUTES = [
  Route.idempotentWrite('POST', '/charges', key),
  Route.idempotentWrite('POST', '/charges/{id}/refund', key),
  Route.read('/charges/{id}'),
  Route.read('/data'),
  Route.write('POST', '/notes'),
  Route.idempotentWrite('PUT', '/items/{sku}'),
];
const FRONT_ROUTES = [Route.write('POST', '/orders', { timeout: Duration.seconds(8), retry: Retry.onConnectFailure({ attempts: 1 }) }), Route.read('/page')];

type ServiceOptions = Partial<Omit<MeshedServiceProps, 'image'>>;

/** `front` calls `back`, both meshed in namespace shop, two replicas each unless told otherwise. */
function mesh(front: ServiceOptions = {}, back: ServiceOptions = {}): Manifest[] {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'shop' });
  const withReplicas = (o: ServiceOptions) => (o.autoscaling ? o : { replicas: 2, ...o });
  const b = new MeshedService(chart, 'back', { image: 'meshkit/back:dev', callers: Callers.none(), routes: BACK_ROUTES, ...withReplicas(back) });
  const f = new MeshedService(chart, 'front', { image: 'meshkit/front:dev', callers: Callers.none(), routes: FRONT_ROUTES, ...withReplicas(front) });
  f.addEnv('BACK_URL', kplus.EnvValue.fromValue(b.url));
  return synth(chart);
}

/** Hand edit of one synthesized object, for policies the constructs refuse to produce. */
function edit(objects: Manifest[], kind: string, name: string, change: (o: Manifest) => void): Manifest[] {
  const copy = structuredClone(objects);
  const target = copy.find((o) => o.kind === kind && o.metadata.name === name);
  if (!target) throw new Error(`no ${kind}/${name}`);
  change(target);
  return copy;
}

const without = (objects: Manifest[], kind: string, name: string) => objects.filter((o) => !(o.kind === kind && o.metadata.name === name));
const httpRoute = (vs: Manifest, name: string) => vs.spec.http.find((r: { name: string }) => r.name === name);

/** The front's order handler: charge, then read the charge back. */
const GRAPH = {
  publicRoutes: [{ service: 'front', route: 'POST /orders' }],
  handlers: [
    {
      service: 'front',
      route: 'POST /orders',
      sequences: [
        {
          name: 'pay',
          calls: [
            { service: 'back', route: 'POST /charges' },
            { service: 'back', route: 'GET|HEAD /charges/{id}' },
          ],
        },
      ],
    },
  ],
  clientTimeoutsMs: { front: 3000 },
};

function graphOf(json: object = GRAPH): CallGraph {
  return callGraphFromJson(JSON.stringify(json), 'test graph');
}

function analyze(objects: Manifest[], graph: CallGraph = graphOf(), options: AnalysisOptions = {}) {
  return analyzeResilience(buildMeshModel(objects as KubeObject[]), graph, options);
}

function findings(objects: Manifest[], rule: RuleId, graph?: CallGraph, options?: AnalysisOptions): Finding[] {
  return analyze(objects, graph, options).findings.filter((f) => f.rule === rule);
}

const serious = (fs: readonly Finding[]) => fs.filter((f) => f.severity !== 'info');

describe('analyzeResilience on a well-configured mesh', () => {
  it('finds neither errors nor warnings in construct defaults with a saga that fits its budget', () => {
    const result = analyze(mesh());
    expect(serious(result.findings)).toEqual([]);
    expect(result.traversal.chains.map((c) => c.amplification)).toEqual([1, 3, 3]);
  });
});

describe('retry-amplification', () => {
  // front retries a read on gateway errors and its handler reads back, which retries too.
  const readThrough = (frontAttempts: number, frontPerTryMs: number, backRetry?: Retry) =>
    mesh(
      {
        routes: [
          Route.read('/page', {
            timeout: Duration.seconds(7),
            retry: Retry.onGatewayErrors({ attempts: frontAttempts, perTryTimeout: Duration.millis(frontPerTryMs) }),
          }),
        ],
      },
      backRetry ? { routes: [Route.read('/data', { retry: backRetry })] } : {},
    );
  const readGraph = graphOf({
    publicRoutes: [{ service: 'front', route: 'GET /page' }],
    handlers: [{ service: 'front', route: 'GET|HEAD /page', sequences: [{ name: 'read', calls: [{ service: 'back', route: 'GET|HEAD /data' }] }] }],
  });

  it('warns when nested retries let one public request reach an app more than 4 times', () => {
    const [f, ...rest] = findings(readThrough(2, 2300), 'retry-amplification', readGraph);
    expect(rest).toEqual([]);
    expect(f).toMatchObject({
      severity: 'warning',
      object: "VirtualService shop/back route 'get-data'",
      message:
        "one 'front GET /page' request can reach back's app 9 times: front 3 (VirtualService shop/front route 'get-page') x back 3 (VirtualService shop/back route 'get-data'); above the warning threshold of 4",
      numbers: { amplification: 9, attempts: 9 },
      publicRoutes: ['front GET /page'],
    });
  });

  it('is an error above 10', () => {
    // 4 tries x 1650ms + 275ms backoff = 6.875s fits the 7s timeout (1700ms did not once validation counted backoff).
    const objects = readThrough(3, 1650, Retry.onGatewayErrors({ attempts: 3, perTryTimeout: Duration.millis(350) }));
    const [f] = findings(objects, 'retry-amplification', readGraph);
    expect(f).toMatchObject({ severity: 'error', numbers: { amplification: 16 } });
    expect(f!.message).toContain('above the error threshold of 10');
  });

  it('counts a hop retried only on connect failures once, since its retries never re-ran the handler', () => {
    // POST /orders has 2 tries on connect-failure only: back sees 1 x 3 requests, not 2 x 3.
    const chain = analyze(mesh()).traversal.chains.find((c) => c.hops.length === 2 && c.hops[1]!.route === 'POST /charges')!;
    expect(chain).toMatchObject({ amplification: 3, attempts: 6 });
  });

  it('takes its thresholds from the options', () => {
    expect(findings(readThrough(2, 2300), 'retry-amplification', readGraph, { amplificationErrorAbove: 8 })[0]).toMatchObject({ severity: 'error' });
    expect(findings(readThrough(2, 2300), 'retry-amplification', readGraph, { amplificationWarningAbove: 9 })).toEqual([]);
  });
});

describe('timeout-budget', () => {
  const orders = (timeoutSeconds: number) =>
    mesh({ routes: [Route.write('POST', '/orders', { timeout: Duration.seconds(timeoutSeconds), retry: Retry.onConnectFailure({ attempts: 1 }) })] });
  const payAndRefund = (clientTimeoutsMs: Record<string, number> = {}) =>
    graphOf({
      publicRoutes: [{ service: 'front', route: 'POST /orders' }],
      handlers: [
        {
          service: 'front',
          route: 'POST /orders',
          sequences: [
            {
              name: 'pay, refund',
              calls: [
                { service: 'back', route: 'POST /charges' },
                { service: 'back', route: 'POST /charges/{id}/refund' },
              ],
            },
          ],
        },
      ],
      clientTimeoutsMs,
    });

  it('reports a handler whose calls in sequence outlast the per-try budget of the route delivering it', () => {
    const [f, ...rest] = findings(orders(5), 'timeout-budget', payAndRefund());
    expect(rest).toEqual([]);
    expect(f).toMatchObject({
      severity: 'error',
      object: "VirtualService shop/front route 'post-orders'",
      message:
        "front POST /orders gets 5s per try (VirtualService shop/front route 'post-orders'), but its calls in sequence 'pay, refund' can take 5.6s in the worst case: back POST /charges 2.8s (3 tries x 900ms + 100ms backoff) + back POST /charges/{id}/refund 2.8s (3 tries x 900ms + 100ms backoff); the route times out (504) while the handler is still working",
      numbers: { budgetMs: 5000, totalMs: 5600, calls: 2 },
    });
    expect(f!.fix).toContain('to at least 5.6s');
    expect(findings(orders(6), 'timeout-budget', payAndRefund())).toEqual([]);
  });

  it('reports a single call that outlasts its caller, so the callee work is wasted', () => {
    const [f] = findings(orders(2), 'timeout-budget', payAndRefund());
    expect(f).toMatchObject({ severity: 'error', numbers: { budgetMs: 2000, calleeWorstMs: 2800 } });
    expect(f!.message).toBe(
      "front POST /orders gets 2s per try (VirtualService shop/front route 'post-orders'), but its call to back POST /charges alone can take 2.8s (3 tries x 900ms + 100ms backoff): the caller gives up first and the callee's work is wasted",
    );
  });

  it("warns when the caller app's client timeout is shorter than the callee's worst case, and counts the call at the client timeout", () => {
    const all = findings(orders(5), 'timeout-budget', payAndRefund({ front: 2000 }));
    // 2 x 2s fits in 5s once the app's own timeout caps each call: no budget error left.
    expect(all.map((f) => f.severity)).toEqual(['warning', 'warning']);
    expect(all[0]).toMatchObject({
      object: "VirtualService shop/back route 'post-charges'",
      message:
        "front's app gives up on back POST /charges after 2s (its client timeout), but the mesh may keep trying for 2.8s (3 tries x 900ms + 100ms backoff): the last tries are wasted and front sees an unknown outcome",
      numbers: { clientTimeoutMs: 2000, calleeWorstMs: 2800 },
    });
  });

  it('without handler sequences, reports a callee that outlasts every route of its caller', () => {
    // front's longest route is its 1s fallback; a 600ms read and a 1s catch-all cannot wait for a 1.9s or 2.8s callee.
    const objects = mesh({ routes: [Route.read('/page')], resilience: { fallbackTimeout: Duration.seconds(1) } });
    const graph = graphOf({ edges: [{ from: 'front', to: 'back', routes: ['POST /charges', 'GET|HEAD /charges/{id}'] }] });
    const all = findings(objects, 'timeout-budget', graph);
    expect(all).toHaveLength(2);
    expect(all[0]).toMatchObject({
      severity: 'error',
      object: "VirtualService shop/back route 'post-charges'",
      message:
        'back POST /charges can take 2.8s (3 tries x 900ms + 100ms backoff), but no route of front gives its handler more than 1s per try: whichever one calls it gives up first',
    });
    expect(all[1]!.message).toContain('back GET|HEAD /charges/{id} can take 1.9s');
  });

  it('caps a connect-failure-only route at its timeout: failed tries never reached the app, so they end within the connect timeout', () => {
    const route = { timeoutMs: 3000, retry: { attempts: 2, retryOn: ['connect-failure', 'refused-stream'], backoffMs: 25, source: 'explicit' as const } };
    expect(worstCase(route, 500)).toEqual({
      ms: 3000,
      explanation: 'the 3s timeout (2 failed connects x 500ms + 100ms backoff + 1 try of 3s would be longer)',
    });
    expect(worstCase({ timeoutMs: 10_000, retry: { ...route.retry, perTryTimeoutMs: 3000 } }, 500).ms).toBe(4100);
  });
});

describe('unsafe-retry', () => {
  it('reports a POST without an idempotency key that is re-sent on gateway errors (edited: Route.write refuses it)', () => {
    const objects = edit(mesh(), 'VirtualService', 'back', (vs) => (httpRoute(vs, 'post-notes').retries.retryOn = 'gateway-error,connect-failure'));
    expect(findings(objects, 'unsafe-retry')).toEqual([
      {
        rule: 'unsafe-retry',
        severity: 'error',
        object: "VirtualService shop/back route 'post-notes'",
        message:
          "route 'post-notes' re-sends on gateway-error and matches POST requests without an idempotency-key header: a write that reached the app can be applied up to 3 times",
        numbers: { attempts: 2, retryOn: 'gateway-error,connect-failure' },
        fix: expect.stringContaining('Retry.onConnectFailure()'),
        publicRoutes: [],
      },
    ]);
  });

  it("reports a POST route without retries, which inherits Istio's default policy (503 included)", () => {
    const objects = edit(mesh(), 'VirtualService', 'back', (vs) => delete httpRoute(vs, 'post-notes').retries);
    const [f] = findings(objects, 'unsafe-retry');
    expect(f!.message).toBe(
      "route 'post-notes' re-sends on unavailable,cancelled,retriable-status-codes (Istio's default retry policy: the route sets no retries, so 2 retries on connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes) and matches POST requests without an idempotency-key header: a write that reached the app can be applied up to 3 times",
    );
  });

  it('reports a catch-all route retried on 5xx, since it matches every POST and PATCH', () => {
    const objects = edit(mesh(), 'VirtualService', 'back', (vs) => (httpRoute(vs, 'fallback').retries.retryOn = '5xx'));
    expect(findings(objects, 'unsafe-retry')[0]!.message).toContain(
      "route 'fallback' re-sends on 5xx and matches POST/PATCH (it has no match, so every request) without an idempotency-key header",
    );
  });

  it('accepts keyed POSTs and PUTs retried on gateway errors, and keyless POSTs retried only on connect failures', () => {
    const vs = mesh().find((o) => o.kind === 'VirtualService' && o.metadata.name === 'back')!;
    expect(httpRoute(vs, 'post-charges').retries.retryOn).toContain('gateway-error');
    expect(httpRoute(vs, 'put-items-sku').retries.retryOn).toContain('gateway-error');
    expect(findings(mesh(), 'unsafe-retry')).toEqual([]);
  });
});

describe('traffic-policy', () => {
  it('reports a DestinationRule without outlier detection (edited)', () => {
    const objects = edit(mesh(), 'DestinationRule', 'back', (dr) => delete dr.spec.trafficPolicy.outlierDetection);
    expect(findings(objects, 'traffic-policy')).toEqual([
      expect.objectContaining({
        severity: 'warning',
        object: 'DestinationRule shop/back subset v1',
        message: "DestinationRule shop/back subset v1 has no outlierDetection: a pod that keeps failing keeps receiving its share of back's traffic",
      }),
    ]);
  });

  it('reports outlier detection switched off by consecutive5xxErrors: 0 (edited)', () => {
    const objects = edit(mesh(), 'DestinationRule', 'back', (dr) => (dr.spec.trafficPolicy.outlierDetection.consecutive5xxErrors = 0));
    expect(findings(objects, 'traffic-policy')[0]!.message).toContain(
      'has outlier detection switched off (consecutive5xxErrors: 0, no consecutiveGatewayErrors)',
    );
  });

  it('lists the connection-pool limits a DestinationRule leaves unlimited; a retry budget stands in for maxRetries (edited)', () => {
    let objects = edit(mesh(), 'DestinationRule', 'back', (dr) => delete dr.spec.trafficPolicy.connectionPool.http);
    expect(findings(objects, 'traffic-policy')).toEqual([
      expect.objectContaining({
        message:
          'DestinationRule shop/back subset v1 sets no http.http1MaxPendingRequests, http.http2MaxRequests: Istio leaves them unlimited, so an overloaded back queues without bound instead of shedding load with a fast 503',
        numbers: { missing: 'http.http1MaxPendingRequests,http.http2MaxRequests' },
      }),
    ]);
    objects = edit(objects, 'DestinationRule', 'back', (dr) => delete dr.spec.trafficPolicy.retryBudget);
    expect(findings(objects, 'traffic-policy')[0]!.numbers).toEqual({ missing: 'http.http1MaxPendingRequests,http.http2MaxRequests,http.maxRetries' });
  });

  it('reports a called host with neither DestinationRule nor VirtualService (edited)', () => {
    const objects = without(without(mesh(), 'DestinationRule', 'back'), 'VirtualService', 'back');
    expect(findings(objects, 'traffic-policy')).toEqual([
      expect.objectContaining({
        object: 'host back',
        message:
          "back has neither a DestinationRule nor a VirtualService: no outlier detection, no connection limits, no timeout, and Istio's default retries (503 included)",
      }),
    ]);
  });

  it('applies a subset traffic policy over the destination-level one, group by group (edited)', () => {
    const objects = edit(mesh(), 'DestinationRule', 'back', (dr) => {
      delete dr.spec.trafficPolicy.outlierDetection;
      dr.spec.subsets[0].trafficPolicy = { outlierDetection: { consecutive5xxErrors: 3, maxEjectionPercent: 50 } };
    });
    expect(findings(objects, 'traffic-policy')).toEqual([]);
  });
});

describe('ejection', () => {
  it('warns when maxEjectionPercent ejects no pod of two (edited: ResiliencePolicy refuses it)', () => {
    const objects = edit(mesh(), 'DestinationRule', 'back', (dr) => (dr.spec.trafficPolicy.outlierDetection.maxEjectionPercent = 10));
    expect(findings(objects, 'ejection')).toEqual([
      {
        rule: 'ejection',
        severity: 'warning',
        object: 'DestinationRule shop/back subset v1',
        message:
          'maxEjectionPercent 10 with 2 replicas (2 from Deployment shop/back spec.replicas) ejects floor(2 x 10%) = 0 pods: outlier detection never removes a failing pod',
        numbers: { replicas: 2, maxEjectionPercent: 10, ejectablePods: 0 },
        fix: 'raise maxEjectionPercent to at least 50 (at most 50 keeps one pod serving)',
        publicRoutes: [],
      },
    ]);
  });

  it("uses Envoy's 10% when maxEjectionPercent is unset (edited)", () => {
    const objects = edit(mesh(), 'DestinationRule', 'back', (dr) => delete dr.spec.trafficPolicy.outlierDetection.maxEjectionPercent);
    expect(findings(objects, 'ejection')[0]!.message).toMatch(/^maxEjectionPercent 10 \(Istio default\) with 2 replicas/);
  });

  it('is an error when every replica can be ejected (edited)', () => {
    const objects = edit(mesh(), 'DestinationRule', 'back', (dr) => (dr.spec.trafficPolicy.outlierDetection.maxEjectionPercent = 100));
    const [f] = findings(objects, 'ejection');
    expect(f).toMatchObject({
      severity: 'error',
      numbers: { replicas: 2, maxEjectionPercent: 100, ejectablePods: 2 },
      fix: 'lower maxEjectionPercent to at most 50',
    });
    expect(f!.message).toContain('ejects up to floor(2 x 100%) = 2, every pod: a bad spell leaves back with no endpoint');
  });

  it('sizes for the autoscaler minimum, not a fixed count', () => {
    const scaled = mesh({}, { autoscaling: { minReplicas: 3, maxReplicas: 6 } });
    expect(findings(scaled, 'ejection')).toEqual([]); // the construct default for 3 is 66%: one pod
    const objects = edit(scaled, 'DestinationRule', 'back', (dr) => (dr.spec.trafficPolicy.outlierDetection.maxEjectionPercent = 100));
    expect(findings(objects, 'ejection')[0]!.message).toContain(
      'with 3 replicas (3 from Deployment shop/back HPA minReplicas) ejects up to floor(3 x 100%) = 3',
    );
  });

  it('flags ejecting the only replica, and accepts 0% for one replica', () => {
    expect(findings(mesh({}, { replicas: 1 }), 'ejection')).toEqual([]);
    const objects = edit(mesh({}, { replicas: 1 }), 'DestinationRule', 'back', (dr) => (dr.spec.trafficPolicy.outlierDetection.maxEjectionPercent = 100));
    expect(findings(objects, 'ejection')[0]).toMatchObject({
      severity: 'error',
      fix: 'lower maxEjectionPercent to at most 0 (with one replica there is nothing to fail over to)',
    });
  });
});

describe('routing-consistency', () => {
  it('reports a VirtualService subset no DestinationRule defines (edited)', () => {
    const objects = edit(mesh(), 'VirtualService', 'back', (vs) => (httpRoute(vs, 'get-data').route[0].destination.subset = 'v2'));
    expect(findings(objects, 'routing-consistency').filter((f) => f.severity === 'error')).toEqual([
      expect.objectContaining({
        object: "VirtualService shop/back route 'get-data'",
        message: 'sends to subset v2 of back, which DestinationRule shop/back does not define (it has v1): every request gets 503 (no cluster)',
      }),
    ]);
  });

  it('reports a destination port the Service does not expose (edited)', () => {
    const objects = edit(mesh(), 'VirtualService', 'back', (vs) => (httpRoute(vs, 'get-data').route[0].destination.port.number = 9999));
    expect(findings(objects, 'routing-consistency')).toContainEqual(
      expect.objectContaining({ severity: 'error', message: 'sends to port 9999, which Service shop/back does not expose (ports 8080)' }),
    );
  });

  it('reports a VirtualService host without DestinationRule, and the subsets it then lacks (edited)', () => {
    const messages = findings(without(mesh(), 'DestinationRule', 'back'), 'routing-consistency').map((f) => `${f.severity}: ${f.message}`);
    expect(messages).toContain('warning: routes back, which has no DestinationRule: no outlier detection and no connection limits for it');
    expect(messages).toContain('error: sends to subset v1 of back, which no DestinationRule defines: every request gets 503 (no cluster)');
  });

  it("reports a DestinationRule no VirtualService routes through: Istio's default retries apply (edited)", () => {
    const [f] = findings(without(mesh(), 'VirtualService', 'back'), 'routing-consistency').filter((x) => x.object === 'DestinationRule shop/back');
    expect(f!.message).toBe(
      "no VirtualService routes back: its DestinationRule applies, but requests get Istio's defaults, no timeout and 2 retries on connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes (a 503 re-sends a POST)",
    );
  });

  it('reports two VirtualServices for one host (edited)', () => {
    const objects = mesh();
    const copy = structuredClone(objects.find((o) => o.kind === 'VirtualService' && o.metadata.name === 'back')!);
    copy.metadata.name = 'back-2';
    expect(findings([...objects, copy], 'routing-consistency')[0]!.message).toBe(
      '2 VirtualServices apply to back in the mesh; sidecars use only one of them, and which one is not defined',
    );
  });

  it('reports a call no route matches, and a call graph name that matches no Service (edited: the constructs always add a catch-all)', () => {
    const objects = edit(mesh(), 'VirtualService', 'back', (vs) => (vs.spec.http = vs.spec.http.filter((r: { name: string }) => r.name !== 'fallback')));
    const graph = graphOf({
      ...GRAPH,
      edges: [
        { from: 'front', to: 'back', routes: ['DELETE /charges/{id}'] },
        { from: 'front', to: 'ghost', routes: ['GET /x'] },
      ],
    });
    const messages = findings(objects, 'routing-consistency', graph).map((f) => f.message);
    expect(messages).toContain(
      "the call graph names back DELETE /charges/{id}, but no route of VirtualService shop/back matches it, so the caller's sidecar answers 404 (NR)",
    );
    expect(messages).toContain("the call graph names 'ghost', which matches no Service in these manifests (or several: qualify it as name.namespace)");
  });
});

describe('first hop', () => {
  const gateway = (timeout: string) => ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'edge', namespace: 'shop' },
    spec: {
      hosts: ['*'],
      gateways: ['istio-system/edge'],
      http: [
        {
          name: 'front-orders',
          match: [{ method: { exact: 'POST' }, uri: { prefix: '/api/' } }],
          rewrite: { uri: '/' },
          route: [{ destination: { host: 'front.shop.svc.cluster.local', port: { number: 8080 }, subset: 'v1' } }],
          timeout,
          retries: { attempts: 0 },
        },
      ],
    },
  });

  it('starts public routes at the service VirtualService, with a note, when there is no gateway VirtualService', () => {
    const result = analyze(mesh());
    expect(result.traversal.entry).toBe('service');
    expect(result.traversal.chains[0]!.hops[0]!.viaLabel).toBe("VirtualService shop/front route 'post-orders'");
    expect(result.findings.filter((f) => f.severity === 'info').map((f) => f.object)).toEqual(['ingress gateway']);
  });

  it('starts at the gateway route (through its prefix rewrite) when there is one, and budgets the handler by it', () => {
    const result = analyze([...mesh(), gateway('4s') as Manifest]);
    expect(result.traversal.entry).toBe('gateway');
    expect(result.traversal.chains[0]!.hops[0]!).toMatchObject({ viaLabel: "VirtualService shop/edge route 'front-orders'", tries: 1, budgetMs: 4000 });
    // 2.8s + 1.9s no longer fits in the gateway's 4s, while the service's own route (8s) is off the path.
    expect(result.findings.filter((f) => f.rule === 'timeout-budget').map((f) => f.object)).toEqual(["VirtualService shop/edge route 'front-orders'"]);
  });

  it('reports a public route the gateway does not route', () => {
    const graph = graphOf({ ...GRAPH, publicRoutes: [{ service: 'front', route: 'GET /page' }] });
    expect(findings([...mesh(), gateway('9s') as Manifest], 'routing-consistency', graph)[0]!.message).toBe(
      'the call graph names front GET /page, but no gateway-bound VirtualService route sends it to front, so it is not reachable from outside',
    );
  });
});

describe('call graph from the manifests alone', () => {
  it('derives edges from *_URL env values and the client timeout from HTTP_CLIENT_TIMEOUT_MS, with routes unknown', () => {
    const objects = edit(mesh(), 'Deployment', 'front', (d) => d.spec.template.spec.containers[0].env.push({ name: 'HTTP_CLIENT_TIMEOUT_MS', value: '1500' }));
    const model = buildMeshModel(objects as KubeObject[]);
    const graph = callGraphFromEnv(model);
    expect(graph.edges).toEqual([{ from: 'front', to: 'back', source: 'env BACK_URL of Deployment shop/front' }]);
    expect(graph.clientTimeoutsMs).toEqual({ front: 1500 });
    const result = analyzeResilience(model, graph);
    expect(result.findings.map((f) => f.message)).toContainEqual(expect.stringMatching(/^1 call with unknown routes \(front -> back from env BACK_URL/));
  });

  it('reads public routes off the gateway VirtualService: exact paths and one-segment regexes, GET and HEAD together', () => {
    const edge = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'edge', namespace: 'shop' },
      spec: {
        hosts: ['*'],
        gateways: ['istio-system/edge'],
        http: [
          {
            name: 'back-get-charges-id',
            match: [
              { method: { exact: 'GET' }, uri: { regex: '^/charges/[^/]+$' } },
              { method: { exact: 'HEAD' }, uri: { regex: '^/charges/[^/]+$' } },
            ],
            route: [{ destination: { host: 'back.shop.svc.cluster.local', port: { number: 8080 }, subset: 'v1' } }],
          },
          { name: 'front-any', match: [{ uri: { regex: '^/(a|b)$' } }], route: [{ destination: { host: 'front.shop.svc.cluster.local' } }] },
        ],
      },
    };
    const graph = callGraphFromEnv(buildMeshModel([...mesh(), edge] as KubeObject[]));
    expect(graph.publicRoutes).toEqual([{ service: 'back.shop', route: 'GET|HEAD /charges/{param}' }]);
  });
});

describe('inputs', () => {
  it('reads Istio durations in every form the CRDs accept', () => {
    expect([parseDurationMs('0.25s'), parseDurationMs('2s'), parseDurationMs('1m30s'), parseDurationMs('500ms'), parseDurationMs(undefined)]).toEqual([
      250,
      2000,
      90_000,
      500,
      undefined,
    ]);
    expect(() => parseDurationMs('2 seconds')).toThrow("cannot read duration '2 seconds'");
  });

  it('rejects a call graph file with every problem listed', () => {
    expect(() => callGraphFromJson(JSON.stringify({ edges: [{ from: 'a' }], clientTimeoutsMs: { a: -1 } }), 'g.json')).toThrow(
      'g.json: invalid call graph:\n  - edges[0].to must be a non-empty string\n  - clientTimeoutsMs.a must be a positive number of milliseconds',
    );
  });
});

describe('report', () => {
  it('groups by public route with the numbers, then by rule, and gives the same content as JSON', () => {
    const objects = edit(mesh(), 'DestinationRule', 'back', (dr) => (dr.spec.trafficPolicy.outlierDetection.maxEjectionPercent = 100));
    const result = analyze(objects);
    const text = reportText(result, 'test graph');
    expect(text).toContain('Resilience analysis — 1 error(s), 0 warning(s), 1 note(s)');
    expect(text).toContain('  front POST /orders  (max amplification 3)');
    expect(text).toContain("      -> back POST /charges: 3 tries, worst 2.8s, 900ms per try  [VirtualService shop/back route 'post-charges']");
    expect(text).toContain("      budget of front POST /orders: 8s per try; calls in sequence: 'pay' 4.7s");
    expect(text).toContain('-- ejection: Outlier ejection versus replicas');
    expect(text).toMatch(/#1 ERROR DestinationRule shop\/back subset v1\n.*ejects up to floor\(2 x 100%\)/);
    const json = reportJson(result, 'test graph');
    expect(json.summary).toEqual({ errors: 1, warnings: 0, infos: 1 });
    expect(json.publicRoutes[0]!.budgets[0]!.sequences[0]).toMatchObject({ name: 'pay', totalMs: 4700 });
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });
});
