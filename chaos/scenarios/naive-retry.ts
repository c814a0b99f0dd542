import { meshRoute } from '../../charts/platform.js';
import { product } from '../../contract/index.js';
import { chaosResources } from '../resources.js';
import type { ClientRetryPolicy } from '../../load/generator.js';
import { atLeast, atMost, type Check } from '../report.js';
import type { Scenario } from '../scenario.js';
import type { ShopUser } from '../workload.js';
import { healthyBaseline, plannedRequests, settleTimeoutMs, stockFor, switchChaos, usersForOrders } from './common.js';

const naive = 'naive retries';
const naiveKeyed = 'naive retries + Idempotency-Key';
const shipped = 'shipped policy';
const { host, attempts, perTryTimeout } = chaosResources.naiveRetry;
/**
 * Latency added to product. The saga calls product twice (reserve, commit), so an order
 * takes over 2 × 300 ms: longer than the naive 500 ms per try, so each try is cut while the
 * saga is running (the order row already exists and the saga goes on), yet each product call
 * stays within the mesh's 450 ms per-try timeout, so the saga itself succeeds. (Slowing the
 * order service itself would not do: its chaos latency runs before the body is read, and a
 * try cut there is never applied.)
 */
export const productLatencyMs = 300;
const internalPerTryMs = meshRoute(product.routes.reserve).perTryTimeout.toMilliseconds();

/** The naive policy as the load generator applies it where no Envoy does (local mode): the same numbers as dist/chaos/naive-retry.yaml. */
export const emulatedNaiveRetry: ClientRetryPolicy = {
  attempts,
  perTryTimeoutMs: perTryTimeout.toMilliseconds(),
  // 5xx, gateway-error, reset, connect-failure: any 5xx, and any try without an answer.
  retryOn: (answer) => answer.status === 0 || answer.status >= 500,
};

/**
 * 7. The anti-pattern on request: POST /orders (not idempotent without a client key)
 * behind a policy that retries on 5xx and per-try timeouts. Product is slowed by 300 ms,
 * so the order saga (two product calls) outlasts the naive 500 ms per try; each try is cut
 * while the saga runs on and confirms the order, and the retry places it again. The shipped policy (retry only where the request cannot have reached the app)
 * places each order once, and so does the naive policy when the client sends an
 * Idempotency-Key, which the order service deduplicates on.
 */
export const naiveRetry: Scenario = {
  id: 'naive-retry',
  number: 7,
  title: 'naive 5xx retries of a non-idempotent write (the anti-pattern, on request)',
  expectation: 'the naive policy places orders more than once; the shipped policy, and the naive one with an Idempotency-Key, place each order exactly once',
  defaults: {
    baselineMs: 10_000,
    duringMs: 20_000,
    afterMs: 5_000,
    ratePerSecond: 3,
    concurrency: 64,
    requestTimeoutMs: 15_000,
    restoreTimeoutMs: 10_000,
  },
  // On the local mesh at 3/s the naive 500 ms per try already cut baseline orders (9 of 17 naive requests 504, 2026-12-02: every cut
  // try starts another saga, which slows the next); 1.5/s leaves the baseline saga (p50 155 ms, p99 0.8 s at 2/s) inside it.
  meshDefaults: { ratePerSecond: 1.5 },
  unsupported: () => undefined,
  notes: (env) =>
    env.mode === 'local'
      ? [
          `local mode has no Envoy: the load generator applies the naive policy itself (${attempts} retries, ${perTryTimeout.toMilliseconds()} ms per try, on any 5xx or a try without an answer) — the same numbers as dist/chaos/naive-retry.yaml. The duplicates are the app's real behaviour.`,
        ]
      : [`the naive policy is dist/chaos/naive-retry.yaml on the dedicated host ${host}, applied for the whole run and deleted at the end.`],
  async prepare(ctx) {
    const { env, timings } = ctx;
    const perTarget = plannedRequests(timings, 1 / 3);
    // Each naive request may place up to attempts + 1 orders.
    const stock = await stockFor(ctx, perTarget * (attempts + 1) * 2 + perTarget);
    const users: Record<string, ShopUser[]> = {
      [naive]: await usersForOrders(ctx, 'naive', perTarget * (attempts + 1)),
      [naiveKeyed]: await usersForOrders(ctx, 'naivekey', perTarget),
      [shipped]: await usersForOrders(ctx, 'shipped', perTarget),
    };
    const cluster = env.applyResources !== undefined;
    const applied = cluster ? await env.applyResources!(chaosResources.naiveRetry.chart) : undefined;
    if (applied) ctx.step(`setup: ${applied.description} (the naive policy, for the whole run)`);
    const viaNaive = cluster ? { host } : { retry: emulatedNaiveRetry };
    const created: Record<string, number> = {};
    const sent: Record<string, number> = {};
    return {
      targets: [
        ctx.workload.ordersTarget({ name: naive, users: users[naive]!, stock, ...viaNaive }),
        ctx.workload.ordersTarget({ name: naiveKeyed, users: users[naiveKeyed]!, stock, idempotencyKey: true, ...viaNaive }),
        ctx.workload.ordersTarget({ name: shipped, users: users[shipped]!, stock }),
      ],
      figures: [
        { label: 'order requests served', collector: env.serviceMetrics('order'), name: 'order.requests' },
        { label: 'payment requests', collector: env.serviceMetrics('payment'), name: 'payment.requests' },
      ],
      async inject() {
        const pods = await env.instances('product');
        const revert = await switchChaos(ctx, 'product', pods, { failRate: 0, latencyMs: productLatencyMs });
        return {
          description: `chaos switch latencyMs ${productLatencyMs} on every product instance (${pods.join(', ')}): an order now takes longer than the naive ${perTryTimeout.toMilliseconds()} ms per try, each product call still less than the mesh's ${internalPerTryMs} ms`,
          revert,
        };
      },
      async verify() {
        const lines: string[] = [];
        for (const [name, list] of Object.entries(users)) {
          const orders = await ctx.workload.settle(list, settleTimeoutMs(ctx), ctx.sleep);
          created[name] = orders.length;
          sent[name] = (ctx.workload.sentByTarget.get(name) ?? []).reduce((a, b) => a + b, 0);
          lines.push(`${name}: ${sent[name]} order requests → ${created[name]} orders`);
        }
        return lines;
      },
      checks(results): Check[] {
        const extra = (name: string) => (created[name] === undefined || sent[name] === undefined ? undefined : created[name]! - sent[name]!);
        const format = (name: string) => (n: number) => `${n} extra orders (${sent[name]} requests → ${created[name]} orders)`;
        return [
          healthyBaseline(results, [naive, naiveKeyed, shipped]),
          atLeast('the naive policy duplicates the write: more orders than requests', extra(naive), 1, format(naive)),
          atMost('the shipped policy places each order exactly once', extra(shipped), 0, format(shipped)),
          atMost('with an Idempotency-Key even the naive retries place each order once', extra(naiveKeyed), 0, format(naiveKeyed)),
        ];
      },
      cleanup: applied ? () => applied.remove() : undefined,
    };
  },
};
