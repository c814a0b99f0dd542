/**
 * Wiring of the local shop: the environment the charts give each pod (charts/shop-chart.ts,
 * constructs/meshed-service.ts), derived from the same platform model, and the Kafka topics
 * the Strimzi KafkaTopics of charts/kafka-chart.ts would create.
 */
import { Kafka, logLevel } from 'kafkajs';
import { callGraph, clientTimeoutMarginMs, edgeAuth, serviceSpec, services, topics, type ServiceName } from '../../charts/platform.js';

/** Every service of the platform model, in the model's order. */
export const SERVICE_NAMES: readonly ServiceName[] = services.map((s) => s.name);

export interface PlatformAddresses {
  /** Public base URL of each service (where the chart puts `http://<name>.shop.svc.cluster.local:8080`). */
  readonly urls: Readonly<Record<ServiceName, string>>;
  /** Kafka bootstrap addresses; none leaves every KAFKA_* variable unset. */
  readonly kafkaBrokers?: readonly string[];
}

/**
 * The platform's own wiring of `service`, derived from the model as charts/shop-chart.ts
 * derives it: SERVICE_NAME; `<CALLEE>_URL` per call-graph edge; HTTP_CLIENT_TIMEOUT_MS
 * (the longest mesh timeout of the routes it calls plus `clientTimeoutMarginMs`);
 * JWT_ISSUER/JWT_AUDIENCE on the service serving the JWKS; KAFKA_* from the topics.
 * Ports and the database are the launcher's business, not part of this.
 */
export function platformEnv(service: ServiceName, at: PlatformAddresses): Record<string, string> {
  const env: Record<string, string> = { SERVICE_NAME: service };
  const edges = callGraph.filter((e) => e.from === service);
  for (const edge of edges) env[`${edge.to.toUpperCase()}_URL`] = at.urls[edge.to];
  const called = edges.flatMap((e) => routesNamed(e.to, e.routes));
  if (called.length > 0) env['HTTP_CLIENT_TIMEOUT_MS'] = String(Math.max(...called.map((r) => r.timeout.toMilliseconds())) + clientTimeoutMarginMs);
  if (service === jwksService()) {
    env['JWT_ISSUER'] = edgeAuth.issuer;
    env['JWT_AUDIENCE'] = edgeAuth.audiences[0];
  }
  const produces = topics.filter((t) => t.producers.includes(service)).map((t) => t.name);
  const consumes = topics.filter((t) => t.consumers.includes(service)).map((t) => t.name);
  if (at.kafkaBrokers && at.kafkaBrokers.length > 0 && (produces.length > 0 || consumes.length > 0)) {
    env['KAFKA_BROKERS'] = at.kafkaBrokers.join(',');
    env['KAFKA_CLIENT_ID'] = service;
    if (produces.length > 0) env['KAFKA_PRODUCE_TOPICS'] = produces.join(',');
    if (consumes.length > 0) {
      env['KAFKA_CONSUME_TOPICS'] = consumes.join(',');
      env['KAFKA_GROUP_ID'] = service;
    }
  }
  return env;
}

/** The routes of `service` named by their descriptions ('GET|HEAD /users/{id}'). */
export function routesNamed(service: ServiceName, descriptions: readonly string[]) {
  const spec = serviceSpec(service);
  return descriptions.map((d) => {
    const route = spec.routes.find((r) => r.description === d);
    if (!route) throw new Error(`the platform model's service '${service}' declares no route '${d}'`);
    return route;
  });
}

/** The service that serves the JWKS the edge verifies tokens with (and so issues them). */
export function jwksService(): ServiceName {
  const spec = services.find((s) => s.routes.some((r) => r.path === edgeAuth.jwksPath));
  if (!spec) throw new Error(`no service of the platform model declares a route for ${edgeAuth.jwksPath}`);
  return spec.name;
}

/** What a service process gets from ours: enough to run Node, nothing that could configure the service by accident. */
export function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Creates the model's topics with their partition counts where missing, as the Strimzi KafkaTopics would. */
export async function ensureTopics(brokers: readonly string[]): Promise<void> {
  const admin = new Kafka({
    clientId: 'meshkit-local-shop',
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 3 },
  }).admin();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Kafka at ${brokers.join(',')} did not answer within 30 s`)), 30_000);
  });
  try {
    await Promise.race([
      (async () => {
        await admin.connect();
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter((t) => !existing.has(t.name));
        if (missing.length > 0) {
          await admin.createTopics({ waitForLeaders: true, topics: missing.map((t) => ({ topic: t.name, numPartitions: t.partitions })) });
        }
      })(),
      timeout,
    ]);
  } catch (err) {
    throw new Error(`cannot create the platform's topics on Kafka at ${brokers.join(',')}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
    await admin.disconnect().catch(() => undefined);
  }
}
