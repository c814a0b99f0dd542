import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { smoke } from '../../cli/smoke.js';
import { startService, type RunningService, type ServiceDefinition } from '../../apps/kit/index.js';
import { notificationService } from '../../apps/notification/app.js';
import { orderService } from '../../apps/order/app.js';
import { paymentService } from '../../apps/payment/app.js';
import { productService } from '../../apps/product/app.js';
import { userService } from '../../apps/user/app.js';
import { startLocalEdge, type LocalEdge } from '../../local/dev/index.js';
import { createDatabase } from '../../infra/postgres.js';
import { testEnv } from '../apps/support.js';

// `make smoke`'s client against the five real services (real PostgreSQL, real Kafka) behind the
// local edge (local/dev/shop.ts): the model's public routes only, JWTs verified against the
// user service's JWKS and passed on as x-user-id, as the Istio ingress gateway does.
const { url: postgresUrl } = inject('postgres');
const { brokers } = inject('kafka');
const run = randomUUID().replaceAll('-', '').slice(0, 12);
const running: RunningService[] = [];
let edge: LocalEdge | undefined;

async function start<S>(definition: ServiceDefinition<S>, extra: Record<string, string> = {}): Promise<RunningService> {
  const databaseUrl = await createDatabase(postgresUrl, `${definition.name}_smoke_${run}`);
  const service = await startService(definition, testEnv({ DATABASE_URL: databaseUrl, KAFKA_BROKERS: brokers.join(','), ...extra }));
  running.push(service);
  return service;
}

beforeAll(async () => {
  const admin = new Kafka({ clientId: `smoke-int-${run}`, brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: 'orders.events', numPartitions: 3 },
      { topic: 'payments.events', numPartitions: 3 },
      { topic: 'notifications.dlq', numPartitions: 1 },
    ],
  });
  await admin.disconnect();
  const [user, product, payment] = await Promise.all([
    start(userService),
    start(productService),
    start(paymentService, { KAFKA_PRODUCE_TOPICS: 'payments.events' }),
  ]);
  const order = await start(orderService, { USER_URL: user.url, PRODUCT_URL: product.url, PAYMENT_URL: payment.url, KAFKA_PRODUCE_TOPICS: 'orders.events' });
  const notification = await start(notificationService, {
    KAFKA_CONSUME_TOPICS: 'orders.events',
    KAFKA_PRODUCE_TOPICS: 'notifications.dlq',
    KAFKA_GROUP_ID: `notification-smoke-${run}`,
  });
  edge = await startLocalEdge({ upstreams: { user: user.url, product: product.url, order: order.url, payment: payment.url, notification: notification.url } });
});

afterAll(async () => {
  await edge?.stop();
  await Promise.allSettled(running.map((s) => s.stop()));
});

describe('make smoke against the real services', () => {
  it('passes every check: register, log in, products, order, CONFIRMED, notification', async () => {
    const results = await smoke({ baseUrl: edge!.url, settleTimeoutMs: 45_000, pollMs: 250 });
    expect(results.filter((r) => r.outcome !== 'pass')).toEqual([]);
    expect(results.map((r) => r.name)).toEqual(['register', 'log in', 'list products', 'place an order', 'order confirmed', 'notification']);
    expect(results[4]!.detail).toMatch(/^order [0-9a-f-]{36} CONFIRMED$/);
  });
});
