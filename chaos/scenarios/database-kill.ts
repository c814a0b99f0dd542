import { meshRoute, serviceSpec, type ServiceName } from '../../charts/platform.js';
import { callOf } from '../../cli/smoke.js';
import { edgeAuth, notification, product } from '../../contract/index.js';
import { atLeast, atMost, formatMs, formatPercent, type Check } from '../report.js';
import type { Scenario } from '../scenario.js';
import { bearer } from '../workload.js';
import { healthyBaseline, rate, rateOf } from './common.js';

const victim: ServiceName = product.name;
const affected = 'products (its database killed)';
const others = ['jwks (user)', 'notifications (notification)'];
/** The read route timeout at the edge: a failing product must answer within it, not hang. */
const readTimeoutMs = meshRoute(product.routes.list).timeout.toMilliseconds();

/**
 * 6. The product database pod is killed (grace period 0). Product degrades — its readiness
 * fails and the mesh routes around nothing, so it answers errors fast — while user and
 * notification, with databases of their own, keep serving. When the StatefulSet's new pod is
 * ready, product recovers by itself.
 */
export const databaseKill: Scenario = {
  id: 'database-kill',
  number: 6,
  title: 'the product database pod is killed',
  expectation: 'product degrades (errors answered fast, never hanging), the other services keep serving (≥ 99%), product recovers when its database is back',
  defaults: {
    baselineMs: 10_000,
    duringMs: 10_000,
    afterMs: 20_000,
    ratePerSecond: 9,
    concurrency: 200,
    requestTimeoutMs: 15_000,
    restoreTimeoutMs: 180_000,
  },
  unsupported: (env) =>
    env.killDatabase
      ? undefined
      : 'locally each service’s database is embedded in its process (PGlite) or shared: there is no database process of one service to kill (run it on the kind cluster)',
  notes: (env) => [
    env.mode === 'mesh'
      ? 'the database’s process is killed (SIGKILL) and restarted by the kubelet; the fault phase lasts until it and then every product pod are ready again (up to the restore timeout).'
      : 'the fault phase lasts until the StatefulSet’s replacement pod and then every product pod are ready again (up to the restore timeout).',
    'orders are left out of the load on purpose: they need product, so they degrade with it; this scenario is about services that do not.',
  ],
  async prepare(ctx) {
    const { env } = ctx;
    const [user] = await ctx.workload.users(1, 'db');
    const replicas = serviceSpec(victim).replicas;
    return {
      targets: [
        { name: affected, prepare: () => callOf(product.routes.list) },
        { name: others[0]!, prepare: () => callOf(edgeAuth.jwks) },
        { name: others[1]!, prepare: () => ({ ...callOf(notification.routes.list), headers: bearer(user!) }) },
      ],
      figures: [{ label: 'product 5xx', collector: env.serviceMetrics(victim), name: `${victim}.5xx` }],
      async inject() {
        const outage = await env.killDatabase!(victim);
        return {
          description: outage.description,
          revert: async () => {
            const restored = await outage.restore(ctx.timings.restoreTimeoutMs);
            const deadline = Date.now() + ctx.timings.restoreTimeoutMs;
            let ready = await env.instances(victim).catch(() => []);
            while (ready.length < replicas && Date.now() < deadline && !ctx.interrupted()) {
              await ctx.sleep(1_000);
              ready = await env.instances(victim).catch(() => []);
            }
            return `${restored}; ${ready.length} of ${replicas} ${victim} pods ready`;
          },
        };
      },
      checks(results): Check[] {
        const during = results.stats(affected, 'during');
        return [
          healthyBaseline(results, [affected, ...others]),
          atLeast('the other services keep serving: ≥ 99% success during the outage', rateOf(results, others, 'during'), 0.99, formatPercent),
          atMost(
            `product answers fast instead of hanging: p99 ≤ ${formatMs(readTimeoutMs + 500)} (its ${formatMs(readTimeoutMs)} route timeout)`,
            during.latency.percentile(99),
            readTimeoutMs + 500,
            formatMs,
          ),
          atLeast('product recovers once its database is back: ≥ 95% success after', rate(results, affected, 'after'), 0.95, formatPercent),
        ];
      },
    };
  },
};
