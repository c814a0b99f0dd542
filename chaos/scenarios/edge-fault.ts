import { callOf } from '../../cli/smoke.js';
import { chaosResources } from '../resources.js';
import { atLeast, atMost, between, formatMs, formatPercent, type Check } from '../report.js';
import type { Scenario } from '../scenario.js';
import { firstProduct, healthyBaseline, rate, recovers } from './common.js';

const abortTarget = 'products via the fault host (abort)';
const delayTarget = 'product via the fault host (delay)';
const controlTarget = 'products via the shipped host';
const { host, abort, delay } = chaosResources.edgeFaults;
const delayMs = delay.fixedDelay.toMilliseconds();

/**
 * 4. Istio fault injection at the edge (dist/chaos/edge-faults.yaml): on a dedicated host,
 * GET /products is aborted 50% with 503 and GET /products/{id} is delayed 3 s. The known
 * limit, shown as it is: the fault filter acts before Envoy's router, so the aborts reach the
 * client unretried and the delay is not cut by the route's 2 s timeout (see Fault).
 * The same operations through the shipped host are untouched.
 */
export const edgeFault: Scenario = {
  id: 'edge-fault',
  number: 4,
  title: 'Istio fault injection at the edge (abort and delay)',
  expectation: `about ${abort.percent}% of the faulted requests fail and nothing retries them; the ${delayMs / 1000}s delay is not cut by the route's timeout; the shipped host is untouched`,
  defaults: {
    baselineMs: 10_000,
    duringMs: 30_000,
    afterMs: 10_000,
    ratePerSecond: 6,
    concurrency: 200,
    requestTimeoutMs: 15_000,
    restoreTimeoutMs: 10_000,
  },
  unsupported: (env) =>
    env.applyResources
      ? undefined
      : 'Istio fault injection needs the mesh: the local edge has no fault filter (run it on the kind cluster: make chaos SCENARIO=edge-fault)',
  notes: () => [
    `Istio's documented limit: "timeouts or retries will not be enabled when faults are enabled" on a route (istio/istio#13705). The faulted routes carry the shipped retries and timeout in their YAML, and this run measures that they do nothing.`,
    `before the fault resource is applied and after it is deleted, requests to ${host} take the edge's own routes (its hosts are '*').`,
  ],
  async prepare(ctx) {
    const { env } = ctx;
    const first = await firstProduct(ctx);
    const envoy = env.envoy?.('gateway', 'product');
    return {
      targets: [
        { name: abortTarget, prepare: () => ({ ...callOf(abort.route), host }) },
        { name: delayTarget, prepare: () => ({ ...callOf(delay.route, { id: first.id }), host }) },
        { name: controlTarget, prepare: () => callOf(abort.route) },
      ],
      figures: envoy ? [{ label: 'gateway retries to product', collector: envoy, name: 'envoy.retries' }] : [],
      async inject() {
        const applied = await env.applyResources!(chaosResources.edgeFaults.chart);
        return { description: applied.description, revert: () => applied.remove() };
      },
      checks(results): Check[] {
        const delayed = results.stats(delayTarget, 'during');
        const after = results.stats(delayTarget, 'after');
        const expected = 1 - abort.percent / 100;
        const checks: Check[] = [
          healthyBaseline(results, [abortTarget, delayTarget, controlTarget]),
          between(
            `about ${abort.percent}% of the aborted route's requests fail: success ${formatPercent(expected - 0.15)}–${formatPercent(expected + 0.2)} (retries would lift it to ≥ 87%)`,
            rate(results, abortTarget, 'during'),
            expected - 0.15,
            expected + 0.2,
            formatPercent,
          ),
        ];
        if (envoy)
          checks.push(atMost('the gateway made no retries to product while those requests failed', results.figure('gateway retries to product', 'during'), 0));
        checks.push(
          atLeast(
            `the ${delayMs / 1000}s delay is not cut by the route's 2s timeout: p50 of the delayed route ≥ ${formatMs(delayMs - 100)}`,
            delayed.latency.percentile(50),
            delayMs - 100,
            formatMs,
          ),
          atLeast('the delayed requests still succeed (≥ 95%)', rate(results, delayTarget, 'during'), 0.95, formatPercent),
          atLeast('the shipped host is untouched: ≥ 99% success during the fault', rate(results, controlTarget, 'during'), 0.99, formatPercent),
          recovers(results, abortTarget),
          atMost('after the revert the delay is gone: p50 of the formerly delayed route < 1s', after.latency.percentile(50), 1_000, formatMs),
        );
        return checks;
      },
    };
  },
};
