import { Kafka, logLevel, Partitioners, type ICustomPartitioner, type Producer } from 'kafkajs';
// Every kafkajs client of a service goes through here: its connections lose kafkajs's 1 ms idle loop.
import './kafka-idle-loop-fix.js';
import type { KafkaConfig } from './config.js';
import type { Logger } from './logger.js';

/** A kafkajs client whose own log lines go through the service's JSON logger. */
export function createKafka(config: KafkaConfig, logger: Logger): Kafka {
  const log = logger.child({ component: 'kafka' });
  return new Kafka({
    clientId: config.clientId,
    brokers: [...config.brokers],
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }) => {
        const { message, ...extra } = entry;
        const line = { ...extra, kafkaLogger: entry.logger };
        if (level === logLevel.ERROR) log.error(line, message);
        else if (level === logLevel.WARN) log.warn(line, message);
        else log.debug(line, message);
      },
  });
}

/**
 * The producer for the outbox relay and dead letters: idempotent (no duplicates
 * from the producer's own retries within a session), acks from all in-sync
 * replicas, one request in flight so a retry cannot reorder a partition.
 */
export function createProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: keyHashPartitioner,
    // Bounded, so a broker outage fails the send and the relay backs off; the outbox keeps the events.
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 },
  });
}

/**
 * kafkajs's DefaultPartitioner (the Java client's: murmur2 of the key, modulo the partitions) with
 * the hash in 32-bit arithmetic. kafkajs computes the same 32 bits with a BigInt-backed Long: 12% of
 * the order process's busy time relaying 5,000 events/s (its CPU profile, 2026-12-02). A key goes to
 * the partition it always went to, so its events stay in order across versions; messages with a
 * partition or without a key take kafkajs's own path.
 */
export const keyHashPartitioner: ICustomPartitioner = () => {
  const fallback = Partitioners.DefaultPartitioner();
  return (args) => {
    const { message, partitionMetadata } = args;
    if (message.partition !== undefined && message.partition !== null) return fallback(args);
    if (message.key === undefined || message.key === null) return fallback(args);
    return (murmur2(message.key) & 0x7fffffff) % partitionMetadata.length;
  };
};

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2) of a key's bytes, as a signed 32-bit integer. */
export function murmur2(key: Buffer | string): number {
  const data = typeof key === 'string' ? Buffer.from(key) : key;
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  // The last one to three bytes (the Java code's switch falls through its cases).
  const tail = length & 3;
  if (tail > 0) {
    if (tail === 3) h ^= data[whole + 2]! << 16;
    if (tail >= 2) h ^= data[whole + 1]! << 8;
    h ^= data[whole]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** Publishes messages to a topic; the seam between the outbox relay and Kafka. */
export interface EventPublisher {
  connect(): Promise<void>;
  publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  disconnect(): Promise<void>;
}

export interface OutgoingMessage {
  readonly key: string;
  readonly value: string;
  readonly headers: Readonly<Record<string, string>>;
}

export function kafkaPublisher(producer: Producer): EventPublisher {
  return {
    connect: () => producer.connect(),
    disconnect: () => producer.disconnect(),
    async publish(topic, messages) {
      await producer.send({ topic, acks: -1, messages: messages.map((m) => ({ key: m.key, value: m.value, headers: { ...m.headers } })) });
    },
  };
}
