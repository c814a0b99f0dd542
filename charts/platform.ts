import { Duration } from 'cdk8s';
import { Retry } from '../mesh/retry.js';
import type { Handler } from '../mesh/call-sequence.js';
import { Route } from '../mesh/route.js';

/**
 * The shop, declared once. Every other part reads this model: the charts
 * (Deployments, mesh policy, service URLs), authorization and NetworkPolicies,
 * the resilience analyzer and the generated architecture docs. Add a call here
 * and exactly that path opens everywhere.
 */

export type ServiceName = 'user' | 'product' | 'order' | 'payment' | 'notification';

export interface ServiceSpec {
  readonly name: ServiceName;
  /** One line on what the service owns. */
  readonly summary: string;
  /** The service's HTTP API with route classes (drives VirtualService routes and retries). */
  readonly routes: readonly Route[];
  /** Routes reachable from the ingress gateway (by description, e.g. "GET /products"). */
  readonly publicRoutes: readonly string[];
  /** Public routes that need a valid end-user JWT at the edge (they read the user id header). */
  readonly jwtRoutes: readonly string[];
  /** Tables in the service's own PostgreSQL database. */
  readonly tables: readonly string[];
  readonly replicas: number;
}

/** A synchronous call: `from` calls `to` on exactly these routes. */
export interface CallEdge {
  readonly from: ServiceName;
  readonly to: ServiceName;
  /** Route descriptions of `to` that `from` may call ("POST /charges"). */
  readonly routes: readonly string[];
}

export interface TopicSpec {
  readonly name: string;
  readonly producers: readonly ServiceName[];
  readonly consumers: readonly ServiceName[];
  readonly partitions: number;
  /** What travels on it. */
  readonly summary: string;
}

const idempotencyKey = 'idempotency-key';

/** Budgets of the calls inside the order saga (`resilience-timing` in the analyzer checks the sum). */
const internalRead = { timeout: Duration.seconds(1), retry: Retry.onGatewayErrors({ attempts: 2, perTryTimeout: Duration.millis(300) }) };
const internalWrite = { timeout: Duration.millis(1500), retry: Retry.onTransientErrors({ attempts: 2, perTryTimeout: Duration.millis(450) }) };

/** How much longer a caller's HTTP client waits than the mesh's own timeout, so the mesh always answers first. */
export const clientTimeoutMarginMs = 500;

export const services: readonly ServiceSpec[] = [
  {
    name: 'user',
    summary: 'accounts, credentials (scrypt) and the JWT signing keys (JWKS)',
    routes: [
      Route.write('POST', '/users'),
      Route.write('POST', '/sessions'),
      Route.read('/users/me'),
      // Internal (order's saga): short budgets so the whole saga, compensations included, fits POST /orders.
      Route.read('/users/{id}', internalRead),
      Route.read('/.well-known/jwks.json'),
    ],
    publicRoutes: ['POST /users', 'POST /sessions', 'GET|HEAD /users/me', 'GET|HEAD /.well-known/jwks.json'],
    jwtRoutes: ['GET|HEAD /users/me'],
    tables: ['users', 'signing_keys'],
    replicas: 1,
  },
  {
    name: 'product',
    summary: 'catalog, inventory and reservations (never oversold)',
    routes: [
      Route.read('/products'),
      Route.read('/products/{id}'),
      Route.idempotentWrite('POST', '/reservations', { keyHeader: idempotencyKey, ...internalWrite }),
      Route.idempotentWrite('POST', '/reservations/{orderId}/commit', { keyHeader: idempotencyKey, ...internalWrite }),
      Route.idempotentWrite('POST', '/reservations/{orderId}/release', { keyHeader: idempotencyKey, ...internalWrite }),
    ],
    publicRoutes: ['GET|HEAD /products', 'GET|HEAD /products/{id}'],
    jwtRoutes: [],
    tables: ['products', 'inventory', 'reservations'],
    replicas: 2,
  },
  {
    name: 'order',
    summary: 'orders and the order saga; transactional outbox to Kafka',
    routes: [
      // The saga makes up to six calls in turn (verify, reserve, charge, commit; on failure release
      // and void the charge): 1s + 5 x 1.5s = 8.5s worst case, so 10s. The mesh re-sends it only when it
      // cannot have reached the app (a client Idempotency-Key covers client retries).
      Route.write('POST', '/orders', { timeout: Duration.seconds(10), retry: Retry.onConnectFailure({ attempts: 1 }) }),
      Route.read('/orders'),
      Route.read('/orders/{id}'),
    ],
    publicRoutes: ['POST /orders', 'GET|HEAD /orders', 'GET|HEAD /orders/{id}'],
    jwtRoutes: ['POST /orders', 'GET|HEAD /orders', 'GET|HEAD /orders/{id}'],
    tables: ['orders', 'order_items', 'outbox'],
    replicas: 2,
  },
  {
    name: 'payment',
    summary: 'charges and refunds behind idempotency keys; outbox events',
    routes: [
      Route.idempotentWrite('POST', '/charges', { keyHeader: idempotencyKey, ...internalWrite }),
      Route.idempotentWrite('POST', '/charges/{id}/refund', { keyHeader: idempotencyKey, ...internalWrite }),
      Route.idempotentWrite('POST', '/charge-voids', { keyHeader: idempotencyKey, ...internalWrite }),
      Route.read('/charges/{id}'),
    ],
    publicRoutes: [],
    jwtRoutes: [],
    tables: ['payments', 'idempotency_keys', 'outbox'],
    replicas: 2,
  },
  {
    name: 'notification',
    summary: 'one notification per order event (deduplicated by event id)',
    routes: [Route.read('/notifications')],
    publicRoutes: ['GET|HEAD /notifications'],
    jwtRoutes: ['GET|HEAD /notifications'],
    tables: ['notifications', 'processed_events'],
    replicas: 1,
  },
];

export const callGraph: readonly CallEdge[] = [
  { from: 'order', to: 'user', routes: ['GET|HEAD /users/{id}'] },
  {
    from: 'order',
    to: 'product',
    routes: ['POST /reservations', 'POST /reservations/{orderId}/commit', 'POST /reservations/{orderId}/release'],
  },
  { from: 'order', to: 'payment', routes: ['POST /charges', 'POST /charge-voids'] },
];

/** A handler that calls other services, with its call sequences (the analyzer sums their budgets). */
export type HandlerSpec = Handler<ServiceName>;

const sagaHappyPath = [
  { service: 'user', route: 'GET|HEAD /users/{id}' },
  { service: 'product', route: 'POST /reservations' },
  { service: 'payment', route: 'POST /charges' },
  { service: 'product', route: 'POST /reservations/{orderId}/commit' },
] as const;

/** The order saga (apps/order/domain/saga.ts). */
export const handlers: readonly HandlerSpec[] = [
  {
    service: 'order',
    route: 'POST /orders',
    sequences: [
      { name: 'confirm', calls: sagaHappyPath },
      {
        // The longest path: every step ran, the commit failed, both compensations follow.
        name: 'commit fails, compensate',
        calls: [...sagaHappyPath, { service: 'product', route: 'POST /reservations/{orderId}/release' }, { service: 'payment', route: 'POST /charge-voids' }],
      },
    ],
  },
];

export const topics: readonly TopicSpec[] = [
  {
    name: 'orders.events',
    producers: ['order'],
    consumers: ['notification'],
    partitions: 3,
    summary: 'OrderCreated, OrderConfirmed, OrderCancelled (v1 JSON, event id)',
  },
  { name: 'payments.events', producers: ['payment'], consumers: [], partitions: 3, summary: 'PaymentCharged, PaymentRefunded (v1 JSON, event id)' },
  {
    name: 'notifications.dlq',
    producers: ['notification'],
    consumers: [],
    partitions: 1,
    summary: 'order events notification could not process (poison messages)',
  },
];

export const namespaces = { shop: 'shop', kafka: 'kafka', istio: 'istio-system' } as const;

/** End-user authentication: the user service issues these tokens; the edge verifies them. */
export const edgeAuth = { issuer: 'meshkit-user', audiences: ['meshkit'], userIdHeader: 'x-user-id', jwksPath: '/.well-known/jwks.json' } as const;

/** Name of the Strimzi Kafka cluster (its bootstrap Service is `<name>-kafka-bootstrap`). */
export const kafkaClusterName = 'meshkit';

/** Laptop budget for the sum of requests of everything synthesized (Istio and Strimzi operators aside). */
export const resourceBudget = { cpuMillis: 2000, memoryMiB: 3072 } as const;

export function serviceSpec(name: ServiceName): ServiceSpec {
  const spec = services.find((s) => s.name === name);
  if (!spec) throw new Error(`unknown service '${name}'`);
  return spec;
}
