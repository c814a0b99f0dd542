import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventProcessor,
  KafkaConsumerWorker,
  type DeadLetter,
  type EventEnvelope,
  type IncomingMessage,
  type Queryable,
  type RunningService,
} from '../../apps/kit/index.js';
import { notificationService } from '../../apps/notification/app.js';
import type { OrderEventData } from '../../apps/notification/domain/notifications.js';
import { orderEventProcessor } from '../../apps/notification/infrastructure/order-events.js';
import { startForTest } from './support.js';

const silent = pino({ level: 'silent' });
let service: RunningService;
beforeAll(async () => {
  service = await startForTest(notificationService);
}, 60_000);
afterAll(() => service?.stop());

let offset = 0;
const message = (value: string | null, partition = 0): IncomingMessage => ({
  topic: 'orders.events',
  partition,
  offset: String(offset++),
  key: null,
  value: value === null ? null : Buffer.from(value),
  headers: {},
});
const event = (type: string, userId: string, orderId = randomUUID()): EventEnvelope<OrderEventData> => ({
  eventId: randomUUID(),
  type,
  version: 1,
  occurredAt: new Date().toISOString(),
  source: 'order',
  data: { orderId, userId, status: 'CONFIRMED', totalCents: 2900, currency: 'EUR' },
});
const stored = (userId: string) =>
  service.db.query<{ event_id: string; type: string }>('SELECT event_id, type FROM notifications WHERE user_id = $1 ORDER BY type', [userId]);
const recorded = (ids: readonly string[]) => service.db.query('SELECT 1 FROM processed_events WHERE event_id = ANY($1::uuid[])', [ids]);

describe('the consumer batch path (one transaction per batch)', () => {
  it('sends a poison message of a batch to the dead-letter topic and commits the rest', async () => {
    const letters: DeadLetter[] = [];
    const p = orderEventProcessor(service.db, silent, async (l) => void letters.push(l));
    const userId = randomUUID();
    const good = [event('OrderCreated', userId), event('OrderConfirmed', userId), event('OrderCancelled', userId)];
    const batch = [
      message(JSON.stringify(good[0])),
      message('{"eventId":'),
      message(JSON.stringify(good[1])),
      message(JSON.stringify({ ...event('OrderConfirmed', userId), version: 2 })),
      message(JSON.stringify(good[2])),
    ];
    expect(await p.processBatch(batch)).toEqual(['processed', 'dead-lettered', 'processed', 'dead-lettered', 'processed']);
    expect(letters.map((l) => [l.reason, l.message.offset])).toEqual([
      ['INVALID_JSON', batch[1]!.offset],
      ['INVALID_EVENT', batch[3]!.offset],
    ]);
    expect((await stored(userId)).map((r) => r.type)).toEqual(['OrderCancelled', 'OrderConfirmed', 'OrderCreated']);
  });

  it('gives a redelivered batch no second effect, and counts an id repeated in one batch once', async () => {
    const p = orderEventProcessor(service.db, silent, async () => undefined);
    const userId = randomUUID();
    const a = JSON.stringify(event('OrderCreated', userId));
    const b = JSON.stringify(event('OrderConfirmed', userId));
    expect(await p.processBatch([message(a), message(b), message(a)])).toEqual(['processed', 'processed', 'duplicate']);
    // Kafka redelivers the batch (a crash before its offsets were committed), to this or another replica.
    expect(await p.processBatch([message(a), message(b)])).toEqual(['duplicate', 'duplicate']);
    expect(await orderEventProcessor(service.db, silent, async () => undefined).processBatch([message(b), message(a)])).toEqual(['duplicate', 'duplicate']);
    expect(await stored(userId)).toHaveLength(2);
  });

  it('applies a batch in partition order, in one transaction', async () => {
    const seen: string[][] = [];
    const p = new EventProcessor<OrderEventData>({
      db: service.db,
      logger: silent,
      schema: { type: 'object' },
      handle: async () => Promise.reject(new Error('the batch path must use handleBatch')),
      handleBatch: async (_tx, events) => void seen.push(events.map((e) => e.eventId)),
      deadLetter: async () => undefined,
    });
    const events = Array.from({ length: 50 }, () => event('OrderCreated', randomUUID()));
    await p.processBatch(events.map((e) => message(JSON.stringify(e))));
    expect(seen).toEqual([events.map((e) => e.eventId)]);
  });

  it('finds the event whose handler fails: retried a few deliveries, then dead-lettered while the others commit', async () => {
    const letters: DeadLetter[] = [];
    const userId = randomUUID();
    const bad = event('OrderConfirmed', userId);
    const handled: string[] = [];
    const insert = async (tx: Queryable, e: EventEnvelope<OrderEventData>) => {
      if (e.eventId === bad.eventId) throw new Error('bug on this event');
      handled.push(e.eventId);
      await tx.query("INSERT INTO notifications (id, user_id, order_id, event_id, type, message) VALUES ($1, $2, $3, $4, $5, 'm')", [
        randomUUID(),
        e.data.userId,
        e.data.orderId,
        e.eventId,
        e.type,
      ]);
    };
    const p = new EventProcessor<OrderEventData>({
      db: service.db,
      logger: silent,
      schema: { type: 'object' },
      maxAttempts: 3,
      handle: insert,
      handleBatch: async (tx, events) => {
        for (const e of events) await insert(tx, e);
      },
      deadLetter: async (l) => void letters.push(l),
    });
    const before = event('OrderCreated', userId);
    const after = event('OrderCancelled', userId);
    const batch = [before, bad, after].map((e) => message(JSON.stringify(e)));
    // Deliveries 1 and 2 fail (Kafka redelivers the batch); the events before the bad one are committed on the way.
    await expect(p.processBatch(batch)).rejects.toThrow('bug on this event');
    await expect(p.processBatch(batch)).rejects.toThrow('bug on this event');
    expect(await p.processBatch(batch)).toEqual(['duplicate', 'dead-lettered', 'processed']);
    expect(letters).toEqual([expect.objectContaining({ reason: 'HANDLER_FAILED', error: 'bug on this event' })]);
    expect((await stored(userId)).map((r) => r.event_id).sort()).toEqual([before.eventId, after.eventId].sort());
    expect(await recorded([bad.eventId])).toEqual([]);
    // Handlers ran more than once (rolled back with their batch), but each effect exists once.
    expect(handled.filter((id) => id === before.eventId).length).toBeGreaterThan(1);
  });

  it('throws without dead-lettering while the database is down, recording nothing', async () => {
    const letters: DeadLetter[] = [];
    const down = {
      ...service.db,
      transaction: () => Promise.reject(new Error('connection refused')),
      ping: () => Promise.reject(new Error('connection refused')),
    };
    const p = orderEventProcessor(down, silent, async (l) => void letters.push(l));
    const e = event('OrderCreated', randomUUID());
    for (let i = 0; i < 4; i++) await expect(p.processBatch([message(JSON.stringify(e))])).rejects.toThrow('connection refused');
    expect(letters).toEqual([]);
    expect(await recorded([e.eventId])).toEqual([]);
  });
});

describe('KafkaConsumerWorker on eachBatch', () => {
  interface FakeBatch {
    topic: string;
    partition: number;
    messages: Array<{ offset: string; key: Buffer | null; value: Buffer | null; headers: Record<string, string> }>;
  }
  type EachBatch = (payload: {
    batch: FakeBatch;
    resolveOffset(offset: string): void;
    heartbeat(): Promise<void>;
    isRunning(): boolean;
    isStale(): boolean;
  }) => Promise<void>;

  /** A kafkajs stand-in: run() hands over eachBatch; the test then delivers batches itself. */
  function fakeKafka() {
    const state: { eachBatch?: EachBatch; options?: Record<string, unknown> } = {};
    const consumer = {
      connect: async () => undefined,
      subscribe: async () => undefined,
      disconnect: async () => undefined,
      run: async (options: Record<string, unknown> & { eachBatch: EachBatch }) => {
        state.eachBatch = options.eachBatch;
        state.options = options;
      },
    };
    const kafka = { consumer: () => consumer } as unknown as Kafka;
    const producer = { connect: async () => undefined, disconnect: async () => undefined } as unknown as Producer;
    return { kafka, producer, state };
  }

  it('resolves an offset only after the transaction of its message committed, piece by piece, in order', async () => {
    const { kafka, producer, state } = fakeKafka();
    const log: string[] = [];
    const worker = new KafkaConsumerWorker({
      kafka,
      producer,
      groupId: 'g',
      topics: ['orders.events'],
      logger: silent,
      maxBatchSize: 2,
      processor: {
        process: async () => Promise.reject(new Error('the worker must use processBatch')),
        processBatch: async (messages) => {
          log.push(`commit ${messages.map((m) => `${m.partition}:${m.offset}`).join(',')}`);
          return messages.map(() => 'processed' as const);
        },
      },
    });
    worker.start();
    for (let i = 0; i < 50 && !state.eachBatch; i++) await new Promise((r) => setTimeout(r, 10));
    expect(state.options).toMatchObject({ eachBatchAutoResolve: false });
    const batch: FakeBatch = {
      topic: 'orders.events',
      partition: 2,
      messages: ['10', '11', '12', '13', '14'].map((o) => ({ offset: o, key: null, value: Buffer.from('{}'), headers: {} })),
    };
    await state.eachBatch!({
      batch,
      resolveOffset: (o) => void log.push(`resolve ${o}`),
      heartbeat: async () => undefined,
      isRunning: () => true,
      isStale: () => false,
    });
    expect(log).toEqual(['commit 2:10,2:11', 'resolve 11', 'commit 2:12,2:13', 'resolve 13', 'commit 2:14', 'resolve 14']);

    // A failing piece resolves nothing further: Kafka redelivers from there.
    log.length = 0;
    let calls = 0;
    const failing = new KafkaConsumerWorker({
      kafka,
      producer,
      groupId: 'g',
      topics: ['orders.events'],
      logger: silent,
      maxBatchSize: 2,
      processor: {
        process: async () => 'processed',
        processBatch: async (messages) => {
          calls += 1;
          if (calls === 2) throw new Error('database down');
          return messages.map(() => 'processed' as const);
        },
      },
    });
    failing.start();
    // run() of the second worker replaces the handed-over eachBatch.
    await new Promise((r) => setTimeout(r, 50));
    await expect(
      state.eachBatch!({
        batch,
        resolveOffset: (o) => void log.push(`resolve ${o}`),
        heartbeat: async () => undefined,
        isRunning: () => true,
        isStale: () => false,
      }),
    ).rejects.toThrow('database down');
    expect(log).toEqual(['resolve 11']);
    await worker.stop();
    await failing.stop();
  });
});
