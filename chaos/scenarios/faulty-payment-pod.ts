import { atLeast, meshOnly, notApplicable, formatPercent, type Check } from '../report.js';
import type { Scenario } from '../scenario.js';
import { describeCounts, healthyBaseline, ordersRunFor, rate, recovers, settleTimeoutMs, statusCounts, switchChaos } from './common.js';

const target = 'orders';

/**
 * 1. One payment pod answers half of its requests with 503 (its chaos switch). The order
 * service's sidecar retries charges on gateway errors (an idempotent write with a key), so
 * the client barely notices; outlier detection ejects the pod after 3 consecutive 5xx.
 */
export const faultyPaymentPod: Scenario = {
  id: 'faulty-payment-pod',
  number: 1,
  title: 'one payment pod fails 50% of its requests',
  expectation: 'mesh retries hide the faulty pod (orders still ≥ 98% confirmed), outlier detection ejects it, and after the revert everything is back to ~100%',
  defaults: {
    baselineMs: 15_000,
    duringMs: 30_000,
    afterMs: 15_000,
    ratePerSecond: 4,
    concurrency: 64,
    requestTimeoutMs: 15_000,
    restoreTimeoutMs: 10_000,
  },
  // On the local mesh (15 pods, 13 proxies and istiod on 2 shared cores) 4 orders/s starved the saga's 450–600 ms per-try budgets at baseline
  // (76% success, 504s, 2026-12-02); at 2/s the baseline held. The longer fault phase keeps the ejection (3 consecutive 5xx seen by one
  // order sidecar) as likely as at 4/s over 30 s.
  meshDefaults: { ratePerSecond: 2, duringMs: 45_000 },
  unsupported: () => undefined,
  notes: (env) =>
    env.mode === 'local'
      ? [
          'local mode has no mesh: no sidecar retries the failed charges and nothing ejects the pod, so the drop shows in full and the verdict is EXPECTED FAIL (the retries check needs a mesh).',
          'what local mode validates: the load generator, the measurements and this report, plus the app-level behaviour (failed charges cancel the order or leave it to the recovery sweep; none stays stuck).',
        ]
      : ['retries and ejections are read from the Envoy stats of the order pods’ sidecars (the callers of payment).'],
  async prepare(ctx) {
    const { env } = ctx;
    const { stock, users } = await ordersRunFor(ctx, 'payment');
    const payment = env.serviceMetrics('payment');
    const envoy = env.envoy?.('order', 'payment');
    let settled: ReturnType<typeof statusCounts> = {};
    return {
      targets: [ctx.workload.ordersTarget({ name: target, users, stock })],
      figures: [
        { label: 'payment 503s', collector: payment, name: 'payment.503' },
        ...(envoy
          ? [
              { label: 'retries', collector: envoy, name: 'envoy.retries' },
              { label: 'ejections', collector: envoy, name: 'envoy.ejections' },
              { label: 'ejected at end', collector: envoy, name: 'envoy.ejected_now', kind: 'gauge' as const },
            ]
          : []),
      ],
      async inject() {
        const pods = await env.instances('payment');
        const victim = pods[0]!;
        const revert = await switchChaos(ctx, 'payment', [victim], { failRate: 0.5, latencyMs: 0 });
        return { description: `chaos switch failRate 0.5 on ${victim} (1 of ${pods.length} payment instance${pods.length > 1 ? 's' : ''})`, revert };
      },
      async verify() {
        const final = await ctx.workload.settle(users, settleTimeoutMs(ctx), ctx.sleep);
        settled = statusCounts(final);
        return [`orders after settling: ${describeCounts(settled)} (the recovery sweep finishes compensations of stale PENDING orders)`];
      },
      checks(results): Check[] {
        const checks: Check[] = [healthyBaseline(results, [target])];
        checks.push(atLeast('the faulty pod really failed requests (payment answered 503s during the fault)', results.figure('payment 503s', 'during'), 1));
        checks.push(
          meshOnly(
            atLeast(
              'orders stay ≥ 98% confirmed while one payment pod fails half its requests (retries hide it)',
              rate(results, target, 'during'),
              0.98,
              formatPercent,
              env.mode === 'local' ? 'no mesh here: nothing retries, so the failed charges reach the saga — the expected local result' : undefined,
            ),
          ),
        );
        if (envoy) {
          checks.push(atLeast('the order sidecars retried the failed charges', results.figure('retries', 'during'), 1));
          checks.push(atLeast('outlier detection ejected the faulty pod at least once', results.figure('ejections', 'during'), 1));
        } else {
          checks.push(notApplicable('the order sidecars retried the failed charges', 'retries are an Envoy feature: there is no sidecar in local mode'));
          checks.push(notApplicable('outlier detection ejected the faulty pod', 'ejection is an Envoy feature: there is no sidecar in local mode'));
        }
        checks.push(recovers(results, target));
        checks.push({
          expectation: 'no order stays PENDING once the recovery sweep had its time',
          observed: `${settled.PENDING ?? 0} PENDING of ${Object.values(settled).reduce((a, b) => a + b, 0)}`,
          outcome: (settled.PENDING ?? 0) === 0 && Object.keys(settled).length > 0 ? 'pass' : 'fail',
        });
        return checks;
      },
    };
  },
};
