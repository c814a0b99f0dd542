import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners, type Consumer, type Producer } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startKafkaBroker } from '../../infra/kafka-broker.js';

describe('the test Kafka broker', () => {
  const { brokers } = inject('kafka');
  // kafkajs logs its own retries (coordinator still loading) as errors; a real failure surfaces in the assertions.
  const kafka = new Kafka({ clientId: 'foundation-test', brokers, logLevel: logLevel.NOTHING });
  const clients: Array<Producer | Consumer> = [];

  afterAll(async () => {
    await Promise.allSettled(clients.map((client) => client.disconnect()));
  });

  it('is a single KRaft node that answers on loopback', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      expect(cluster.brokers).toEqual([{ nodeId: 1, host: '127.0.0.1', port: Number(brokers[0]?.split(':')[1]) }]);
      expect(cluster.controller).toBe(1);
    } finally {
      await admin.disconnect();
    }
  });

  it('delivers a produced message to a consumer group with its exact key and payload', async () => {
    const topic = `foundation-${randomUUID()}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    clients.push(producer);
    await producer.connect();
    const payload = JSON.stringify({ eventId: randomUUID(), type: 'OrderConfirmed', version: 1, total: '12.50' });
    const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: 'order-42', value: payload }] });
    expect(meta?.errorCode).toBe(0);

    const consumer = kafka.consumer({ groupId: `foundation-${randomUUID()}` });
    clients.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = await new Promise<{ key: string | undefined; value: string | undefined; partition: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message within 60 s')), 60_000);
      void consumer
        .run({
          eachMessage: async ({ message, partition }) => {
            clearTimeout(timer);
            resolve({ key: message.key?.toString(), value: message.value?.toString(), partition });
          },
        })
        .catch(reject);
    });
    expect(received).toEqual({ key: 'order-42', value: payload, partition: 0 });
  });
});

describe('a broker of its own, for fault tests', () => {
  it('comes back after restart() on the same address with its data', async () => {
    const broker = await startKafkaBroker();
    try {
      const kafka = new Kafka({ clientId: 'foundation-restart', brokers: broker.brokers, logLevel: logLevel.NOTHING });
      const topic = 'survives-restart';
      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'before restart' }] });
      await producer.disconnect();

      await broker.restart();

      const admin = kafka.admin();
      await admin.connect();
      const offsets = await admin.fetchTopicOffsets(topic);
      await admin.disconnect();
      expect(offsets).toEqual([expect.objectContaining({ partition: 0, low: '0', high: '1' })]);
      expect(broker.startupMs).toBeGreaterThan(0);
    } finally {
      await broker.stop();
    }
  });
});
