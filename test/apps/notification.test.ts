import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeadLetter, EventEnvelope, IncomingMessage, RunningService } from '../../apps/kit/index.js';
import { notificationService } from '../../apps/notification/app.js';
import { messageFor, type OrderEventData } from '../../apps/notification/domain/notifications.js';
import { orderEventProcessor } from '../../apps/notification/infrastructure/order-events.js';
import { expectError, expectNo5xxForJunk, request, startForTest } from './support.js';

let service: RunningService;
const letters: DeadLetter[] = [];
const processor = () => orderEventProcessor(service.db, pino({ level: 'silent' }), async (l) => void letters.push(l));

beforeAll(async () => {
  service = await startForTest(notificationService);
}, 60_000);
afterAll(() => service?.stop());

let offset = 0;
const message = (value: string | null, headers: Record<string, string> = {}): IncomingMessage => ({
  topic: 'orders.events',
  partition: 0,
  offset: String(offset++),
  key: null,
  value: value === null ? null : Buffer.from(value),
  headers,
});

const event = (type: string, data: Partial<OrderEventData> & { userId: string }, version = 1): EventEnvelope<OrderEventData> => ({
  eventId: randomUUID(),
  type,
  version,
  occurredAt: new Date().toISOString(),
  source: 'order',
  data: { orderId: randomUUID(), status: 'CONFIRMED', totalCents: 2900, currency: 'EUR', ...data },
});

const inbox = async (userId: string) =>
  (await request(service.url, 'GET', '/notifications', { headers: { 'x-user-id': userId } })).body.notifications as Array<{
    type: string;
    message: string;
    orderId: string;
  }>;

describe('order events to notifications', () => {
  it('stores one notification per event and lists them for their user only', async () => {
    const userId = randomUUID();
    const p = processor();
    const created = event('OrderCreated', { userId, status: 'PENDING' });
    const confirmed = event('OrderConfirmed', { userId, orderId: created.data.orderId });
    expect(await p.process(message(JSON.stringify(created)))).toBe('processed');
    expect(await p.process(message(JSON.stringify(confirmed)))).toBe('processed');
    const mine = await inbox(userId);
    expect(mine.map((n) => n.type)).toEqual(['OrderConfirmed', 'OrderCreated']);
    expect(mine[0]!.message).toContain('29.00 EUR');
    expect(await inbox(randomUUID())).toEqual([]);
  });

  it('gives a redelivered event no second effect', async () => {
    const userId = randomUUID();
    const p = processor();
    const e = JSON.stringify(event('OrderCancelled', { userId, status: 'CANCELLED', reason: 'PAYMENT_DECLINED' }));
    expect(await p.process(message(e))).toBe('processed');
    expect(await p.process(message(e))).toBe('duplicate');
    expect(await processor().process(message(e))).toBe('duplicate');
    expect(await inbox(userId)).toHaveLength(1);
  });

  it('records but does not notify event types it does not know', async () => {
    const userId = randomUUID();
    expect(await processor().process(message(JSON.stringify(event('OrderShipped', { userId }))))).toBe('processed');
    expect(await inbox(userId)).toEqual([]);
  });

  it('sends poison messages to the dead-letter topic and moves on: not JSON, wrong shape, unknown version, empty', async () => {
    letters.length = 0;
    const p = processor();
    const userId = randomUUID();
    expect(await p.process(message('{"eventId":'))).toBe('dead-lettered');
    expect(await p.process(message(JSON.stringify({ hello: 'world' })))).toBe('dead-lettered');
    expect(await p.process(message(JSON.stringify(event('OrderConfirmed', { userId }, 2))))).toBe('dead-lettered');
    expect(await p.process(message(JSON.stringify(event('OrderConfirmed', { userId: 'not-a-uuid' }))))).toBe('dead-lettered');
    expect(await p.process(message(null))).toBe('dead-lettered');
    expect(letters.map((l) => l.reason)).toEqual(['INVALID_JSON', 'INVALID_EVENT', 'INVALID_EVENT', 'INVALID_EVENT', 'INVALID_JSON']);
    expect(letters[1]!.error).toContain('eventId');
  });
});

describe('GET /notifications', () => {
  it('requires a signed-in user and valid paging', async () => {
    expectError(await request(service.url, 'GET', '/notifications'), 401, 'UNAUTHENTICATED');
    expectError(await request(service.url, 'GET', '/notifications?limit=-1', { headers: { 'x-user-id': randomUUID() } }), 400, 'VALIDATION_FAILED');
    expectError(await request(service.url, 'POST', '/notifications', { json: {} }), 405, 'METHOD_NOT_ALLOWED');
    expectError(await request(service.url, 'GET', '/notifications/1'), 404, 'NOT_FOUND');
  });
});

describe('messages', () => {
  it('explains cancellations in plain words and falls back for unknown reasons', () => {
    const userId = randomUUID();
    expect(messageFor(event('OrderCancelled', { userId, reason: 'INSUFFICIENT_STOCK' }))).toContain('out of stock');
    expect(messageFor(event('OrderCancelled', { userId, reason: 'STEP_FAILED' }))).toContain('could not be completed');
    expect(messageFor(event('OrderRefunded', { userId }))).toBeUndefined();
  });
});

describe('junk', () => {
  it('answers junk on every declared route with a 4xx and the error shape, never a 5xx', async () => {
    expect(await expectNo5xxForJunk(service.url, 'notification', { 'x-user-id': randomUUID() })).toBeGreaterThan(3);
  });
});
