import { meshRoute } from '../../charts/platform.js';
import { order } from '../../contract/index.js';
import type { LoadTarget } from '../../load/generator.js';
import { atLeast, atMost, formatMs, formatPercent, type Check } from '../report.js';
import type { Scenario } from '../scenario.js';
import type { OrderView } from '../workload.js';
import { answeredRate, describeCounts, healthyBaseline, ordersRunFor, recovers, settleTimeoutMs, statusCounts, switchChaos } from './common.js';

const target = 'orders';
/** Longer than every product route's timeout (1.5s in the mesh, 2s HTTP client locally): each saga call to product times out. */
export const productLatencyMs = 2_500;
/** The mesh's budget of POST /orders (charts/platform.ts): the saga, compensations included, must answer within it. */
export const orderBudgetMs = meshRoute(order.routes.place).timeout.toMilliseconds();

/**
 * 2. Every product instance answers 2.5 s late. The order saga's calls to product time out
 * (the mesh's 1.5 s route timeout, or the order service's HTTP client timeout locally), the
 * saga compensates, the order answers within its budget, and the recovery sweep finishes
 * whatever compensation could not: no order stays PENDING, no stock is lost.
 */
export const slowProduct: Scenario = {
  id: 'slow-product',
  number: 2,
  title: 'the product service answers 2.5 s late',
  expectation: `timeouts bound the order latency (p99 ≤ ${orderBudgetMs / 1000}s, every order answered), the saga compensates, no order stays PENDING and no stock is lost`,
  defaults: {
    baselineMs: 10_000,
    duringMs: 20_000,
    afterMs: 10_000,
    ratePerSecond: 2,
    concurrency: 64,
    requestTimeoutMs: 20_000,
    restoreTimeoutMs: 10_000,
  },
  unsupported: () => undefined,
  notes: (env) =>
    env.mode === 'local'
      ? [
          'local mode: the timeouts that fire are the order service’s own HTTP client timeouts (HTTP_CLIENT_TIMEOUT_MS, derived from the mesh timeouts plus a margin), not Envoy’s; saga compensation and the recovery sweep are app behaviour and show the same.',
        ]
      : ['on the cluster each call to product is cut by the mesh (1.5 s timeout, 450 ms per try); its retries also time out, so the saga sees 504s.'],
  async prepare(ctx) {
    const { env } = ctx;
    const { stock, users } = await ordersRunFor(ctx, 'slow');
    const before = new Map((await ctx.workload.products()).map((p) => [p.id, p.available]));
    const product = env.serviceMetrics('product');
    const order = env.serviceMetrics('order');
    let final: OrderView[] = [];
    let stockLost: number | undefined;
    const orders$: LoadTarget = ctx.workload.ordersTarget({ name: target, users, stock });
    return {
      targets: [orders$],
      figures: [
        { label: 'product requests', collector: product, name: 'product.requests' },
        { label: 'order 5xx', collector: order, name: 'order.5xx' },
        ...(env.envoy ? [{ label: 'timeouts order→product', collector: env.envoy('order', 'product'), name: 'envoy.timeouts' }] : []),
      ],
      async inject() {
        const pods = await env.instances('product');
        const revert = await switchChaos(ctx, 'product', pods, { failRate: 0, latencyMs: productLatencyMs });
        return { description: `chaos switch latencyMs ${productLatencyMs} on every product instance (${pods.join(', ')})`, revert };
      },
      async verify() {
        final = await ctx.workload.settle(users, settleTimeoutMs(ctx), ctx.sleep);
        const after = new Map((await ctx.workload.products()).map((p) => [p.id, p.available]));
        let confirmedUnits = 0;
        for (const o of final) if (o.status === 'CONFIRMED') for (const i of o.items) confirmedUnits += i.quantity;
        let taken = 0;
        for (const [id, was] of before) taken += was - (after.get(id) ?? was);
        stockLost = taken - confirmedUnits;
        const confirmedDuring = ctx.workload.placed.filter((p) => p.phase === 'during' && p.status === 'CONFIRMED').length;
        return [
          `orders after settling: ${describeCounts(statusCounts(final))}`,
          `orders confirmed while product was slow: ${confirmedDuring}`,
          `stock: ${taken} units left the shelves, ${confirmedUnits} units are in confirmed orders (other traffic on the shop would skew this)`,
        ];
      },
      checks(results): Check[] {
        const during = results.stats(target, 'during');
        const compensated = ctx.workload.placed.filter((p) => p.phase === 'during' && (p.status === 'CANCELLED' || p.status === 'PENDING')).length;
        return [
          healthyBaseline(results, [target]),
          atLeast('the fault bit: orders placed while product was slow were compensated (CANCELLED, or PENDING for the sweep)', compensated, 1),
          atMost(
            `order latency stays bounded: p99 ≤ ${orderBudgetMs / 1000}s (the POST /orders budget)`,
            during.latency.percentile(99),
            orderBudgetMs,
            formatMs,
          ),
          atLeast(
            'every order is answered with an order (200/201/202: confirmed, cancelled or pending), none hangs or fails with 5xx',
            answeredRate(results, target, 'during'),
            0.99,
            formatPercent,
          ),
          {
            expectation: 'no order stays PENDING once the recovery sweep had its time',
            observed: `${final.filter((o) => o.status === 'PENDING').length} PENDING of ${final.length}`,
            outcome: final.length > 0 && final.every((o) => o.status !== 'PENDING') ? 'pass' : 'fail',
          },
          {
            expectation: 'no stock is lost: units taken from the shelves = units in confirmed orders',
            observed: stockLost === undefined ? 'not measured' : `${stockLost} units unaccounted for`,
            outcome: stockLost === 0 ? 'pass' : 'fail',
          },
          recovers(results, target, 0.95),
        ];
      },
    };
  },
};
