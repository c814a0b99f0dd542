import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Kafka } from 'kafkajs';
import { ChaosSwitch, chaosSettingsSchema, type ChaosSettings } from './chaos.js';
import { ConfigError, EnvReader, readBaseConfig, type BaseConfig } from './config.js';
import { migrate, openDatabase, type Database, type Migration } from './database.js';
import { AppError } from './errors.js';
import { createHttpApp, createHttpServer } from './http-app.js';
import { createKafka, createProducer, kafkaPublisher } from './kafka.js';
import { createLogger, type Logger } from './logger.js';
import { HttpMetrics } from './metrics.js';
import { OutboxRelay } from './outbox.js';
import { read, write } from '../../contract/route.js';
import { defineRoute, type AnyRoute } from './routes.js';

/** Something that runs beside the HTTP API (outbox relay, consumer, recovery sweep). */
export interface Worker {
  start(): void;
  stop(): Promise<void>;
}

export interface ServiceContext<S> {
  readonly config: BaseConfig;
  /** The service's own settings, from `readSettings`. */
  readonly settings: S;
  readonly logger: Logger;
  readonly db: Database;
  readonly metrics: HttpMetrics;
  /** Kafka client; undefined when KAFKA_BROKERS is unset. */
  readonly kafka: Kafka | undefined;
}

export interface ServiceParts {
  readonly routes: readonly AnyRoute[];
  readonly workers?: readonly Worker[];
}

/** A service: its name, schema, settings and how to assemble it. `app.ts` of each service exports one. */
export interface ServiceDefinition<S = Record<string, never>> {
  readonly name: string;
  readonly migrations: readonly Migration[];
  /** Reads the service's own environment; report problems through the reader, never throw. */
  readSettings?(env: EnvReader, config: BaseConfig): S;
  /** Wires domain, infrastructure and routes; runs after migrations. */
  create(ctx: ServiceContext<S>): Promise<ServiceParts> | ServiceParts;
}

export interface RunningService {
  readonly name: string;
  /** Base URL of the public API (loopback). */
  readonly url: string;
  /** Base URL of the admin port (loopback). */
  readonly adminUrl: string;
  readonly db: Database;
  readonly logger: Logger;
  readonly chaos: ChaosSwitch;
  /** Fails readiness, waits for endpoints to update, drains, stops workers, closes the database. */
  stop(): Promise<void>;
}

/** Parses and checks the environment; throws ConfigError listing every problem. */
export function loadConfig<S>(definition: ServiceDefinition<S>, env: Readonly<Record<string, string | undefined>>): { config: BaseConfig; settings: S } {
  const reader = new EnvReader(env);
  const config = readBaseConfig(definition.name, reader);
  const settings = definition.readSettings ? definition.readSettings(reader, config) : ({} as S);
  reader.throwIfInvalid();
  return { config, settings };
}

/**
 * Starts a service: admin port first (live at once, ready only when all is up,
 * so probes see start-up), then database and migrations, then the public port
 * and workers. Used by `main.ts` and, with port 0, by the tests.
 */
export async function startService<S>(definition: ServiceDefinition<S>, env: Readonly<Record<string, string | undefined>>): Promise<RunningService> {
  const { config, settings } = loadConfig(definition, env);
  const logger = createLogger(config.serviceName, config.logLevel);
  const metrics = new HttpMetrics(config.serviceName);
  const chaos = new ChaosSwitch();
  const state: { phase: 'starting' | 'ready' | 'draining'; db?: Database } = { phase: 'starting' };

  const adminServer = createHttpServer(createHttpApp({ routes: adminRoutes(state, metrics, chaos), logger, accessLog: false }), logger);
  const adminPort = await listen(adminServer, config.adminPort, config.host);

  let db: Database | undefined;
  let publicServer: Server | undefined;
  let workers: readonly Worker[] = [];
  try {
    db = await openDatabase({ url: config.databaseUrl, pgliteDataDir: config.pgliteDataDir, logger });
    state.db = db;
    await migrate(db, definition.migrations, logger);
    const kafka = config.kafka ? createKafka(config.kafka, logger) : undefined;
    const parts = await definition.create({ config, settings, logger, db, metrics, kafka });
    workers = parts.workers ?? [];
    publicServer = createHttpServer(createHttpApp({ routes: parts.routes, logger, metrics, chaos }), logger);
    // Longer than the sidecar keeps idle upstream connections, so Envoy never reuses one Node already closed.
    // (Idle keep-alive connections do not count against headersTimeout since Node 18, so it need not exceed this.)
    publicServer.keepAliveTimeout = 65_000;
    const port = await listen(publicServer, config.port, config.host);
    for (const worker of workers) worker.start();
    state.phase = 'ready';
    logger.info({ port, adminPort, database: db.kind, kafka: config.kafka ? config.kafka.brokers : 'off' }, 'service ready');

    const openDb = db;
    const server = publicServer;
    let stopping: Promise<void> | undefined;
    return {
      name: config.serviceName,
      url: `http://127.0.0.1:${port}`,
      adminUrl: `http://127.0.0.1:${adminPort}`,
      db: openDb,
      logger,
      chaos,
      stop: () =>
        (stopping ??= (async () => {
          state.phase = 'draining';
          logger.info({ delayMs: config.shutdownDelayMs }, 'shutting down: readiness now fails');
          await new Promise((resolve) => setTimeout(resolve, config.shutdownDelayMs));
          await closeServer(server, config.shutdownTimeoutMs);
          await Promise.allSettled(workers.map((w) => w.stop()));
          await openDb.close();
          await closeServer(adminServer, 1000);
          logger.info('stopped');
        })()),
    };
  } catch (err) {
    await Promise.allSettled(workers.map((w) => w.stop()));
    if (publicServer?.listening) await closeServer(publicServer, 1000);
    await db?.close().catch(() => undefined);
    await closeServer(adminServer, 1000);
    throw err;
  }
}

/** The outbox relay when Kafka is configured; without it events wait in the outbox. */
export function outboxWorkers(ctx: ServiceContext<unknown>, topics: readonly string[]): Worker[] {
  const { config, kafka, logger } = ctx;
  if (!kafka || !config.kafka) {
    logger.warn('KAFKA_BROKERS is unset: the outbox relay is off and events wait in the outbox');
    return [];
  }
  const missing = topics.filter((t) => !config.kafka!.produceTopics.includes(t));
  if (config.kafka.produceTopics.length > 0 && missing.length > 0) {
    throw new ConfigError([`KAFKA_PRODUCE_TOPICS (${config.kafka.produceTopics.join(',')}) lacks ${missing.join(',')}, which this service produces`]);
  }
  return [
    new OutboxRelay({
      db: ctx.db,
      publisher: kafkaPublisher(createProducer(kafka)),
      logger: logger.child({ component: 'outbox-relay' }),
      registry: ctx.metrics.registry,
      holder: hostname() + ':' + process.pid,
    }),
  ];
}

function adminRoutes(state: { phase: string; db?: Database }, metrics: HttpMetrics, chaos: ChaosSwitch): AnyRoute[] {
  return [
    defineRoute(read('/health/live'), { handle: async () => ({ body: { status: 'live' } }) }),
    defineRoute(read('/health/ready'), {
      handle: async () => {
        if (state.phase !== 'ready' || !state.db) throw new AppError(503, 'NOT_READY', `service is ${state.phase}`, { phase: state.phase });
        const db = state.db;
        const check = await Promise.race([
          db.ping().then(
            () => 'ok',
            (err: Error) => `error: ${err.message}`,
          ),
          new Promise<string>((resolve) => setTimeout(resolve, 1000, 'timeout after 1000ms').unref()),
        ]);
        if (check !== 'ok') throw new AppError(503, 'NOT_READY', `database ${check}`, { database: check });
        return { body: { status: 'ready', checks: { database: 'ok' } } };
      },
    }),
    defineRoute(read('/metrics'), {
      handle: async () => ({ text: await metrics.registry.metrics(), headers: { 'content-type': metrics.registry.contentType } }),
    }),
    defineRoute(read('/admin/chaos'), { handle: async () => ({ body: chaos.current }) }),
    defineRoute<ChaosSettings>(write('POST', '/admin/chaos'), {
      body: chaosSettingsSchema,
      handle: async ({ body }) => {
        chaos.set(body);
        return { body: chaos.current };
      },
    }),
    defineRoute(write('DELETE', '/admin/chaos'), {
      handle: async () => {
        chaos.reset();
        return { body: chaos.current };
      },
    }),
  ];
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Stops accepting, lets in-flight requests finish, then cuts what is left after `timeoutMs`. */
async function closeServer(server: Server, timeoutMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
  await closed;
  clearTimeout(timer);
}
