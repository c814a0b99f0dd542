import { idempotencyKeyHeader } from './headers.js';
import { idempotentWrite, read, write } from './route.js';
import { defineService } from './service.js';

/**
 * The shop's five services and their HTTP APIs, declared once. The mesh policy (charts/), each
 * service's router (apps/<name>/routes), its callers, the docs and the local runners compile
 * against these objects. Route order is the order the mesh matches them in.
 */

export const user = defineService('user', {
  summary: 'accounts, credentials (scrypt) and the JWT signing keys (JWKS)',
  tables: ['users', 'signing_keys'],
  routes: {
    register: write('POST', '/users'),
    login: write('POST', '/sessions'),
    // Before /users/{id} so "me" is not taken for an id.
    me: read('/users/me'),
    get: read('/users/{id}'),
    jwks: read('/.well-known/jwks.json'),
  },
});

export const product = defineService('product', {
  summary: 'catalog, inventory and reservations (never oversold)',
  tables: ['products', 'inventory', 'reservations'],
  routes: {
    list: read('/products'),
    get: read('/products/{id}'),
    reserve: idempotentWrite('POST', '/reservations', idempotencyKeyHeader),
    commit: idempotentWrite('POST', '/reservations/{orderId}/commit', idempotencyKeyHeader),
    release: idempotentWrite('POST', '/reservations/{orderId}/release', idempotencyKeyHeader),
  },
});

export const order = defineService('order', {
  summary: 'orders and the order saga; transactional outbox to Kafka',
  tables: ['orders', 'order_items', 'outbox'],
  routes: {
    // A write without a mesh-level key: the client's optional Idempotency-Key covers client retries.
    place: write('POST', '/orders'),
    list: read('/orders'),
    get: read('/orders/{id}'),
  },
});

export const payment = defineService('payment', {
  summary: 'charges and refunds behind idempotency keys; outbox events',
  tables: ['payments', 'idempotency_keys', 'outbox'],
  routes: {
    charge: idempotentWrite('POST', '/charges', idempotencyKeyHeader),
    refund: idempotentWrite('POST', '/charges/{id}/refund', idempotencyKeyHeader),
    voidCharge: idempotentWrite('POST', '/charge-voids', idempotencyKeyHeader),
    get: read('/charges/{id}'),
  },
});

export const notification = defineService('notification', {
  summary: 'one notification per order event (deduplicated by event id)',
  tables: ['notifications', 'processed_events'],
  routes: {
    list: read('/notifications'),
  },
});

/** Every service, in the order the platform deploys and documents them. */
export const services = [user, product, order, payment, notification] as const;

export type ShopService = (typeof services)[number];
export type ServiceName = ShopService['name'];
