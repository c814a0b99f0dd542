/**
 * The floor of the order saga's communication pattern: what an order costs on this machine with the
 * shop's processes, hops, rates and database round trips but none of meshkit's code. Five plain
 * `node:http` servers (bench/servers/floor-server.ts), each with a `pg` Pool on its own database of
 * the harness PostgreSQL, answer with trivial handlers; per order:
 *
 *   load generator -> order POST /orders: INSERT
 *     -> user GET /users/{id} (1 SELECT); -> product POST /reservations (1 INSERT); 2 UPDATEs
 *     -> payment POST /charges (1 SELECT + 1 INSERT); 1 UPDATE
 *     -> product POST /reservations/{id}/commit (1 UPDATE); 1 UPDATE -> 201
 *
 * i.e. user 1, product 2, order 5, payment 2, notification 0 transactions per order (the shop:
 * 0.98, 1.98, 5.15, 1.89, 0.19 by pg_stat_database). Left out: Kafka and everything it drives
 * (the outbox rows, order's and payment's relays, notification's consumer and its writes), the
 * statements' own weight (the shop's are multi-row CTEs, a hot inventory row, an outbox insert), and
 * all of the kit's per-request work.
 *
 * Measured as bench/servers/saga-cost.ts measures the shop (bench/lib/order-cost.ts). With --shop,
 * the shop itself is then started on the same PostgreSQL (with a Kafka broker) and measured the
 * same way, and the two print side by side.
 *
 * Usage: tsx bench/servers/saga-floor.ts [--rate 100] [--seconds 15] [--shop]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { userIdHeader } from '../../contract/headers.js';
import { pathOf } from '../../contract/route.js';
import { order } from '../../contract/services.js';
import { startKafkaBroker } from '../../infra/kafka-broker.js';
import { startChild, type ChildServer } from '../lib/child.js';
import { startBenchShop, startInfra, type Infra } from '../lib/infra.js';
import { measureOrderCost, type OrderCost } from '../lib/order-cost.js';
import { precompile } from '../lib/precompile.js';
import { log } from '../lib/results.js';
import { prepareSagaLoad, TRACE_HEADERS } from '../lib/saga.js';

const { values } = parseArgs({
  options: { rate: { type: 'string', default: '100' }, seconds: { type: 'string', default: '15' }, shop: { type: 'boolean', default: false } },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const S = 'saga-floor';

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

async function measureFloor(infra: Infra, admin: pg.Client): Promise<OrderCost> {
  const tag = 'floor';
  const userId = randomUUID();
  const servers = await startFloor(infra, tag, userId);
  try {
    log(
      S,
      `floor: ${Object.entries(servers)
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

async function measureShop(infra: Infra, admin: pg.Client): Promise<OrderCost> {
  const kafka = await startKafkaBroker();
  const withKafka: Infra = { postgres: infra.postgres, kafka, stop: () => kafka.stop() };
  try {
    const bench = await startBenchShop(withKafka, 'shop');
    try {
      const saga = await prepareSagaLoad(bench, withKafka);
      const { postgres: _whole, ...groups } = saga.cpuGroups;
      return await measureOrderCost({
        target: saga.target(bench.shop.urls.order),
        groups,
        admin,
        postgresPort: new URL(infra.postgres.url).port,
        tag: 'shop',
        rate,
        seconds,
      });
    } finally {
      await bench.shop.stop();
    }
  } finally {
    await kafka.stop();
  }
}

function summary(name: string, cost: OrderCost): string {
  const { result } = cost;
  return `${name}: ${cost.orders} orders at ${rate}/s offered (${result.rps}/s), p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms, failed ${result.failed}; ${cost.load.uptime}`;
}

const cell = (v: number | undefined, digits = 2) => (v === undefined ? '-' : v.toFixed(digits)).padStart(8);

const infra = await startInfra(S, { kafka: false });
try {
  const admin = new pg.Client({ connectionString: infra.postgres.url });
  await admin.connect();
  try {
    const floor = await measureFloor(infra, admin);
    const shop = values.shop ? await measureShop(infra, admin) : undefined;
    console.log(summary('floor', floor));
    if (shop) console.log(summary('shop ', shop));
    console.log(`\nper order: CPU ms above idle, CPU ms in all, context switches${shop ? '; floor vs shop' : ''}:`);
    const header = `${'above'.padStart(8)} ${'all'.padStart(8)} ${'switches'.padStart(8)}`;
    console.log(`  ${'process'.padEnd(24)} ${header}${shop ? ` ${header} ${'floor/shop'.padStart(10)}` : ''}`);
    const names = [...new Set([...Object.keys(floor.aboveIdleMs), ...Object.keys(shop?.aboveIdleMs ?? {})])];
    const weight = (name: string) => (name === 'total' ? -Infinity : (shop?.aboveIdleMs[name] ?? floor.aboveIdleMs[name] ?? 0));
    names.sort((a, b) => weight(b) - weight(a));
    const cells = (cost: OrderCost, name: string) => `${cell(cost.aboveIdleMs[name])} ${cell(cost.cpuMs[name])} ${cell(cost.switches[name], 1)}`;
    for (const name of names) {
      const f = floor.aboveIdleMs[name];
      const s = shop?.aboveIdleMs[name];
      const ratio = f !== undefined && s !== undefined && s > 0.05 ? `${Math.round((f / s) * 100)}%` : '';
      console.log(`  ${name.padEnd(24)} ${cells(floor, name)}${shop ? ` ${cells(shop, name)} ${ratio.padStart(10)}` : ''}`);
    }
    console.log(`\ntransactions per order by database (pg_stat_database xact_commit)${shop ? ', floor vs shop' : ''}:`);
    for (const service of [...new Set([...Object.keys(floor.perDatabase), ...Object.keys(shop?.perDatabase ?? {})])].sort())
      console.log(
        `  ${service.padEnd(14)} ${cell(floor.perDatabase[service]?.['xact_commit'])}${shop ? ` ${cell(shop.perDatabase[service]?.['xact_commit'])}` : ''}`,
      );
  } finally {
    await admin.end();
  }
} finally {
  await infra.stop();
}
