import { edgeAuth, envNames, serviceUrlEnv, topics } from '../contract/index.js';
import { callGraph, clientTimeoutMarginMs, type ServiceName } from './platform.js';

export interface PodAddresses {
  /** Base URL of a service its callers use (in a cluster `http://<name>.shop.svc.cluster.local:8080`). */
  readonly urlOf: (service: ServiceName) => string;
  /** Kafka bootstrap address(es), comma-separated; undefined leaves every KAFKA_* variable unset. */
  readonly kafkaBrokers?: string;
}

/** The topics a service produces to and consumes from, by name, in the contract's order. */
export function kafkaTopicsOf(service: ServiceName): { readonly produces: string[]; readonly consumes: string[] } {
  return {
    produces: topics.filter((t) => t.producers.includes(service)).map((t) => t.name),
    consumes: topics.filter((t) => t.consumers.includes(service)).map((t) => t.name),
  };
}

/** Whether a service produces to or consumes from any topic: it is a Kafka client, gets the KAFKA_* variables and must reach the brokers. */
export function usesKafka(service: ServiceName): boolean {
  const { produces, consumes } = kafkaTopicsOf(service);
  return produces.length > 0 || consumes.length > 0;
}

/**
 * The platform's wiring of one service's pod, derived from the contract and the mesh budgets, in
 * the order it is written: `<CALLEE>_URL` per call-graph edge; HTTP_CLIENT_TIMEOUT_MS (the longest
 * mesh timeout of the routes it calls plus `clientTimeoutMarginMs`, so the mesh always answers
 * first); JWT_ISSUER/JWT_AUDIENCE on the service serving the JWKS; KAFKA_* from the topics it
 * produces or consumes. The charts (charts/shop-chart.ts) and the local runner (local/dev/wiring.ts)
 * both write exactly this; SERVICE_NAME, ports and the database are the pod's own business.
 */
export function podEnv(service: ServiceName, at: PodAddresses): [name: string, value: string][] {
  const env: [string, string][] = [];
  const edges = callGraph.filter((e) => e.from === service);
  for (const edge of edges) env.push([serviceUrlEnv(edge.to), at.urlOf(edge.to)]);
  const called = edges.flatMap((e) => e.routes);
  if (called.length > 0) env.push([envNames.httpClientTimeoutMs, String(Math.max(...called.map((r) => r.timeout.toMilliseconds())) + clientTimeoutMarginMs)]);
  if (service === edgeAuth.jwks.service) {
    env.push([envNames.jwtIssuer, edgeAuth.issuer], [envNames.jwtAudience, edgeAuth.audiences[0]]);
  }
  if (at.kafkaBrokers !== undefined && usesKafka(service)) {
    const { produces, consumes } = kafkaTopicsOf(service);
    env.push([envNames.kafkaBrokers, at.kafkaBrokers], [envNames.kafkaClientId, service]);
    if (produces.length > 0) env.push([envNames.kafkaProduceTopics, produces.join(',')]);
    if (consumes.length > 0) env.push([envNames.kafkaConsumeTopics, consumes.join(',')], [envNames.kafkaGroupId, service]);
  }
  return env;
}
