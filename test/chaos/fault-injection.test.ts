import { Chart, Duration, Testing } from 'cdk8s';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildPlatform } from '../../charts/platform-app.js';
import { MeshedService } from '../../constructs/meshed-service.js';
import { EdgeGateway } from '../../mesh/edge-gateway.js';
import { EdgeFaultInjection, Fault, NaiveRetryAntiPattern, naiveRetryConditions } from '../../chaos/constructs/fault-injection.js';
import { ResiliencePolicy } from '../../mesh/resilience-policy.js';
import { Retry } from '../../mesh/retry.js';
import { Route } from '../../mesh/route.js';
import { buildChaosApp, chaosResources } from '../../chaos/resources.js';
import { synthChaos } from '../../chaos/synth.js';
import { find, synth, type Manifest } from '../support/manifests.js';

/** A small shop: product (two reads exposed, one internal write) and order (a public write), behind an edge. */
function world() {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'shop' });
  const user = new MeshedService(chart, 'user', { image: 'u:1', routes: [Route.read('/.well-known/jwks.json')], replicas: 1 });
  const listProducts = Route.read('/products');
  const getProduct = Route.read('/products/{id}');
  const reserve = Route.idempotentWrite('POST', '/reservations', { keyHeader: 'idempotency-key' });
  const product = new MeshedService(chart, 'product', { image: 'p:1', routes: [listProducts, getProduct, reserve], replicas: 2 });
  const placeOrder = Route.write('POST', '/orders');
  const listOrders = Route.read('/orders');
  const order = new MeshedService(chart, 'order', { image: 'o:1', routes: [placeOrder, listOrders], replicas: 2 });
  const edge = new EdgeGateway(chart, 'edge', { jwt: { issuer: 'iss', audiences: ['aud'], jwksService: user } });
  edge.expose(product, [listProducts, getProduct], { requireJwt: false });
  edge.expose(order, [placeOrder, listOrders], { requireJwt: true });
  return { chart, edge, product, order, listProducts, getProduct, reserve, placeOrder, listOrders };
}

const vsNamed = (chart: Chart, name: string) => find(synth(chart), 'VirtualService', name);

describe('Fault', () => {
  it('renders an abort as Istio httpStatus and percentage, 503 by default', () => {
    expect(Fault.abort({ percent: 50 }).toIstio()).toEqual({ abort: { httpStatus: 503, percentage: { value: 50 } } });
    expect(Fault.abort({ percent: 10, httpStatus: 500 }).description).toBe('abort 10% with 500');
  });

  it('renders a delay as an Istio fixedDelay on every request by default', () => {
    expect(Fault.delay({ fixedDelay: Duration.millis(1500) }).toIstio()).toEqual({ delay: { fixedDelay: '1.5s', percentage: { value: 100 } } });
    expect(Fault.delay({ fixedDelay: Duration.seconds(3), percent: 20 }).description).toBe('delay 20% by 3s');
  });

  it('reports out-of-range percent, status and delay with the value and the rule', () => {
    expect(Fault.abort({ percent: 0 }).problems()).toEqual(["'percent' (0) must be above 0 and at most 100"]);
    expect(Fault.abort({ percent: 50, httpStatus: 99 }).problems()).toEqual(["'httpStatus' (99) must be an HTTP status from 200 to 599"]);
    expect(Fault.delay({ fixedDelay: Duration.millis(0), percent: 101 }).problems()).toEqual([
      "'percent' (101) must be above 0 and at most 100",
      "'fixedDelay' (0ms) must be at least 1ms",
    ]);
  });
});

describe('EdgeFaultInjection', () => {
  it('binds a VirtualService for the dedicated host to the edge gateway, in the edge namespace', () => {
    const w = world();
    const faults = new EdgeFaultInjection(w.chart, 'faults', { edge: w.edge, host: 'faults.chaos.example' });
    faults.inject(w.product, w.listProducts, Fault.abort({ percent: 50 }));
    expect(vsNamed(w.chart, 'faults')).toMatchObject({
      apiVersion: 'networking.istio.io/v1',
      metadata: { name: 'faults', namespace: 'shop' },
      spec: { hosts: ['faults.chaos.example'], gateways: ['istio-system/edge'] },
    });
  });

  it('copies match, destination, timeout and retries of the edge route and adds the fault', () => {
    const w = world();
    const faults = new EdgeFaultInjection(w.chart, 'faults', { edge: w.edge, host: 'faults.chaos.example' });
    faults.inject(w.product, w.getProduct, Fault.delay({ fixedDelay: Duration.seconds(3) }));
    const edgeRoute = vsNamed(w.chart, 'edge').spec.http.find((r: { name: string }) => r.name === 'product-get-products-id');
    const faulted = vsNamed(w.chart, 'faults').spec.http[0];
    expect(faulted.name).toBe('product-get-products-id-delay');
    expect(faulted.fault).toEqual({ delay: { fixedDelay: '3s', percentage: { value: 100 } } });
    for (const field of ['match', 'route', 'timeout', 'retries']) expect(faulted[field]).toEqual(edgeRoute[field]);
    // The copy keeps retries on purpose: Istio ignores them on a faulted route, and the scenario shows it.
    expect(faulted.retries).toMatchObject({ attempts: 2, retryOn: 'gateway-error,connect-failure,refused-stream,reset' });
  });

  it('leaves the edge VirtualService and the service policies untouched', () => {
    const plain = world();
    const faulted = world();
    new EdgeFaultInjection(faulted.chart, 'faults', { edge: faulted.edge, host: 'faults.chaos.example' }).inject(
      faulted.product,
      faulted.listProducts,
      Fault.abort({ percent: 50 }),
    );
    const without = synth(plain.chart);
    const withFaults = synth(faulted.chart).filter((m) => m.metadata.name !== 'faults');
    expect(withFaults).toEqual(without);
  });

  it('refuses a route the edge does not expose, naming the exposed ones', () => {
    const w = world();
    const faults = new EdgeFaultInjection(w.chart, 'faults', { edge: w.edge, host: 'faults.chaos.example' });
    expect(() => faults.inject(w.product, w.reserve, Fault.abort({ percent: 50 }))).toThrow(
      "route 'POST /reservations' of 'product' is not exposed by the edge 'edge': a chaos host must not open a path the edge keeps closed; expose it with edge.expose() or pick one of: GET|HEAD /products, GET|HEAD /products/{id}",
    );
  });

  it('refuses a wildcard or malformed host, which would take over the edge routes', () => {
    for (const host of ['*', '*.chaos.example', 'Faults.Example', 'localhost']) {
      const w = world();
      expect(() => new EdgeFaultInjection(w.chart, 'faults', { edge: w.edge, host })).toThrow(`'host' (${host}) must be a fully qualified lower-case DNS name`);
    }
  });

  it('lists every problem of one injection together', () => {
    const w = world();
    const faults = new EdgeFaultInjection(w.chart, 'faults', { edge: w.edge, host: 'faults.chaos.example' });
    faults.inject(w.product, w.listProducts, Fault.abort({ percent: 50 }));
    let message = '';
    try {
      faults.inject(w.product, w.listProducts, Fault.abort({ percent: 0, httpStatus: 42 }));
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split('\n').slice(1)).toEqual([
      "  - 'percent' (0) must be above 0 and at most 100",
      "  - 'httpStatus' (42) must be an HTTP status from 200 to 599",
      "  - route 'GET|HEAD /products' of 'product' already has a fault: one fault per route",
    ]);
  });

  it('fails synthesis when no fault was injected', () => {
    const w = world();
    new EdgeFaultInjection(w.chart, 'faults', { edge: w.edge, host: 'faults.chaos.example' });
    expect(() => Testing.synth(w.chart)).toThrow("EdgeFaultInjection 'faults' injects no fault: call inject(service, route, fault) at least once");
  });
});

describe('NaiveRetryAntiPattern', () => {
  it('retries the write on 5xx, resets and per-try timeouts on a dedicated edge host', () => {
    const w = world();
    new NaiveRetryAntiPattern(w.chart, 'naive', { edge: w.edge, host: 'naive.chaos.example', service: w.order, route: w.placeOrder });
    expect(vsNamed(w.chart, 'naive').spec).toEqual({
      hosts: ['naive.chaos.example'],
      gateways: ['istio-system/edge'],
      http: [
        {
          name: 'order-post-orders-naive-retry',
          match: [{ method: { exact: 'POST' }, uri: { exact: '/orders' } }],
          route: [{ destination: { host: 'order.shop.svc.cluster.local', port: { number: 8080 }, subset: 'v1' } }],
          timeout: '3s',
          retries: { attempts: 2, perTryTimeout: '1s', retryOn: '5xx,gateway-error,reset,connect-failure', backoff: '0.025s' },
        },
      ],
    });
  });

  it('is exactly what the shipped ResiliencePolicy refuses for a non-idempotent write', () => {
    const w = world();
    const naive = new NaiveRetryAntiPattern(w.chart, 'naive', { edge: w.edge, host: 'naive.chaos.example', service: w.order, route: w.placeOrder });
    expect(naive.unsafeConditions).toEqual(['5xx', 'gateway-error', 'reset']);
    const chart = new Chart(Testing.app(), 'probe', { namespace: 'shop' });
    const sameRoute = Route.write('POST', '/orders', {
      timeout: naive.timeout,
      retry: Retry.on(naiveRetryConditions, { attempts: 2, perTryTimeout: naive.perTryTimeout }),
    });
    expect(() => new ResiliencePolicy(chart, 'order', { service: 'order', port: 8080, routes: [sameRoute], replicas: 2 })).toThrow(
      'retries on 5xx,gateway-error,reset but the route is not idempotent, so a retry can apply the write twice',
    );
  });

  it('refuses an idempotent or read route: retrying those on 5xx is safe and demonstrates nothing', () => {
    const w = world();
    expect(() => new NaiveRetryAntiPattern(w.chart, 'naive', { edge: w.edge, host: 'naive.chaos.example', service: w.order, route: w.listOrders })).toThrow(
      "'route' (GET|HEAD /orders) is a read route: retrying it on 5xx is safe, so it demonstrates nothing; pass a Route.write (e.g. POST /orders)",
    );
  });

  it('refuses a per-try timeout that leaves no room for a retry, and a route the edge keeps closed', () => {
    const w = world();
    const internal = Route.write('POST', '/orders');
    const hidden = new MeshedService(w.chart, 'billing', { image: 'b:1', routes: [internal], replicas: 1 });
    let message = '';
    try {
      new NaiveRetryAntiPattern(w.chart, 'naive', {
        edge: w.edge,
        host: 'naive.chaos.example',
        service: hidden,
        route: internal,
        perTryTimeout: Duration.seconds(3),
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("route 'POST /orders' of 'billing' is not exposed by the edge 'edge'");
    expect(message).toContain("'perTryTimeout' (3s) must be at least 1ms and shorter than 'timeout' (3s), or no retry is ever made");
  });
});

describe('the chaos resources of the shipped platform', () => {
  const { shop } = buildPlatform();

  it('fault GET /products (abort) and GET /products/{id} (delay beyond its 2s timeout) on the faults host', () => {
    const { edgeFaults } = buildChaosApp(shop, mkdtempSync(join(tmpdir(), 'meshkit-chaos-')));
    expect(edgeFaults.host).toBe(chaosResources.edgeFaults.host);
    expect(edgeFaults.faults.map((f) => `${f.service.name} ${f.route.description}: ${f.fault.description}`)).toEqual([
      'product GET|HEAD /products: abort 50% with 503',
      'product GET|HEAD /products/{id}: delay 100% by 3s',
    ]);
    const delayed = edgeFaults.faults[1]!;
    expect(delayed.fault.fixedDelay!.toMilliseconds()).toBeGreaterThan(delayed.route.timeout.toMilliseconds());
  });

  it('points the naive retry at POST /orders with its 10s budget and a 500 ms per-try timeout', () => {
    const { naiveRetry } = buildChaosApp(shop, mkdtempSync(join(tmpdir(), 'meshkit-chaos-')));
    expect(naiveRetry.route.description).toBe('POST /orders');
    expect(naiveRetry.timeout.toMilliseconds()).toBe(10_000);
    expect(naiveRetry.perTryTimeout.toMilliseconds()).toBe(500);
  });

  it('synthesizes to dist/chaos/<chart>.yaml, deterministically', () => {
    const read = () => {
      const dir = mkdtempSync(join(tmpdir(), 'meshkit-chaos-'));
      try {
        const files = synthChaos(dir);
        return files.map((f) => [f.slice(dir.length + 1), readFileSync(f, 'utf8')] as const);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    const first = read();
    expect(first.map(([name]) => name)).toEqual(['edge-faults.yaml', 'naive-retry.yaml']);
    expect(read()).toEqual(first);
    const objects = first.flatMap(([, text]) => parseAllDocuments(text).map((d) => d.toJS() as Manifest));
    expect(objects.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)).toEqual([
      'VirtualService shop/edge-faults',
      'VirtualService shop/naive-retry',
    ]);
  });

  it("uses exact hosts, which Envoy prefers over the shipped edge VirtualService's wildcard", () => {
    const edgeHosts = find(synth(shop), 'VirtualService', 'edge').spec.hosts as string[];
    expect(edgeHosts).toEqual(['*']);
    const { edgeFaults, naiveRetry } = buildChaosApp(shop, mkdtempSync(join(tmpdir(), 'meshkit-chaos-')));
    expect(new Set([edgeFaults.host, naiveRetry.host]).size).toBe(2);
    for (const host of [edgeFaults.host, naiveRetry.host]) expect(host).toMatch(/^[a-z0-9.-]+\.chaos\.meshkit\.local$/);
  });
});
