import { Duration } from 'cdk8s';
import * as contract from '../contract/index.js';
import type { Handler } from '../mesh/call-sequence.js';
import { Retry } from '../mesh/retry.js';
import { Route, type RouteOptions } from '../mesh/route.js';

/**
 * The shop as the mesh runs it: the contract (contract/: services, routes, call graph, edge,
 * topics) plus what only the platform decides — each route's timeout and retries, each service's
 * replicas. Every other part reads this model: the charts (Deployments, mesh policy, service
 * URLs), authorization and NetworkPolicies, the resilience analyzer and the generated docs.
 */

export type ServiceName = contract.ServiceName;

export interface ServiceSpec {
  readonly name: ServiceName;
  /** One line on what the service owns. */
  readonly summary: string;
  /** The service's HTTP API as mesh routes with their budgets (drives VirtualService routes and retries). */
  readonly routes: readonly Route[];
  /** Routes reachable from the ingress gateway, with or without a JWT. */
  readonly publicRoutes: readonly Route[];
  /** Public routes that need a valid end-user JWT at the edge (they read the user id header). */
  readonly jwtRoutes: readonly Route[];
  /** Tables in the service's own PostgreSQL database. */
  readonly tables: readonly string[];
  readonly replicas: number;
}

/** A synchronous call: `from` calls `to` on exactly these routes of `to`. */
export interface CallEdge {
  readonly from: ServiceName;
  readonly to: ServiceName;
  readonly routes: readonly Route[];
}

export type TopicSpec = contract.TopicContract;

/** Budgets of the calls inside the order saga (`resilience-timing` in the analyzer checks the sum). */
const internalRead = { timeout: Duration.seconds(1), retry: Retry.onGatewayErrors({ attempts: 2, perTryTimeout: Duration.millis(300) }) };
const internalWrite = { timeout: Duration.millis(1500), retry: Retry.onTransientErrors({ attempts: 2, perTryTimeout: Duration.millis(450) }) };

/** How much longer a caller's HTTP client waits than the mesh's own timeout, so the mesh always answers first. */
export const clientTimeoutMarginMs = 500;

/** Pods of a service the platform decides nothing else for: one, MeshedService's own default (scale a service in `deployment`). */
export const defaultReplicas = 1;

type Shop = { readonly [S in contract.ShopService as S['name']]: S };

/** What the platform decides for one service where the defaults do not fit. */
interface ServiceDeployment<N extends ServiceName> {
  /**
   * Pods always running.
   * @default defaultReplicas
   */
  readonly replicas?: number;
  /**
   * Timeout and retries per route, by the route's key in the contract (a key that names no route of the service does not compile).
   * @default - the route class's default budget (mesh/route.ts RouteClass): 2s for reads, 3s for writes, the class's retries
   */
  readonly budgets?: { readonly [R in keyof Shop[N]['routes']]?: RouteOptions };
}

/**
 * The platform's decisions, only where a default does not fit: a service left out runs
 * `defaultReplicas` pods, a route left out takes its class's default budget, so a new service
 * of the contract needs no entry here.
 */
const deployment: { readonly [N in ServiceName]?: ServiceDeployment<N> } = {
  // get is internal (order's saga): short budgets so the whole saga, compensations included, fits POST /orders.
  user: { budgets: { get: internalRead } },
  product: { replicas: 2, budgets: { reserve: internalWrite, commit: internalWrite, release: internalWrite } },
  order: {
    replicas: 2,
    budgets: {
      // The saga makes up to six calls in turn (verify, reserve, charge, commit; on failure release
      // and void the charge): 1s + 5 x 1.5s = 8.5s worst case, so 10s. The mesh re-sends it only when it
      // cannot have reached the app (a client Idempotency-Key covers client retries).
      place: { timeout: Duration.seconds(10), retry: Retry.onConnectFailure({ attempts: 1 }) },
    },
  },
  payment: { replicas: 2, budgets: { charge: internalWrite, refund: internalWrite, voidCharge: internalWrite } },
};

/**
 * Refuses a decision about a service or route the contract does not declare, naming the fix.
 * Typed keys refuse it at compile time; this refuses it where nothing type-checks (tsx runs synth),
 * so a budget that outlived its route is an error, not silently ignored.
 */
export function checkDeployment(decisions: Readonly<Record<string, { readonly budgets?: object } | undefined>>): void {
  const problems: string[] = [];
  for (const [name, decided] of Object.entries(decisions)) {
    const service = contract.services.find((s) => s.name === name);
    if (!service) problems.push(`deployment.${name} names no service of the contract: remove it or declare the service in contract/services.ts`);
    else
      for (const key of Object.keys(decided?.budgets ?? {}))
        if (!(key in service.routes))
          problems.push(
            `deployment.${name}.budgets.${key} names no route of '${name}' (it has ${Object.keys(service.routes).join(', ')}): rename the key or declare the route in contract/services.ts`,
          );
  }
  if (problems.length > 0) throw new Error(`charts/platform.ts: ${problems.join('; ')}`);
}
checkDeployment(deployment);

/** The mesh route of each contract route, created once so every grant and exposure references the same object. */
const meshRoutes = new Map<contract.ApiRoute, Route>(
  contract.services.flatMap((service) => {
    const budgets: Readonly<Record<string, RouteOptions | undefined>> = deployment[service.name]?.budgets ?? {};
    return Object.entries<contract.ApiRoute>(service.routes).map(([key, api]) => [api, Route.of(api, budgets[key])] as const);
  }),
);

/** The mesh route (with its budget) of a contract route. */
export function meshRoute(api: contract.ApiRoute): Route {
  const route = meshRoutes.get(api);
  if (!route) throw new Error(`${contract.describeRoute(api)} of '${api.service}' is not a route of the contract: reference it from contract/services.ts`);
  return route;
}

export const services: readonly ServiceSpec[] = contract.services.map((service) => {
  const routes = contract.routesOf(service);
  return {
    name: service.name,
    summary: service.summary,
    routes: routes.map(meshRoute),
    publicRoutes: routes.filter(contract.isPublic).map(meshRoute),
    jwtRoutes: routes.filter((r) => contract.jwtRoutes.includes(r)).map(meshRoute),
    tables: service.tables,
    replicas: deployment[service.name]?.replicas ?? defaultReplicas,
  };
});

export const callGraph: readonly CallEdge[] = contract.callGraph.map((edge) => ({ from: edge.from, to: edge.to, routes: edge.routes.map(meshRoute) }));

/** A handler that calls other services, with its call sequences (the analyzer sums their budgets). */
export type HandlerSpec = Handler<ServiceName>;

/** The contract's handlers in the analyzer's vocabulary (routes named by description). */
export const handlers: readonly HandlerSpec[] = contract.handlers.map((h) => ({
  service: h.route.service as ServiceName,
  route: contract.describeRoute(h.route),
  sequences: h.sequences.map((s) => ({ name: s.name, calls: s.calls.map((c) => ({ service: c.service as ServiceName, route: contract.describeRoute(c) })) })),
}));

export const topics: readonly TopicSpec[] = contract.topics;

export const namespaces = { shop: 'shop', kafka: 'kafka', istio: 'istio-system' } as const;

export const edgeAuth = contract.edgeAuth;

/** Name of the Strimzi Kafka cluster (its bootstrap Service is `<name>-kafka-bootstrap`). */
export const kafkaClusterName = 'meshkit';

/** Laptop budget for the sum of requests of everything synthesized (Istio and Strimzi operators aside). */
export const resourceBudget = { cpuMillis: 2000, memoryMiB: 3072 } as const;

export function serviceSpec(name: ServiceName): ServiceSpec {
  const spec = services.find((s) => s.name === name);
  if (!spec) throw new Error(`unknown service '${name}'`);
  return spec;
}
