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
/** The route class's default budget (mesh/route.ts RouteClass), chosen on purpose. */
const classDefault: RouteOptions = {};

/** How much longer a caller's HTTP client waits than the mesh's own timeout, so the mesh always answers first. */
export const clientTimeoutMarginMs = 500;

type Shop = { readonly [S in contract.ShopService as S['name']]: S };

/** What the platform decides per service: replicas, and a budget for every route (a missing one does not compile). */
const deployment: { readonly [N in ServiceName]: { readonly replicas: number; readonly budgets: { readonly [R in keyof Shop[N]['routes']]: RouteOptions } } } =
  {
    user: {
      replicas: 1,
      // get is internal (order's saga): short budgets so the whole saga, compensations included, fits POST /orders.
      budgets: { register: classDefault, login: classDefault, me: classDefault, get: internalRead, jwks: classDefault },
    },
    product: {
      replicas: 2,
      budgets: { list: classDefault, get: classDefault, reserve: internalWrite, commit: internalWrite, release: internalWrite },
    },
    order: {
      replicas: 2,
      budgets: {
        // The saga makes up to six calls in turn (verify, reserve, charge, commit; on failure release
        // and void the charge): 1s + 5 x 1.5s = 8.5s worst case, so 10s. The mesh re-sends it only when it
        // cannot have reached the app (a client Idempotency-Key covers client retries).
        place: { timeout: Duration.seconds(10), retry: Retry.onConnectFailure({ attempts: 1 }) },
        list: classDefault,
        get: classDefault,
      },
    },
    payment: {
      replicas: 2,
      budgets: { charge: internalWrite, refund: internalWrite, voidCharge: internalWrite, get: classDefault },
    },
    notification: { replicas: 1, budgets: { list: classDefault } },
  };

/** The mesh route of each contract route, created once so every grant and exposure references the same object. */
const meshRoutes = new Map<contract.ApiRoute, Route>(
  contract.services.flatMap((service) => {
    const budgets: Readonly<Record<string, RouteOptions>> = deployment[service.name].budgets;
    return Object.entries<contract.ApiRoute>(service.routes).map(([key, api]) => {
      const budget = budgets[key];
      if (!budget) throw new Error(`charts/platform.ts: no budget for ${service.name}.routes.${key}: add it to deployment.${service.name}.budgets`);
      return [api, Route.of(api, budget)] as const;
    });
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
    replicas: deployment[service.name].replicas,
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
