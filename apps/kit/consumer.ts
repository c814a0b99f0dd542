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
  /** Applies the event, in the same transaction that records its id (in the context of its trace headers). */
  handle(tx: Queryable, event: EventEnvelope<T>): Promise<void>;
  /**
   * Applies several new events at once (in partition order, each id seen for the first time), in
   * the transaction that records their ids: the batch path's bulk version of `handle`, which it
   * replaces there. It runs outside any request context, so log with the events' ids yourself.
   * @default calls `handle` for each event in turn, in its trace context
   */
  handleBatch?(tx: Queryable, events: ReadonlyArray<EventEnvelope<T>>): Promise<void>;
  deadLetter(letter: DeadLetter): Promise<void>;
  /**
   * Deliveries of one message whose handler throws (with the database up) before it is dead-lettered.
   * @default 3
   */
  readonly maxAttempts?: number;
  readonly registry?: Registry;
}

/**
 * Handles Kafka messages: records each event id and applies the event in the same
 * transaction, so a redelivered event has no second effect. A message that can
 * never succeed (not JSON, wrong shape, a handler failing repeatedly while the
 * database is fine) goes to the dead-letter topic and the partition moves on.
 * While the database is down it throws, so Kafka redelivers it later.
 *
 * `processBatch` does the same for consecutive messages of one partition in one
 * transaction (ids recorded in one statement, `handleBatch` applying the new ones);
 * `process` is the one-message path, which the batch path falls back to when its
 * transaction fails, to find the poison message and dead-letter only that one.
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

  /**
   * Handles consecutive messages of one partition: poison messages go to the dead-letter topic,
   * the others' ids are recorded and their new events applied in one transaction (in order; an
   * event id twice in the batch counts once). Resolves with each message's outcome once that
   * transaction has committed, so the caller may then commit the batch's offsets. When the
   * transaction fails with the database up, the messages are handled one at a time instead, so a
   * handler failing on one event dead-letters that event only (after its attempts) and the rest
   * commit; the ones already handled are duplicates when Kafka redelivers them.
   */
  async processBatch(messages: readonly IncomingMessage[]): Promise<Outcome[]> {
    const outcomes = await this.processBatchUncounted(messages);
    if (this.outcomes) {
      const counts = new Map<Outcome, number>();
      for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
      for (const [outcome, n] of counts) this.outcomes.inc({ outcome }, n);
    }
    return outcomes;
  }

  private async processBatchUncounted(messages: readonly IncomingMessage[]): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array<Outcome>(messages.length);
    const valid: Array<{ index: number; message: IncomingMessage; envelope: EventEnvelope<T> }> = [];
    for (let index = 0; index < messages.length; index += 1) {
      const message = messages[index]!;
      const parsed = this.parse(message);
      if ('envelope' in parsed) valid.push({ index, message, envelope: parsed.envelope });
      else outcomes[index] = await this.deadLetter(message, parsed.reason, parsed.error);
    }
    if (valid.length === 0) return outcomes;
    try {
      const applied = await this.options.db.transaction(async (tx) => {
        const inserted = await tx.query<{ event_id: string }>(
          'INSERT INTO processed_events (event_id, topic) SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT (event_id) DO NOTHING RETURNING event_id',
          [valid.map((v) => v.envelope.eventId), valid.map((v) => v.message.topic)],
        );
        const fresh = new Set(inserted.map((r) => r.event_id.toLowerCase()));
        // In partition order; `delete` makes a second copy of an id in the same batch a duplicate.
        const toApply = valid.filter((v) => fresh.delete(v.envelope.eventId.toLowerCase()));
        if (this.options.handleBatch) {
          if (toApply.length > 0)
            await this.options.handleBatch(
              tx,
              toApply.map((v) => v.envelope),
            );
        } else {
          for (const v of toApply) {
            await runWithContext(contextFromHeaders(headersAsStrings(v.message.headers)), () => this.options.handle(tx, v.envelope));
          }
        }
        return new Set(toApply.map((v) => v.index));
      });
      for (const v of valid) {
        outcomes[v.index] = applied.has(v.index) ? 'processed' : 'duplicate';
        if (this.attempts.size > 0) this.attempts.delete(positionOf(v.message));
      }
      return outcomes;
    } catch (err) {
      if (!(await this.databaseUp())) throw err;
      this.options.logger.warn({ err, events: valid.length }, 'a batch of events failed; handling them one at a time');
      for (const v of valid) outcomes[v.index] = await this.processUncounted(v.message);
      return outcomes;
    }
  }

  private parse(message: IncomingMessage): { envelope: EventEnvelope<T> } | { reason: string; error: unknown } {
    let event: unknown;
    try {
      event = JSON.parse(message.value?.toString('utf8') ?? '');
    } catch (err) {
      return { reason: 'INVALID_JSON', error: err };
    }
    const violations = this.validate(event);
    if (violations.length > 0) return { reason: 'INVALID_EVENT', error: new Error(violations.map((v) => `${v.path} ${v.message}`).join('; ')) };
    return { envelope: event as EventEnvelope<T> };
  }

  private databaseUp(): Promise<boolean> {
    return this.options.db.ping().then(
      () => true,
      () => false,
    );
  }

  private async processUncounted(message: IncomingMessage): Promise<Outcome> {
    const parsed = this.parse(message);
    if (!('envelope' in parsed)) return this.deadLetter(message, parsed.reason, parsed.error);
    const envelope = parsed.envelope;
    const position = positionOf(message);
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
      if (!(await this.databaseUp())) throw err;
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

const positionOf = (message: IncomingMessage) => `${message.topic}/${message.partition}/${message.offset}`;

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
  /** With `processBatch`, each partition's messages are handled in batches (one transaction each); else one at a time. */
  readonly processor: Pick<EventProcessor<unknown>, 'process'> & Partial<Pick<EventProcessor<unknown>, 'processBatch'>>;
  readonly logger: Logger;
  /**
   * Partitions handled at once (kafkajs partitionsConsumedConcurrently). Messages of one
   * partition stay in order (events of one order share a key, so a partition); more than the
   * partitions assigned is harmless.
   * @default 4 - every partition of the platform's topics (orders.events has 3)
   */
  readonly partitionsConsumedConcurrently?: number;
  /**
   * Most messages of one partition handled in one transaction; a fetched batch is cut into
   * pieces this size, each committed (database, then its offsets) before the next.
   * @default 500
   */
  readonly maxBatchSize?: number;
}

/**
 * How often the consumer commits the offsets it resolved. Without an interval kafkajs commits
 * after every batch, and at a shop's pace a batch is an event or two: an OffsetCommit (a write to
 * the broker's __consumer_offsets log) per event. Redelivery after a crash is bounded by this
 * window and absorbed by the dedupe on event id, which every processor keeps.
 */
export const OFFSET_COMMIT_INTERVAL_MS = 1000;

/**
 * Runs a consumer group over `topics`, feeding each partition's messages to the
 * processor in order, in batches (kafkajs eachBatch): an offset is resolved only
 * after the transaction that handled its message committed, and kafkajs commits
 * resolved offsets at most every OFFSET_COMMIT_INTERVAL_MS, so a crash in between
 * redelivers events the processor then finds already recorded. Connecting is
 * retried with backoff; once running, kafkajs restarts the consumer itself after a crash.
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
        const maxBatch = Math.max(1, this.options.maxBatchSize ?? 500);
        await this.consumer.run({
          autoCommitInterval: OFFSET_COMMIT_INTERVAL_MS,
          partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 4,
          eachBatchAutoResolve: false,
          eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
            const { topic, partition } = batch;
            const all = batch.messages.map((m): IncomingMessage => ({ topic, partition, offset: m.offset, key: m.key, value: m.value, headers: m.headers }));
            for (let start = 0; start < all.length; start += maxBatch) {
              // A rebalance or a seek: stop here; what is not resolved is fetched again.
              if (!isRunning() || isStale()) return;
              const piece = all.slice(start, start + maxBatch);
              if (processor.processBatch) await processor.processBatch(piece);
              else for (const message of piece) await processor.process(message);
              resolveOffset(piece[piece.length - 1]!.offset);
              await heartbeat();
            }
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
