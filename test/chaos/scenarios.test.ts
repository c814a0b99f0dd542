import { describe, expect, it } from 'vitest';
import { clientTimeoutMarginMs, meshRoute } from '../../charts/platform.js';
import { chaosResources } from '../../chaos/resources.js';
import { product } from '../../contract/index.js';
import { auditEvents } from '../../chaos/scenarios/kafka-broker-kill.js';
import { emulatedNaiveRetry, productLatencyMs as naiveProductLatencyMs } from '../../chaos/scenarios/naive-retry.js';
import { overloadSizing } from '../../chaos/scenarios/overload.js';
import { orderBudgetMs, productLatencyMs as slowProductLatencyMs } from '../../chaos/scenarios/slow-product.js';
import { ordersRunFor, plannedRequests, switchChaos } from '../../chaos/scenarios/common.js';
import { scenarios } from '../../chaos/scenarios/index.js';
import { buildPlatform } from '../../charts/platform-app.js';
import type { ChaosEnvironment } from '../../chaos/environment.js';
import type { ScenarioContext, Timings } from '../../chaos/scenario.js';
import { describeOrderAnswer, orderAnswered, orderConfirmed, StockPlan, usersFor, type NotificationView, type OrderView } from '../../chaos/workload.js';

const answer = (status: number, body: unknown) => ({ status, headers: {}, body, latencyMs: 1 });

describe('the scenarios’ numbers against the platform model', () => {
  it('slow-product: the latency outlasts every product call budget of the saga, mesh and HTTP client alike', () => {
    for (const route of [product.routes.reserve, product.routes.commit, product.routes.release]) {
      const timeout = meshRoute(route).timeout.toMilliseconds();
      expect(slowProductLatencyMs).toBeGreaterThan(timeout + clientTimeoutMarginMs);
    }
    expect(orderBudgetMs).toBe(10_000);
  });

  it('naive-retry: two slowed product calls outlast the naive per-try timeout, one stays inside the mesh’s per-try timeout', () => {
    const naivePerTry = chaosResources.naiveRetry.perTryTimeout.toMilliseconds();
    expect(2 * naiveProductLatencyMs).toBeGreaterThan(naivePerTry);
    for (const route of [product.routes.reserve, product.routes.commit]) {
      expect(naiveProductLatencyMs).toBeLessThan(meshRoute(route).perTryTimeout.toMilliseconds() - 100);
    }
    expect(emulatedNaiveRetry.perTryTimeoutMs).toBe(naivePerTry);
    expect(emulatedNaiveRetry.attempts).toBe(chaosResources.naiveRetry.attempts);
    expect([emulatedNaiveRetry.retryOn(answer(503, '')), emulatedNaiveRetry.retryOn(answer(0, '')), emulatedNaiveRetry.retryOn(answer(409, ''))]).toEqual([
      true,
      true,
      false,
    ]);
  });

  it('overload: the added latency stays under the read route’s per-try timeout, so what is admitted is not retried', () => {
    expect(overloadSizing().latencyMs).toBeLessThan(meshRoute(product.routes.get).perTryTimeout.toMilliseconds());
  });

  it('overload: the rate holds more requests in flight than the synthesized pool of product admits and queues', () => {
    const rule = buildPlatform()
      .app.charts.flatMap((c) => c.toJson())
      .find((o) => o.kind === 'DestinationRule' && o.metadata.name === 'product');
    const pool = rule.spec.trafficPolicy.connectionPool;
    const { ratePerSecond, latencyMs, maxConnections, maxPendingRequests } = overloadSizing();
    expect([maxConnections, maxPendingRequests]).toEqual([pool.tcp.maxConnections, pool.http.http1MaxPendingRequests]);
    expect((ratePerSecond * latencyMs) / 1000).toBeGreaterThan(pool.tcp.maxConnections + pool.http.http1MaxPendingRequests);
  });

  it('edge-fault: the delay is longer than the faulted route’s timeout, so a working timeout would show', () => {
    const { delay } = chaosResources.edgeFaults;
    expect(delay.fixedDelay.toMilliseconds()).toBeGreaterThan(meshRoute(delay.route).timeout.toMilliseconds());
  });
});

describe('where each scenario can run', () => {
  const local = { mode: 'local' } as ChaosEnvironment;
  const localWithKafka = { mode: 'local', killKafkaBroker: async () => ({ description: '', restore: async () => '' }) } as unknown as ChaosEnvironment;

  it('runs 1, 2, 3 and 7 locally, 5 only with a broker of its own, and never 4 and 6', () => {
    expect(scenarios.filter((s) => s.unsupported(local) === undefined).map((s) => s.number)).toEqual([1, 2, 3, 7]);
    expect(scenarios.filter((s) => s.unsupported(localWithKafka) === undefined).map((s) => s.number)).toEqual([1, 2, 3, 5, 7]);
    expect(scenarios.find((s) => s.number === 6)!.unsupported(local)).toMatch(/embedded in its process \(PGlite\)/);
  });

  it('says in local mode what it cannot show for the mesh scenarios', () => {
    for (const n of [1, 3])
      expect(
        scenarios
          .find((s) => s.number === n)!
          .notes(local)
          .join(' '),
      ).toMatch(/EXPECTED FAIL/);
    expect(
      scenarios
        .find((s) => s.number === 7)!
        .notes(local)
        .join(' '),
    ).toMatch(/the load generator applies the naive policy itself/);
  });
});

describe('order answers', () => {
  it('count as confirmed, answered, and are described for the failure tally', () => {
    expect(orderConfirmed(answer(201, { status: 'CONFIRMED' }))).toBe(true);
    expect(orderConfirmed(answer(201, { status: 'CANCELLED' }))).toBe(false);
    expect(orderAnswered(answer(202, { status: 'PENDING' }))).toBe(true);
    expect(orderAnswered(answer(504, 'upstream request timeout'))).toBe(false);
    expect(describeOrderAnswer(answer(201, { status: 'CANCELLED', cancelReason: 'STEP_FAILED' }))).toBe('201 CANCELLED STEP_FAILED');
    expect(describeOrderAnswer(answer(503, 'no healthy upstream'))).toBe('503');
  });
});

describe('StockPlan', () => {
  it('orders from the product with the most stock left and never more than there is', () => {
    const plan = new StockPlan([
      { id: 'a', available: 2 },
      { id: 'b', available: 3 },
      { id: 'c', available: 0 },
    ]);
    expect(plan.total).toBe(5);
    expect(Array.from({ length: 5 }, () => plan.take())).toEqual(['b', 'a', 'b', 'a', 'b']);
    expect(() => plan.take()).toThrow('the run has ordered all the stock there was');
  });

  it('spreads orders so no user has more than GET /orders lists', () => {
    expect([usersFor(1), usersFor(40), usersFor(41), usersFor(400)]).toEqual([1, 1, 2, 10]);
  });
});

describe('the scenarios’ shared steps', () => {
  /** A context whose environment and workload only record what the step asked of them. */
  function recordingContext(calls: string[], timings: Timings, stock: number[]): ScenarioContext {
    const env: Partial<ChaosEnvironment> = {
      setChaos: async (service, instance, settings) => void calls.push(`set ${service} ${instance} ${settings.failRate} ${settings.latencyMs}`),
      clearChaos: async (service, instance) => void calls.push(`clear ${service} ${instance}`),
      restock: async (units) => {
        calls.push(`restock ${units}`);
        stock = stock.map(() => units);
        return `${units} units per product`;
      },
    };
    const workload = {
      products: async () => stock.map((available, i) => ({ id: `p${i}`, available })),
      users: async (count: number, label: string) => {
        calls.push(`users ${count} ${label}`);
        return [];
      },
    };
    return { env, workload, timings, step: (line: string) => void calls.push(`step ${line}`) } as unknown as ScenarioContext;
  }
  const timings: Timings = {
    baselineMs: 10_000,
    duringMs: 20_000,
    afterMs: 10_000,
    ratePerSecond: 3,
    concurrency: 8,
    requestTimeoutMs: 5_000,
    restoreTimeoutMs: 5_000,
  };

  it('switchChaos sets the switch of each instance; its revert resets each and says on which', async () => {
    const calls: string[] = [];
    const revert = await switchChaos(recordingContext(calls, timings, []), 'product', ['product-a', 'product-b'], { failRate: 0, latencyMs: 700 });
    expect(calls).toEqual(['set product product-a 0 700', 'set product product-b 0 700']);
    expect(await revert()).toBe('chaos switch reset on product-a, product-b');
    expect(calls.slice(2)).toEqual(['clear product product-a', 'clear product product-b']);
  });

  it('ordersRunFor stocks every order the run may place at the full rate (restocking first when short) and makes users for them', async () => {
    const orders = plannedRequests(timings);
    expect(orders).toBe(140);
    const calls: string[] = [];
    const { stock } = await ordersRunFor(recordingContext(calls, timings, [60, 70]), 'slow');
    expect(calls).toEqual(['restock 5000', 'step restock: 5000 units per product', `users ${usersFor(orders)} slow`]);
    expect(stock.total).toBe(10_000);

    const enough: string[] = [];
    expect((await ordersRunFor(recordingContext(enough, timings, [70, 70]), 'kafka')).stock.total).toBe(140);
    expect(enough).toEqual([`users ${usersFor(orders)} kafka`]);
  });
});

describe('the event audit of kafka-broker-kill', () => {
  const order = (id: string, status: OrderView['status'], created: number, updated: number): OrderView => ({
    id,
    status,
    cancelReason: null,
    items: [],
    createdAt: new Date(created).toISOString(),
    updatedAt: new Date(updated).toISOString(),
  });
  const note = (orderId: string, type: string, at: number, id = `${orderId}-${type}-${at}`): NotificationView => ({
    id,
    orderId,
    type,
    createdAt: new Date(at).toISOString(),
  });

  it('expects OrderCreated plus the final state’s event, and measures each delay by the phase of the order', () => {
    const audit = auditEvents(
      [order('o1', 'CONFIRMED', 1_000, 1_100), order('o2', 'CANCELLED', 2_000, 2_300), order('o3', 'PENDING', 3_000, 3_000)],
      [
        note('o1', 'OrderCreated', 1_400),
        note('o1', 'OrderConfirmed', 1_150),
        note('o2', 'OrderCreated', 25_000),
        note('o2', 'OrderCancelled', 25_100),
        note('o3', 'OrderCreated', 3_050),
      ],
      (id) => (id === 'o2' ? 'during' : 'baseline'),
    );
    expect(audit).toEqual({ orders: 3, missing: [], duplicates: [], delays: { baseline: [400, 50, 50], during: [23_000, 22_800] } });
  });

  it('names what is missing and what arrived twice', () => {
    const audit = auditEvents(
      [order('o1', 'CONFIRMED', 0, 10), order('o2', 'CANCELLED', 0, 10)],
      [note('o1', 'OrderCreated', 5, 'n1'), note('o1', 'OrderCreated', 6, 'n2'), note('o1', 'OrderConfirmed', 20), note('o2', 'OrderCreated', 5)],
      () => 'during',
    );
    expect(audit.missing).toEqual(['order o2 OrderCancelled']);
    expect(audit.duplicates).toEqual(['o1 OrderCreated ×2']);
  });
});
