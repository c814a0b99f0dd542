import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { userIdHeader } from '../../contract/headers.js';
import { pathOf } from '../../contract/route.js';
import { order, services, user } from '../../contract/services.js';
import type { ServiceName } from '../../charts/platform.js';
import { processTree } from './cpu.js';
import type { LoadTarget } from './http-load.js';
import type { BenchShop, Infra } from './infra.js';

/** Headers a request carries when it arrives through the mesh: Envoy's request id, W3C and B3 trace context. */
export const TRACE_HEADERS = {
  'x-request-id': '6f1c0a52-8d4e-4a43-9b0e-2c5f1d7e9a10',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  'x-b3-traceid': '4bf92f3577b34da6a3ce929d0e0e4736',
  'x-b3-spanid': '00f067aa0ba902b7',
  'x-b3-sampled': '1',
};

export interface SagaLoad {
  /** POST /orders of one unit for one registered user, with mesh trace headers, against an order front at `baseUrl`. */
  target(baseUrl: string): LoadTarget;
  /** The shop's process ids by service. */
  readonly pids: Readonly<Record<ServiceName, number>>;
  /** Process groups for cpuSeconds: each service, PostgreSQL's server and backends, the broker, this process. */
  readonly cpuGroups: Record<string, () => number[]>;
}

/**
 * Readies a bench shop for the order saga: a product with stock for any run (the seeded catalog
 * holds a few hundred units) and one registered user; the load then places one-unit orders.
 */
export async function prepareSagaLoad({ shop, databaseUrls }: BenchShop, infra: Infra): Promise<SagaLoad> {
  const productClient = new pg.Client({ connectionString: databaseUrls.product });
  await productClient.connect();
  await productClient.query(
    "INSERT INTO products (id, name, description, price_cents, currency) VALUES ('bench-beans', 'Bench beans', 'for the benchmark', 990, 'EUR') ON CONFLICT DO NOTHING",
  );
  await productClient.query(
    "INSERT INTO inventory (product_id, available) VALUES ('bench-beans', 1000000000) ON CONFLICT (product_id) DO UPDATE SET available = 1000000000",
  );
  await productClient.end();
  const registered = await fetch(`${shop.urls.user}${pathOf(user.routes.register)}`, {
    method: user.routes.register.method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `bench-${randomUUID()}@example.com`, password: 'correct horse battery', name: 'Bench' }),
  });
  if (registered.status !== 201) throw new Error(`registering the bench user answered ${registered.status}: ${await registered.text()}`);
  const userId = ((await registered.json()) as { id: string }).id;
  const orderBody = JSON.stringify({ items: [{ productId: 'bench-beans', quantity: 1 }] });
  const pids = Object.fromEntries(services.map((s) => [s.name, shop.service(s.name).pid ?? -1])) as Record<ServiceName, number>;
  const postgresPort = new URL(infra.postgres.url).port;
  return {
    target: (baseUrl) => ({
      baseUrl,
      next: () => ({
        method: order.routes.place.method,
        path: pathOf(order.routes.place),
        headers: { [userIdHeader]: userId, ...TRACE_HEADERS, 'x-request-id': randomUUID() },
        body: orderBody,
      }),
      ok: (status) => status === 201,
    }),
    pids,
    cpuGroups: {
      ...Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, () => [pid]])),
      postgres: () => processTree(`port=${postgresPort}`),
      kafka: () => (infra.kafka ? processTree(infra.kafka.dataDir) : []),
      loadGeneratorAndLogs: () => [process.pid],
    },
  };
}
