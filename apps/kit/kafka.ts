import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
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
    createPartitioner: Partitioners.DefaultPartitioner,
    // Bounded, so a broker outage fails the send and the relay backs off; the outbox keeps the events.
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 },
  });
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
