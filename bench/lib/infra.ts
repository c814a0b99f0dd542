import { SERVICE_NAMES, startLocalShop, type LocalShop } from '../../local/dev/index.js';
import type { ServiceName } from '../../charts/platform.js';
import { startKafkaBroker, type KafkaBroker } from '../../infra/kafka-broker.js';
import { startPostgres, type RunningPostgres } from '../../infra/postgres.js';
import { log } from './results.js';

/** The real test infrastructure of test/harness: a PostgreSQL server and, when asked, a Kafka broker. */
export interface Infra {
  readonly postgres: RunningPostgres;
  readonly kafka: KafkaBroker | undefined;
  stop(): Promise<void>;
}

export async function startInfra(section: string, options: { kafka: boolean }): Promise<Infra> {
  log(section, `starting PostgreSQL${options.kafka ? ' and a Kafka broker' : ''} (test/harness)`);
  const [postgres, kafka] = await Promise.all([startPostgres(), options.kafka ? startKafkaBroker() : Promise.resolve(undefined)]);
  log(
    section,
    `PostgreSQL ${postgres.version} ready in ${postgres.startupMs} ms${kafka ? `; Kafka on ${kafka.brokers.join(',')} ready in ${kafka.startupMs} ms` : ''}`,
  );
  return {
    postgres,
    kafka,
    async stop() {
      await Promise.allSettled([postgres.stop(), kafka?.stop()]);
    },
  };
}

export interface BenchShop {
  readonly shop: LocalShop;
  /** The PostgreSQL URL of each service's own database. */
  readonly databaseUrls: Readonly<Record<ServiceName, string>>;
}

/** The whole shop as local processes (local/dev/shop.ts, bundles) on its own databases of `infra`'s server. */
export async function startBenchShop(infra: Infra, tag: string, env: Readonly<Record<string, string>> = {}): Promise<BenchShop> {
  const databaseUrls: Partial<Record<ServiceName, string>> = {};
  const shop = await startLocalShop({
    runtime: 'bundle',
    edgePort: false,
    ...(infra.kafka ? { kafkaBrokers: infra.kafka.brokers } : {}),
    databaseUrlFor: async (name) => (databaseUrls[name] = await infra.postgres.createDatabase(`bench_${tag}_${name}`)),
    env: Object.fromEntries(SERVICE_NAMES.map((name) => [name, { LOG_LEVEL: 'info', ...env }])),
  });
  return { shop, databaseUrls: databaseUrls as Record<ServiceName, string> };
}
