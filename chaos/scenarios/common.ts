import type { ChaosSettings } from '../../apps/kit/chaos.js';
import type { ServiceName } from '../../charts/platform.js';
import { formatMs, formatPercent, type Check } from '../report.js';
import type { PhaseName, Results, ScenarioContext, Timings } from '../scenario.js';
import { StockPlan, usersFor, type OrderView, type ShopUser } from '../workload.js';
import { combineStats, successRate } from '../../load/generator.js';

export { formatMs, formatPercent };

/** Requests a run may send at most at `share` of the rate (phases plus the restore wait). */
export function plannedRequests(t: Timings, share = 1): number {
  return Math.ceil((t.ratePerSecond * share * (t.baselineMs + t.duringMs + t.afterMs + t.restoreTimeoutMs)) / 1000) + 5;
}

/** Units per product a cluster run tops the stock up to when it would not last (the shop has no restock API). */
export const restockUnits = 5_000;

/**
 * Products to order from, with enough stock for `orders` orders of one unit. When the stock left
 * (by earlier scenarios, or anything else) would not last, the product database is topped up
 * first (a step in the report), so a scenario never depends on what ran before it.
 */
export async function stockFor(ctx: ScenarioContext, orders: number): Promise<StockPlan> {
  let products = await ctx.workload.products();
  let plan = new StockPlan(products);
  if (plan.total >= orders) return plan;
  if (!ctx.env.restock) {
    throw new Error(
      `the run may place ${orders} orders but only ${plan.total} units are in stock and this environment cannot restock; lower the rate or the phase lengths`,
    );
  }
  ctx.step(`restock: ${await ctx.env.restock(restockUnits)}`);
  products = await ctx.workload.products();
  plan = new StockPlan(products);
  if (plan.total < orders) throw new Error(`after the restock only ${plan.total} units are in stock, fewer than the ${orders} orders the run may place`);
  return plan;
}

/** Fresh users for an orders target that places at most `orders` orders. */
export async function usersForOrders(ctx: ScenarioContext, label: string, orders: number): Promise<ShopUser[]> {
  return ctx.workload.users(usersFor(orders), label);
}

/**
 * What an orders target needs for a whole run at the full rate (phases plus the restore wait):
 * stock for every order it may place (topped up first if it would not last) and fresh users
 * labelled `label` to place them.
 */
export async function ordersRunFor(ctx: ScenarioContext, label: string): Promise<{ stock: StockPlan; users: ShopUser[] }> {
  const orders = plannedRequests(ctx.timings);
  const stock = await stockFor(ctx, orders);
  return { stock, users: await usersForOrders(ctx, label, orders) };
}

/**
 * Turns the run-time chaos switch of each of `instances` of `service` to `settings`; returns the
 * revert, which resets each of them and says so in the report's words.
 */
export async function switchChaos(
  ctx: ScenarioContext,
  service: ServiceName,
  instances: readonly string[],
  settings: ChaosSettings,
): Promise<() => Promise<string>> {
  for (const instance of instances) await ctx.env.setChaos(service, instance, settings);
  return async () => {
    for (const instance of instances) await ctx.env.clearChaos(service, instance);
    return `chaos switch reset on ${instances.join(', ')}`;
  };
}

/** The first product the shop lists: the one a read scenario asks for. */
export async function firstProduct(ctx: ScenarioContext): Promise<{ id: string }> {
  const [first] = await ctx.workload.products();
  if (!first) throw new Error('the shop lists no product');
  return first;
}

/** How long the order service's recovery sweep may take to finish a stale order, with a margin. */
export function settleTimeoutMs(ctx: ScenarioContext): number {
  return ctx.env.orderSweep.staleMs + 2 * ctx.env.orderSweep.intervalMs + 15_000;
}

/** Final statuses of orders, by status. */
export function statusCounts(orders: readonly OrderView[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of orders) counts[o.status] = (counts[o.status] ?? 0) + 1;
  return counts;
}

export const describeCounts = (counts: Readonly<Record<string, number>>) =>
  Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';

/** Success rate of a target in a phase. */
export function rate(results: Results, target: string, phase: PhaseName): number | undefined {
  return successRate(results.stats(target, phase));
}

/** Success rate of several targets together. */
export function rateOf(results: Results, targets: readonly string[], phase: PhaseName): number | undefined {
  return successRate(
    combineStats(
      'all',
      phase,
      targets.map((t) => results.stats(t, phase)),
    ),
  );
}

/** The check every scenario ends with: after the revert, the target serves as in the baseline. */
export function recovers(results: Results, target: string, min = 0.99): Check {
  const value = rate(results, target, 'after');
  return {
    expectation: `after the revert ${target} succeed again (≥ ${formatPercent(min)})`,
    observed: formatPercent(value),
    outcome: value !== undefined && value >= min ? 'pass' : 'fail',
  };
}

/** The scenario did bite: the baseline was healthy, so what the other checks see comes from the fault. */
export function healthyBaseline(results: Results, targets: readonly string[], min = 0.95): Check {
  const value = rateOf(results, targets, 'baseline');
  return {
    expectation: `the baseline is healthy (≥ ${formatPercent(min)} success), so what follows comes from the fault`,
    observed: formatPercent(value),
    outcome: value !== undefined && value >= min ? 'pass' : 'fail',
    baseline: true,
  };
}

/** Share of a phase's order requests that got an order back (200/201/202: confirmed, cancelled or pending), whatever its outcome. */
export function answeredRate(results: Results, target: string, phase: PhaseName): number | undefined {
  const stats = results.stats(target, phase);
  const due = stats.sent + stats.dropped;
  if (due === 0) return undefined;
  const answered = Object.entries(stats.statuses)
    .filter(([key]) => /^20[012]( |$)/.test(key))
    .reduce((a, [, n]) => a + n, 0);
  return answered / due;
}
