import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, Partitioners, type Consumer, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startService, type RunningService, type ServiceDefinition } from '../../apps/kit/index.js';
import { notificationService } from '../../apps/notification/app.js';
import { orderService } from '../../apps/order/app.js';
import { paymentService } from '../../apps/payment/app.js';
import { productService } from '../../apps/product/app.js';
import { userService } from '../../apps/user/app.js';
import { createDatabase } from '../../infra/postgres.js';
import { request, testEnv } from './support.js';

// The five services in-process on the real PostgreSQL (one database each) and the real Kafka broker.
const { url: postgresUrl } = inject('postgres');
const { brokers } = inject('kafka');
const run = randomUUID().replaceAll('-', '').slice(0, 12);
const kafka = new Kafka({ clientId: `shop-int-${run}`, brokers, logLevel: logLevel.NOTHING });
const clients: Array<Producer | Consumer> = [];
const running: RunningService[] = [];
let user: RunningService, product: RunningService, payment: RunningService, order: RunningService, notification: RunningService;

async function start<S>(definition: ServiceDefinition<S>, extra: Record<string, string> = {}): Promise<RunningService> {
  const databaseUrl = await createDatabase(postgresUrl, `${definition.name}_${run}`);
  const service = await startService(definition, testEnv({ DATABASE_URL: databaseUrl, KAFKA_BROKERS: brokers.join(','), ...extra }));
  running.push(service);
  return service;
}

beforeAll(async () => {
  const admin = kafka.admin();
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
  [user, product, payment] = await Promise.all([start(userService), start(productService), start(paymentService, { KAFKA_PRODUCE_TOPICS: 'payments.events' })]);
  order = await start(orderService, { USER_URL: user.url, PRODUCT_URL: product.url, PAYMENT_URL: payment.url, KAFKA_PRODUCE_TOPICS: 'orders.events' });
  notification = await start(notificationService, {
    KAFKA_CONSUME_TOPICS: 'orders.events',
    KAFKA_PRODUCE_TOPICS: 'notifications.dlq',
    KAFKA_GROUP_ID: `notification-${run}`,
  });
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.disconnect()));
  await Promise.allSettled(running.map((s) => s.stop()));
});

async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await sleep(250);
    value = await probe();
  }
  return value;
}

describe('on the real PostgreSQL', () => {
  it('never oversells: of 20 truly concurrent orders for 5 units exactly 5 get stock', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        request(product.url, 'POST', '/reservations', { json: { orderId: randomUUID(), items: [{ productId: 'anniversary-roast', quantity: 1 }] } }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([...Array(5).fill(201), ...Array(15).fill(409)]);
    expect((await request(product.url, 'GET', '/products/anniversary-roast')).body.available).toBe(0);
  });

  it('charges once for 10 concurrent requests with one idempotency key', async () => {
    const key = randomUUID();
    const body = { amountCents: 1234, currency: 'EUR', source: 'tok_visa', reference: `int-${key}` };
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => request(payment.url, 'POST', '/charges', { json: body, headers: { 'idempotency-key': key } })),
    );
    expect(new Set(answers.map((a) => `${a.status} ${a.body.id}`)).size).toBe(1);
    const rows = await payment.db.query('SELECT id FROM payments WHERE reference = $1', [body.reference]);
    expect(rows).toHaveLength(1);
  });
});

describe('through Kafka', () => {
  it('delivers order events from the outbox to notifications, once each', async () => {
    const registered = await request(user.url, 'POST', '/users', { json: { email: `int-${run}@example.org`, password: 'integration!', name: 'Int' } });
    const userId = registered.body.id as string;
    const placed = await request(order.url, 'POST', '/orders', {
      json: { items: [{ productId: 'ceramic-mug', quantity: 1 }] },
      headers: { 'x-user-id': userId },
    });
    expect(placed.body.status).toBe('CONFIRMED');
    const inbox = await eventually(
      async () =>
        (await request(notification.url, 'GET', '/notifications', { headers: { 'x-user-id': userId } })).body.notifications as Array<{
          type: string;
          orderId: string;
        }>,
      (n) => n.length >= 2,
    );
    expect(inbox.map((n) => n.type).sort()).toEqual(['OrderConfirmed', 'OrderCreated']);
    expect(inbox.every((n) => n.orderId === placed.body.id)).toBe(true);
    const unsent = await order.db.query('SELECT 1 FROM outbox WHERE sent_at IS NULL');
    expect(unsent).toEqual([]);
  });

  it('moves a poison message to notifications.dlq and keeps consuming after it', async () => {
    const dlq = kafka.consumer({ groupId: `dlq-reader-${run}` });
    clients.push(dlq);
    const letters: Array<{ reason: string; value: string }> = [];
    await dlq.connect();
    await dlq.subscribe({ topic: 'notifications.dlq', fromBeginning: true });
    await dlq.run({
      eachMessage: async ({ message }) => {
        letters.push({ reason: message.headers?.['dlq-reason']?.toString() ?? '', value: message.value?.toString() ?? '' });
      },
    });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    clients.push(producer);
    await producer.connect();
    const poison = `not json ${run}`;
    const userId = randomUUID();
    const valid = {
      eventId: randomUUID(),
      type: 'OrderCreated',
      version: 1,
      occurredAt: new Date().toISOString(),
      source: 'test',
      data: { orderId: randomUUID(), userId, status: 'PENDING', totalCents: null, currency: null },
    };
    // Same key, so both land on one partition in this order: the valid event is behind the poison one.
    await producer.send({
      topic: 'orders.events',
      acks: -1,
      messages: [
        { key: 'poison', value: poison },
        { key: 'poison', value: JSON.stringify(valid) },
      ],
    });
    const found = await eventually(
      async () => letters.filter((l) => l.value === poison),
      (l) => l.length > 0,
    );
    expect(found).toEqual([{ reason: 'INVALID_JSON', value: poison }]);
    const inbox = await eventually(
      async () => (await request(notification.url, 'GET', '/notifications', { headers: { 'x-user-id': userId } })).body.notifications as unknown[],
      (n) => n.length > 0,
    );
    expect(inbox).toHaveLength(1);
  });
});
