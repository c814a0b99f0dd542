/**
 * The saga's floor: what an order costs on this machine with the shop's processes, hops, rates and
 * database round trips but none of meshkit's code, against the shop itself at the same load. Five
 * plain `node:http` servers (bench/servers/floor-server.ts), each with a `pg` Pool on its own
 * database of the harness PostgreSQL, answer with trivial handlers; per order:
 *
 *   load generator -> order POST /orders: INSERT
 *     -> user GET /users/{id} (1 SELECT); -> product POST /reservations (1 INSERT); 2 UPDATEs
 *     -> payment POST /charges (1 SELECT + 1 INSERT); 1 UPDATE
 *     -> product POST /reservations/{id}/commit (1 UPDATE); 1 UPDATE -> 201
 *
 * i.e. user 1, product 2, order 5, payment 2, notification 0 transactions per order (the shop's,
 * counted by pg_stat_database in the same run, are stored beside them). Both are measured by
 * bench/lib/order-cost.ts, the shop on the same PostgreSQL with a Kafka broker.
 *
 * Usage: tsx bench/saga-floor.ts [--rates 100] [--seconds 15] [--floor-only]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { userIdHeader } from '../contract/headers.js';
import { pathOf } from '../contract/route.js';
import { order } from '../contract/services.js';
import { startKafkaBroker } from '../infra/kafka-broker.js';
import { startChild, type ChildServer } from './lib/child.js';
import { startBenchShop, startInfra, type Infra } from './lib/infra.js';
import { measureOrderCost, type OrderCost } from './lib/order-cost.js';
import { precompile } from './lib/precompile.js';
import { log, runScript, runSection } from './lib/results.js';
import { prepareSagaLoad, TRACE_HEADERS } from './lib/saga.js';

const S = 'sagaFloor';

/** What the floor is, for the report. */
const NOTES = {
  floor:
    "five plain node:http servers (bench/servers/floor-server.ts, bundled, one process each), each with a pg Pool (the kit's settings, named statements) on its own database of the same PostgreSQL; per order the shop's hops and round trips with trivial autocommit statements: order INSERT, user GET (1 SELECT), product reserve (1 INSERT), 2 order UPDATEs, payment charge (SELECT by idempotency key + INSERT), 1 order UPDATE, product commit (1 UPDATE), 1 order UPDATE; keep-alive agents, trace headers forwarded; the same request, warm-up, idle baseline and open loop as the shop",
  excluded:
    "Kafka and everything it drives (outbox rows, order's and payment's relays, notification's consumer and its writes: notification is an idle pool), the kit's request path (Express, validation, metrics, trace context, the ServiceClient), the shop's heavier statements (multi-row CTEs, the hot inventory row, outbox inserts) and the services' logs",
} as const;

/** The floor's five servers, callees first; order calls the other three it needs. */
async function startFloor(infra: Infra, tag: string, userId: string): Promise<Record<string, ChildServer>> {
  const file = await precompile('bench/servers/floor-server.ts', 'floor-server.mjs');
  const servers: Record<string, ChildServer> = {};
  const start = async (role: string, extra: Record<string, string> = {}) => {
    const databaseUrl = await infra.postgres.createDatabase(`bench_${tag}_${role}`);
    servers[role] = await startChild(file, { PATH: process.env['PATH'], ROLE: role, DATABASE_URL: databaseUrl, ...extra });
  };
  try {
    await Promise.all([start('user', { FLOOR_USER_ID: userId }), start('product'), start('payment'), start('notification')]);
    await start('order', { USER_URL: servers['user']!.url, PRODUCT_URL: servers['product']!.url, PAYMENT_URL: servers['payment']!.url });
  } catch (err) {
    await Promise.allSettled(Object.values(servers).map((s) => s.stop()));
    throw err;
  }
  return servers;
}

async function measureFloor(infra: Infra, admin: pg.Client, rate: number, seconds: number): Promise<OrderCost> {
  // A fresh set of databases per rate: each run's pg_stat_database counters and backends are its own.
  const tag = `floor${rate}`;
  const userId = randomUUID();
  const servers = await startFloor(infra, tag, userId);
  try {
    log(
      S,
      `floor at ${rate}/s: ${Object.entries(servers)
        .map(([role, s]) => `${role} ${s.pid}`)
        .join(', ')}`,
    );
    // The request the shop's load sends (bench/lib/saga.ts): POST /orders, x-user-id, mesh trace headers, one line.
    const body = JSON.stringify({ items: [{ productId: 'bench-beans', quantity: 1 }] });
    const target = {
      baseUrl: servers['order']!.url,
      next: () => ({
        method: order.routes.place.method,
        path: pathOf(order.routes.place),
        headers: { [userIdHeader]: userId, ...TRACE_HEADERS, 'x-request-id': randomUUID() },
        body,
      }),
      ok: (status: number) => status === 201,
    };
    const groups = {
      ...Object.fromEntries(Object.entries(servers).map(([role, s]) => [role, () => [s.pid]])),
      loadGeneratorAndLogs: () => [process.pid],
    };
    return await measureOrderCost({ target, groups, admin, postgresPort: new URL(infra.postgres.url).port, tag, rate, seconds });
  } finally {
    await Promise.allSettled(Object.values(servers).map((s) => s.stop()));
  }
}

/** The shop, started once, at each rate in turn. */
async function measureShop(infra: Infra, admin: pg.Client, rates: readonly number[], seconds: number): Promise<OrderCost[]> {
  const kafka = await startKafkaBroker();
  const withKafka: Infra = { postgres: infra.postgres, kafka, stop: () => kafka.stop() };
  try {
    const bench = await startBenchShop(withKafka, 'shop');
    try {
      const saga = await prepareSagaLoad(bench, withKafka);
      // PostgreSQL is split by database in measureOrderCost: the whole server would count twice.
      const { postgres: _whole, ...groups } = saga.cpuGroups;
      const costs: OrderCost[] = [];
      for (const rate of rates) {
        costs.push(
          await measureOrderCost({
            target: saga.target(bench.shop.urls.order),
            groups,
            admin,
            postgresPort: new URL(infra.postgres.url).port,
            tag: 'shop',
            rate,
            seconds,
          }),
        );
        log(S, summary('shop', rate, costs.at(-1)!));
      }
      return costs;
    } finally {
      await bench.shop.stop();
    }
  } finally {
    await kafka.stop();
  }
}

function summary(name: string, rate: number, cost: OrderCost): string {
  const { result } = cost;
  return `${name} at ${rate}/s: ${cost.aboveIdleMs['total']} ms/order above idle, ${result.rps}/s confirmed, p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms, failed ${result.failed}; load ${cost.load.load1}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rates: { type: 'string', default: '100' }, seconds: { type: 'string', default: '15' }, 'floor-only': { type: 'boolean', default: false } },
  });
  const rates = values.rates.split(',').map(Number);
  if (rates.some((r) => !(r > 0))) throw new Error(`--rates: positive numbers, comma-separated (got ${values.rates})`);
  const seconds = Math.min(120, Math.max(5, Number(values.seconds)));
  const floorOnly = values['floor-only'];
  await runSection(S, `npm run bench:saga-floor -- --rates ${rates.join(',')} --seconds ${seconds}${floorOnly ? ' --floor-only' : ''}`, async () => {
    const infra = await startInfra(S, { kafka: false });
    try {
      const admin = new pg.Client({ connectionString: infra.postgres.url });
      await admin.connect();
      try {
        const floors: OrderCost[] = [];
        for (const rate of rates) {
          floors.push(await measureFloor(infra, admin, rate, seconds));
          log(S, summary('floor', rate, floors.at(-1)!));
        }
        const shops = floorOnly ? [] : await measureShop(infra, admin, rates, seconds);
        return { notes: NOTES, seconds, runs: rates.map((rate, i) => ({ rate, floor: floors[i], shop: shops[i] })) };
      } finally {
        await admin.end();
      }
    } finally {
      await infra.stop();
    }
  });
}

runScript(main);
