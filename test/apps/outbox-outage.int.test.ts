import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startService, type RunningService } from '../../apps/kit/index.js';
import { paymentService } from '../../apps/payment/app.js';
import { startKafkaBroker, type KafkaBroker } from '../../infra/kafka-broker.js';
import { createDatabase } from '../../infra/postgres.js';
import { request, testEnv } from './support.js';

// A broker of its own, so this file can take Kafka away without disturbing others.
let broker: KafkaBroker;
let payment: RunningService;

beforeAll(async () => {
  broker = await startKafkaBroker();
  const admin = new Kafka({ clientId: 'outage-admin', brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: 'payments.events', numPartitions: 1 }] });
  await admin.disconnect();
  const databaseUrl = await createDatabase(inject('postgres').url, `payment_outage_${randomUUID().replaceAll('-', '').slice(0, 12)}`);
  payment = await startService(
    paymentService,
    testEnv({ DATABASE_URL: databaseUrl, KAFKA_BROKERS: broker.brokers.join(','), KAFKA_PRODUCE_TOPICS: 'payments.events' }),
  );
}, 180_000);

afterAll(async () => {
  await payment?.stop();
  await broker?.stop();
});

const charge = async () => {
  const res = await request(payment.url, 'POST', '/charges', {
    json: { amountCents: 500, currency: 'EUR', source: 'tok_visa' },
    headers: { 'idempotency-key': randomUUID() },
  });
  expect(res.status).toBe(201);
  return res.body.id as string;
};
const sentAt = async (chargeId: string) =>
  (await payment.db.query<{ sent_at: Date | null }>("SELECT sent_at FROM outbox WHERE payload->'data'->>'chargeId' = $1", [chargeId]))[0]?.sent_at ?? null;

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(250);
  }
  return check();
}

describe('a Kafka outage', () => {
  it('delays events and loses none: charges keep working, the outbox holds them, the relay delivers after the broker returns', async () => {
    const before = await charge();
    expect(await until(async () => (await sentAt(before)) !== null, 30_000)).toBe(true);

    await broker.stop();
    const during = await charge();
    expect((await request(payment.adminUrl, 'GET', '/health/ready')).status).toBe(200);
    await sleep(3000);
    expect(await sentAt(during)).toBeNull();

    await broker.start();
    expect(await until(async () => (await sentAt(during)) !== null, 90_000)).toBe(true);

    const consumer = new Kafka({ clientId: 'outage-reader', brokers: broker.brokers, logLevel: logLevel.NOTHING }).consumer({
      groupId: `reader-${randomUUID()}`,
    });
    const seen: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: 'payments.events', fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(JSON.parse(message.value!.toString()).data.chargeId) });
    try {
      expect(await until(async () => seen.includes(before) && seen.includes(during), 30_000)).toBe(true);
    } finally {
      await consumer.disconnect();
    }
  }, 240_000);
});
