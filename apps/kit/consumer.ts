import type { Consumer, IHeaders, Kafka, Producer } from 'kafkajs';
import { Counter, type Registry } from 'prom-client';
import { Backoff, pause } from './backoff.js';
import { contextFromHeaders, runWithContext } from './context.js';
import type { Database, Migration, Queryable } from './database.js';
import type { Logger } from './logger.js';
import type { EventEnvelope } from './outbox.js';
import { compileValidator, type SchemaObject } from './validation.js';

/** Ids of events already handled; include in a consuming service's migrations. */
export const processedEventsMigration: Migration = {
  id: '0101_processed_events',
  sql: `CREATE TABLE IF NOT EXISTS processed_events (
    event_id uuid PRIMARY KEY,
    topic text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
  );`,
};

/** The envelope every event must have; the handler's own schema narrows `data`. */
export const envelopeSchema = {
  type: 'object',
  required: ['eventId', 'type', 'version', 'occurredAt', 'source', 'data'],
  properties: {
    eventId: { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' },
    type: { type: 'string', minLength: 1 },
    version: { type: 'integer', minimum: 1 },
    occurredAt: { type: 'string' },
    source: { type: 'string' },
    data: { type: 'object' },
  },
} as const;

export interface IncomingMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: IHeaders;
}

export interface DeadLetter {
  readonly message: IncomingMessage;
  /** Stable reason: INVALID_JSON, INVALID_EVENT, HANDLER_FAILED. */
  readonly reason: string;
  readonly error: string;
}

export type Outcome = 'processed' | 'duplicate' | 'dead-lettered';

export interface EventProcessorOptions<T> {
  readonly db: Database;
  readonly logger: Logger;
  /** Schema of the whole event (envelope with its `data`); violations send the message to the dead-letter topic. */
  readonly schema: SchemaObject;
  /** Applies the event, in the same transaction that records its id. */
  handle(tx: Queryable, event: EventEnvelope<T>): Promise<void>;
  deadLetter(letter: DeadLetter): Promise<void>;
  /**
   * Deliveries of one message whose handler throws (with the database up) before it is dead-lettered.
   * @default 3
   */
  readonly maxAttempts?: number;
  readonly registry?: Registry;
}

/**
 * Handles one Kafka message: records its event id and applies it in one
 * transaction, so a redelivered event has no second effect. A message that can
 * never succeed (not JSON, wrong shape, a handler failing repeatedly while the
 * database is fine) goes to the dead-letter topic and the partition moves on.
 * While the database is down it throws, so Kafka redelivers it later.
 */
export class EventProcessor<T> {
  private readonly validate;
  private readonly attempts = new Map<string, number>();
  private readonly outcomes: Counter<'outcome'> | undefined;

  constructor(private readonly options: EventProcessorOptions<T>) {
    this.validate = compileValidator(options.schema, 'body');
    if (options.registry) {
      this.outcomes = new Counter({
        name: 'events_consumed_total',
        help: 'Consumed events by outcome',
        labelNames: ['outcome'],
        registers: [options.registry],
      });
    }
  }

  async process(message: IncomingMessage): Promise<Outcome> {
    const outcome = await this.processUncounted(message);
    this.outcomes?.inc({ outcome });
    return outcome;
  }

  private async processUncounted(message: IncomingMessage): Promise<Outcome> {
    let event: unknown;
    try {
      event = JSON.parse(message.value?.toString('utf8') ?? '');
    } catch (err) {
      return this.deadLetter(message, 'INVALID_JSON', err);
    }
    const violations = this.validate(event);
    if (violations.length > 0) {
      return this.deadLetter(message, 'INVALID_EVENT', new Error(violations.map((v) => `${v.path} ${v.message}`).join('; ')));
    }
    const envelope = event as EventEnvelope<T>;
    const position = `${message.topic}/${message.partition}/${message.offset}`;
    try {
      const fresh = await this.options.db.transaction(async (tx) => {
        const inserted = await tx.query('INSERT INTO processed_events (event_id, topic) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING RETURNING event_id', [
          envelope.eventId,
          message.topic,
        ]);
        if (inserted.length === 0) return false;
        await runWithContext(contextFromHeaders(headersAsStrings(message.headers)), () => this.options.handle(tx, envelope));
        return true;
      });
      this.attempts.delete(position);
      return fresh ? 'processed' : 'duplicate';
    } catch (err) {
      const databaseUp = await this.options.db.ping().then(
        () => true,
        () => false,
      );
      if (!databaseUp) throw err;
      const attempts = (this.attempts.get(position) ?? 0) + 1;
      if (attempts < (this.options.maxAttempts ?? 3)) {
        this.attempts.set(position, attempts);
        throw err;
      }
      this.attempts.delete(position);
      return this.deadLetter(message, 'HANDLER_FAILED', err);
    }
  }

  private async deadLetter(message: IncomingMessage, reason: string, err: unknown): Promise<Outcome> {
    const error = err instanceof Error ? err.message : String(err);
    this.options.logger.warn({ topic: message.topic, partition: message.partition, offset: message.offset, reason, error }, 'event dead-lettered');
    await this.options.deadLetter({ message, reason, error });
    return 'dead-lettered';
  }
}

export function headersAsStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name.toLowerCase()] = first.toString();
  }
  return out;
}

/** Sends a dead letter with the original key, value and headers plus where it came from and why. */
export function kafkaDeadLetters(producer: Producer, topic: string): (letter: DeadLetter) => Promise<void> {
  return async ({ message, reason, error }) => {
    await producer.send({
      topic,
      acks: -1,
      messages: [
        {
          key: message.key,
          value: message.value,
          headers: {
            ...headersAsStrings(message.headers),
            'dlq-reason': reason,
            'dlq-error': error.slice(0, 1000),
            'dlq-source-topic': message.topic,
            'dlq-source-partition': String(message.partition),
            'dlq-source-offset': message.offset,
          },
        },
      ],
    });
  };
}

export interface KafkaConsumerWorkerOptions {
  readonly kafka: Kafka;
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly producer: Producer;
  readonly processor: Pick<EventProcessor<unknown>, 'process'>;
  readonly logger: Logger;
  /**
   * Partitions handled at once (kafkajs partitionsConsumedConcurrently). Messages of one
   * partition stay in order (events of one order share a key, so a partition); more than the
   * partitions assigned is harmless.
   * @default 4 - every partition of the platform's topics (orders.events has 3)
   */
  readonly partitionsConsumedConcurrently?: number;
}

/**
 * Runs a consumer group over `topics`, feeding each message to the processor
 * (offsets commit after it resolves). Connecting is retried with backoff; once
 * running, kafkajs restarts the consumer itself after a crash.
 */
export class KafkaConsumerWorker {
  private consumer: Consumer | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly options: KafkaConsumerWorkerOptions) {}

  start(): void {
    this.loop ??= this.connect();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await this.consumer?.disconnect().catch(() => undefined);
    await this.options.producer.disconnect().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const { kafka, groupId, topics, producer, processor, logger } = this.options;
    const backoff = new Backoff();
    while (!this.abort.signal.aborted) {
      try {
        await producer.connect();
        this.consumer = kafka.consumer({ groupId, sessionTimeout: 30_000, heartbeatInterval: 3000 });
        await this.consumer.connect();
        await this.consumer.subscribe({ topics: [...topics], fromBeginning: true });
        await this.consumer.run({
          partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 4,
          eachMessage: async ({ topic, partition, message }) => {
            await processor.process({ topic, partition, offset: message.offset, key: message.key, value: message.value, headers: message.headers });
          },
        });
        logger.info({ groupId, topics }, 'consumer running');
        return;
      } catch (err) {
        const delay = backoff.next();
        logger.warn({ err, retryInMs: delay }, 'consumer could not start; retrying');
        await this.consumer?.disconnect().catch(() => undefined);
        this.consumer = undefined;
        if (!(await pause(delay, this.abort.signal))) return;
      }
    }
  }
}
