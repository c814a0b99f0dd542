import { App, Chart, Duration } from 'cdk8s';
import { meshRoute } from '../charts/platform.js';
import type { ShopChart } from '../charts/shop-chart.js';
import { order, product } from '../contract/index.js';
import { EdgeFaultInjection, Fault, NaiveRetryAntiPattern } from './constructs/fault-injection.js';

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
    abort: { route: product.routes.list, percent: 50, httpStatus: 503 },
    delay: { route: product.routes.get, fixedDelay: Duration.seconds(3) },
  },
  /** Scenario 7: naive 5xx retries of a non-idempotent write, on a dedicated virtual host. */
  naiveRetry: {
    chart: 'naive-retry',
    host: 'naive-retry.chaos.meshkit.local',
    route: order.routes.place,
    attempts: 2,
    /** Shorter than the order saga takes when product answers late (two product calls per saga), longer than it takes otherwise. */
    perTryTimeout: Duration.millis(500),
  },
} as const;

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
  edgeFaults.inject(
    shop.service(ef.abort.route.service),
    meshRoute(ef.abort.route),
    Fault.abort({ percent: ef.abort.percent, httpStatus: ef.abort.httpStatus }),
  );
  edgeFaults.inject(shop.service(ef.delay.route.service), meshRoute(ef.delay.route), Fault.delay({ fixedDelay: ef.delay.fixedDelay }));

  const naiveChart = new Chart(app, nr.chart, { namespace });
  const naiveRetry = new NaiveRetryAntiPattern(naiveChart, nr.chart, {
    edge: shop.edge,
    host: nr.host,
    service: shop.service(nr.route.service),
    route: meshRoute(nr.route),
    attempts: nr.attempts,
    perTryTimeout: nr.perTryTimeout,
  });
  return { app, edgeFaults, naiveRetry };
}
