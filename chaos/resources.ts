import { App, Chart, Duration } from 'cdk8s';
import { serviceSpec, type ServiceName } from '../charts/platform.js';
import type { ShopChart } from '../charts/shop-chart.js';
import { EdgeFaultInjection, Fault, NaiveRetryAntiPattern } from './constructs/fault-injection.js';
import type { Route } from '../mesh/route.js';

/**
 * The mesh resources the chaos scenarios apply and delete, synthesized by constructs from
 * the platform (`npm run chaos -- synth` writes them to dist/chaos/). Everything a scenario
 * needs to know about them (hosts, percentages, delays) is read from here, so the YAML and
 * the expectations cannot drift apart.
 */
export const chaosResources = {
  /** Scenario 4: Istio faults at the edge, on a dedicated virtual host. */
  edgeFaults: {
    chart: 'edge-faults',
    host: 'faults.chaos.meshkit.local',
    abort: { service: 'product' as ServiceName, route: 'GET|HEAD /products', percent: 50, httpStatus: 503 },
    delay: { service: 'product' as ServiceName, route: 'GET|HEAD /products/{id}', fixedDelay: Duration.seconds(3) },
  },
  /** Scenario 7: naive 5xx retries of a non-idempotent write, on a dedicated virtual host. */
  naiveRetry: {
    chart: 'naive-retry',
    host: 'naive-retry.chaos.meshkit.local',
    service: 'order' as ServiceName,
    route: 'POST /orders',
    attempts: 2,
    /** Shorter than the order saga takes when product answers late (two product calls per saga), longer than it takes otherwise. */
    perTryTimeout: Duration.millis(500),
  },
} as const;

/** The route of the platform model with this description ("GET|HEAD /products"). */
export function modelRoute(service: ServiceName, description: string): Route {
  const route = serviceSpec(service).routes.find((r) => r.description === description);
  if (!route) throw new Error(`the platform model's service '${service}' declares no route '${description}'`);
  return route;
}

export interface ChaosApp {
  readonly app: App;
  readonly edgeFaults: EdgeFaultInjection;
  readonly naiveRetry: NaiveRetryAntiPattern;
}

/** The chaos resources as a cdk8s App (one chart per scenario resource set) built on the platform's shop chart. */
export function buildChaosApp(shop: ShopChart, outdir = 'dist/chaos'): ChaosApp {
  const app = new App({ outdir, outputFileExtension: '.yaml' });
  const namespace = shop.namespace;
  const { edgeFaults: ef, naiveRetry: nr } = chaosResources;

  const faultsChart = new Chart(app, ef.chart, { namespace });
  const edgeFaults = new EdgeFaultInjection(faultsChart, ef.chart, { edge: shop.edge, host: ef.host });
  const product = shop.service(ef.abort.service);
  edgeFaults.inject(product, product.routesNamed([ef.abort.route])[0]!, Fault.abort({ percent: ef.abort.percent, httpStatus: ef.abort.httpStatus }));
  const delayed = shop.service(ef.delay.service);
  edgeFaults.inject(delayed, delayed.routesNamed([ef.delay.route])[0]!, Fault.delay({ fixedDelay: ef.delay.fixedDelay }));

  const naiveChart = new Chart(app, nr.chart, { namespace });
  const order = shop.service(nr.service);
  const naiveRetry = new NaiveRetryAntiPattern(naiveChart, nr.chart, {
    edge: shop.edge,
    host: nr.host,
    service: order,
    route: order.routesNamed([nr.route])[0]!,
    attempts: nr.attempts,
    perTryTimeout: nr.perTryTimeout,
  });
  return { app, edgeFaults, naiveRetry };
}
