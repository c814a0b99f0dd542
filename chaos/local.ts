import type { ChaosSettings } from '../apps/kit/chaos.js';
import { services, type ServiceName } from '../charts/platform.js';
import type { ChaosEnvironment, Outage } from './environment.js';
import { serviceMetricsCollector } from './metrics/sources.js';

/** What the chaos runner uses of a local shop (local/dev/shop.ts `LocalShop`). */
export interface LocalShopHandle {
  readonly adminUrls: Readonly<Record<ServiceName, string>>;
  readonly edgeUrl: string | undefined;
  service(name: ServiceName): {
    readonly pid: number | undefined;
    /** Its database: a PostgreSQL URL, or the directory of its embedded PGlite. */
    readonly database?: { readonly url: string } | { readonly pgliteDataDir: string };
    stop(): Promise<void>;
    start(): Promise<void>;
  };
}

const restockSql = (units: number) => `UPDATE inventory SET available = GREATEST(available, ${Math.floor(units)})`;

/**
 * Tops the product stock up to `units` per product in the product service's own database: on
 * PostgreSQL directly; on PGlite (one process per data directory) the product process is stopped,
 * the directory opened here, and the process started again.
 */
export async function restockLocal(shop: LocalShopHandle, units: number): Promise<string> {
  const product = shop.service('product');
  const database = product.database;
  if (!database) throw new Error('the local shop does not say where the product database is');
  const sql = restockSql(units);
  if ('url' in database) {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const result = await client.query(sql);
      return `${sql} on product's PostgreSQL database: ${result.rowCount} products`;
    } finally {
      await client.end();
    }
  }
  await product.stop();
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const db = await PGlite.create(database.pgliteDataDir);
    try {
      const result = await db.query(sql);
      return `${sql} in product's PGlite (${database.pgliteDataDir}; product stopped meanwhile): ${result.affectedRows ?? 0} products`;
    } finally {
      await db.close();
    }
  } finally {
    await product.start();
  }
}

/** A Kafka broker the local run owns (the test harness's `startKafkaBroker`), so it may stop it. */
export interface LocalKafka {
  readonly brokers: readonly string[];
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface LocalEnvironmentOptions {
  readonly shop: LocalShopHandle;
  /** The order service's SWEEP_INTERVAL_MS and STALE_ORDER_MS as the shop was started with. */
  readonly orderSweep: { readonly intervalMs: number; readonly staleMs: number };
  /** A broker of the run's own: enables the Kafka scenario. @default - none */
  readonly kafka?: LocalKafka;
  /** Stops what the environment started (the shop, the broker). @default - nothing */
  readonly close?: () => Promise<void>;
}

/**
 * Per-service env of a local shop the scenarios run on: warn-level logs for every service of the
 * model (the load would drown the terminal) and the order service's recovery sweep as the
 * environment reports it.
 */
export function localShopEnv(orderSweep: LocalEnvironmentOptions['orderSweep']): Record<ServiceName, Record<string, string>> {
  const quiet: Record<string, string> = { LOG_LEVEL: 'warn' };
  const env = Object.fromEntries(services.map((s) => [s.name, quiet])) as Record<ServiceName, Record<string, string>>;
  return { ...env, order: { ...quiet, SWEEP_INTERVAL_MS: String(orderSweep.intervalMs), STALE_ORDER_MS: String(orderSweep.staleMs) } };
}

async function adminCall(url: string, method: 'POST' | 'DELETE', body?: ChaosSettings): Promise<void> {
  const res = await fetch(url, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) throw new Error(`${method} ${url} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
}

/**
 * The shop as local processes (startLocalShop) behind the local edge. No mesh: no Envoy
 * stats, no Prometheus, no fault resources; the databases are embedded in the service
 * processes (PGlite), so a database cannot be killed apart from its service. One process
 * per service: "one pod" is the only one.
 */
export function localEnvironment(options: LocalEnvironmentOptions): ChaosEnvironment {
  const { shop, kafka } = options;
  const edge = shop.edgeUrl;
  if (!edge) throw new Error('the local shop runs without its edge (edgePort: false): the chaos load goes through the edge');
  const instance = (service: ServiceName) => `${service} (pid ${shop.service(service).pid ?? 'stopped'})`;
  return {
    mode: 'local',
    baseUrl: edge,
    description: `local processes through the local edge ${edge}${kafka ? ` with a Kafka broker of its own (${kafka.brokers.join(',')})` : ''}`,
    orderSweep: options.orderSweep,
    instances: async (service) => [instance(service)],
    setChaos: (service, _instance, settings) => adminCall(`${shop.adminUrls[service]}/admin/chaos`, 'POST', settings),
    clearChaos: (service) => adminCall(`${shop.adminUrls[service]}/admin/chaos`, 'DELETE'),
    serviceMetrics: (service) =>
      serviceMetricsCollector(service, async () => [
        {
          source: service,
          read: async () => {
            const res = await fetch(`${shop.adminUrls[service]}/metrics`, { signal: AbortSignal.timeout(5_000) });
            if (!res.ok) throw new Error(`GET ${shop.adminUrls[service]}/metrics answered ${res.status}`);
            return res.text();
          },
        },
      ]),
    killKafkaBroker: kafka
      ? async (): Promise<Outage> => {
          await kafka.stop();
          return {
            description: `stopped the local Kafka broker ${kafka.brokers.join(',')}`,
            restore: async () => {
              await kafka.start();
              return `started the broker again (same port, same data)`;
            },
          };
        }
      : undefined,
    restock: (units) => restockLocal(shop, units),
    close: options.close ?? (async () => undefined),
  };
}
