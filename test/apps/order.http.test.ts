import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../apps/kit/index.js';
import { orderService } from '../../apps/order/app.js';
import { paymentService } from '../../apps/payment/app.js';
import { productService } from '../../apps/product/app.js';
import { userService } from '../../apps/user/app.js';
import { expectError, expectNo5xxForJunk, oversized, request, startForTest } from './support.js';

// The real user, product and payment apps in-process, and the order app calling them over HTTP.
let user: RunningService;
let product: RunningService;
let payment: RunningService;
let order: RunningService;
let userId: string;

beforeAll(async () => {
  [user, product, payment] = await Promise.all([startForTest(userService), startForTest(productService), startForTest(paymentService)]);
  order = await startForTest(orderService, {
    USER_URL: user.url,
    PRODUCT_URL: product.url,
    PAYMENT_URL: payment.url,
    // Short so the recovery test sees the sweep act; longer than any saga in these tests takes.
    SWEEP_INTERVAL_MS: '250',
    STALE_ORDER_MS: '2500',
  });
  const registered = await request(user.url, 'POST', '/users', { json: { email: 'grace@example.org', password: 'compilers are fun', name: 'Grace Hopper' } });
  userId = registered.body.id;
}, 90_000);
afterAll(async () => {
  await order?.stop();
  await Promise.all([user?.stop(), product?.stop(), payment?.stop()]);
});

const place = (json: unknown, headers: Record<string, string> = {}) =>
  request(order.url, 'POST', '/orders', { json, headers: { 'x-user-id': userId, ...headers } });
const stock = async (id: string) => (await request(product.url, 'GET', `/products/${id}`)).body.available as number;
const reservationStatus = async (orderId: string) =>
  (await product.db.query<{ status: string }>('SELECT status FROM reservations WHERE order_id = $1', [orderId]))[0]?.status;
const chargesFor = (orderId: string) => payment.db.query<{ id: string; status: string }>('SELECT id, status FROM payments WHERE reference = $1', [orderId]);
const orderEvents = async (orderId: string) =>
  (await order.db.query<{ event_type: string }>('SELECT event_type FROM outbox WHERE message_key = $1 ORDER BY seq', [orderId])).map((r) => r.event_type);

describe('order saga over HTTP', () => {
  it('confirms an order: stock committed, card charged once, OrderCreated and OrderConfirmed in the outbox', async () => {
    const before = await stock('ceramic-mug');
    const res = await place({ items: [{ productId: 'ceramic-mug', quantity: 2 }] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      status: 'CONFIRMED',
      userId,
      totalCents: 2900,
      currency: 'EUR',
      items: [{ productId: 'ceramic-mug', quantity: 2, unitPriceCents: 1450 }],
    });
    expect(await stock('ceramic-mug')).toBe(before - 2);
    expect(await reservationStatus(res.body.id)).toBe('COMMITTED');
    expect(await chargesFor(res.body.id)).toEqual([{ id: res.body.chargeId, status: 'SUCCEEDED' }]);
    expect(await orderEvents(res.body.id)).toEqual(['OrderCreated', 'OrderConfirmed']);
  });

  it('cancels when the payment is declined and releases the reservation', async () => {
    const before = await stock('hand-grinder');
    const res = await place({ items: [{ productId: 'hand-grinder', quantity: 1 }], paymentToken: 'tok_decline' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'CANCELLED', cancelReason: 'PAYMENT_DECLINED', chargeId: null });
    expect(await reservationStatus(res.body.id)).toBe('RELEASED');
    expect(await stock('hand-grinder')).toBe(before);
    expect(await chargesFor(res.body.id)).toEqual([{ id: expect.any(String), status: 'DECLINED' }]);
    expect(await orderEvents(res.body.id)).toEqual(['OrderCreated', 'OrderCancelled']);
  });

  it('cancels without charging when stock is short', async () => {
    const res = await place({ items: [{ productId: 'pour-over-kettle', quantity: 1000 }] });
    expect(res.body).toMatchObject({ status: 'CANCELLED', cancelReason: 'INSUFFICIENT_STOCK' });
    expect(await chargesFor(res.body.id)).toEqual([]);
  });

  it('cancels the order of a user the user service does not know', async () => {
    const res = await place({ items: [{ productId: 'ceramic-mug', quantity: 1 }] }, { 'x-user-id': randomUUID() });
    expect(res.body).toMatchObject({ status: 'CANCELLED', cancelReason: 'USER_NOT_FOUND' });
  });

  it('carries the caller trace headers to every service it calls', async () => {
    const traceparent = `00-${randomUUID().replaceAll('-', '')}-${'ab'.repeat(8)}-01`;
    const requestId = `req-${randomUUID()}`;
    const res = await place({ items: [{ productId: 'filter-beans', quantity: 1 }] }, { traceparent, 'x-request-id': requestId, 'x-b3-sampled': '1' });
    expect(res.headers.get('x-request-id')).toBe(requestId);
    // The payment service stored the headers of the request it served with its PaymentCharged event.
    const [row] = await payment.db.query<{ headers: Record<string, string> }>("SELECT headers FROM outbox WHERE payload->'data'->>'reference' = $1", [
      res.body.id,
    ]);
    expect(row?.headers).toMatchObject({ traceparent, 'x-request-id': requestId, 'x-b3-sampled': '1' });
    const [own] = await order.db.query<{ headers: Record<string, string> }>(
      "SELECT headers FROM outbox WHERE message_key = $1 AND event_type = 'OrderConfirmed'",
      [res.body.id],
    );
    expect(own?.headers).toMatchObject({ traceparent, 'x-request-id': requestId });
  });

  it('leaves an order PENDING (202) when the payment service fails mid-saga, and the sweep cancels it later', async () => {
    const before = await stock('espresso-beans');
    payment.chaos.set({ failRate: 1, latencyMs: 0 });
    let res;
    try {
      res = await place({ items: [{ productId: 'espresso-beans', quantity: 3 }] });
    } finally {
      payment.chaos.reset();
    }
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'PENDING', cancelReason: 'STEP_FAILED' });
    // Compensation got as far as releasing the stock before the payment service refused again.
    expect(await reservationStatus(res.body.id)).toBe('RELEASED');
    let current = res.body;
    for (let i = 0; i < 40 && current.status === 'PENDING'; i++) {
      await sleep(250);
      current = (await request(order.url, 'GET', `/orders/${res.body.id}`, { headers: { 'x-user-id': userId } })).body;
    }
    expect(current).toMatchObject({ status: 'CANCELLED', cancelReason: 'STEP_FAILED' });
    expect(await stock('espresso-beans')).toBe(before);
    // The sweep voided the charge key instead of repeating the charge: payment never saw the first
    // charge, so no money moved at all, and a late charge under that key is refused.
    expect(await chargesFor(res.body.id)).toEqual([]);
    expect(await orderEvents(res.body.id)).toEqual(['OrderCreated', 'OrderCancelled']);
  }, 20_000);

  it('returns the same order for a repeated idempotency key and 409 for the key with another body', async () => {
    const key = randomUUID();
    const body = { items: [{ productId: 'filter-beans', quantity: 1 }] };
    const first = await place(body, { 'idempotency-key': key });
    const again = await place(body, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(await chargesFor(first.body.id)).toHaveLength(1);
    expectError(await place({ items: [{ productId: 'filter-beans', quantity: 2 }] }, { 'idempotency-key': key }), 409, 'IDEMPOTENCY_KEY_REUSED');
  });
});

describe('order reads', () => {
  it('lists my orders newest first and hides other users’ orders', async () => {
    const mine = await request(order.url, 'GET', '/orders?limit=2', { headers: { 'x-user-id': userId } });
    expect(mine.status).toBe(200);
    expect(mine.body.orders).toHaveLength(2);
    expect(mine.body.orders.every((o: { userId: string }) => o.userId === userId)).toBe(true);
    expect(Date.parse(mine.body.orders[0].createdAt)).toBeGreaterThanOrEqual(Date.parse(mine.body.orders[1].createdAt));
    const someoneElse = randomUUID();
    expect((await request(order.url, 'GET', '/orders', { headers: { 'x-user-id': someoneElse } })).body.orders).toEqual([]);
    expectError(await request(order.url, 'GET', `/orders/${mine.body.orders[0].id}`, { headers: { 'x-user-id': someoneElse } }), 404, 'ORDER_NOT_FOUND');
  });

  it('answers unknown order ids with 404 and requests without a signed-in user with 401', async () => {
    expectError(await request(order.url, 'GET', `/orders/${randomUUID()}`, { headers: { 'x-user-id': userId } }), 404, 'ORDER_NOT_FOUND');
    expectError(await request(order.url, 'GET', '/orders'), 401, 'UNAUTHENTICATED');
    expectError(await request(order.url, 'POST', '/orders', { json: { items: [{ productId: 'ceramic-mug', quantity: 1 }] } }), 401, 'UNAUTHENTICATED');
  });

  it('rejects bad order requests with 4xx and the error shape, never 500', async () => {
    const cases: Array<[Parameters<typeof request>[3], number, string]> = [
      [{ raw: '{"items": [' }, 400, 'INVALID_JSON'],
      [{ json: {} }, 400, 'VALIDATION_FAILED'],
      [{ json: { items: [] } }, 400, 'VALIDATION_FAILED'],
      [{ json: { items: [{ productId: 'ceramic-mug', quantity: 'two' }] } }, 400, 'VALIDATION_FAILED'],
      [{ json: { items: [{ productId: 'ceramic-mug' }] } }, 400, 'VALIDATION_FAILED'],
      [{ json: { items: [{ productId: 'ceramic-mug', quantity: 1 }], paymentToken: 'card 4242' } }, 400, 'VALIDATION_FAILED'],
      [{ raw: oversized() }, 413, 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [options, status, code] of cases) {
      expectError(await request(order.url, 'POST', '/orders', { ...options, headers: { 'x-user-id': userId } }), status, code);
    }
    expectError(await request(order.url, 'GET', '/orders/42', { headers: { 'x-user-id': userId } }), 400, 'VALIDATION_FAILED');
    expectError(await request(order.url, 'GET', '/orders?limit=1000', { headers: { 'x-user-id': userId } }), 400, 'VALIDATION_FAILED');
    expectError(await request(order.url, 'PATCH', '/orders', { json: {} }), 405, 'METHOD_NOT_ALLOWED');
    expectError(await request(order.url, 'GET', '/carts'), 404, 'NOT_FOUND');
  });
});

describe('junk', () => {
  it('answers junk on every declared route with a 4xx and the error shape, never a 5xx, signed in or not', async () => {
    expect(await expectNo5xxForJunk(order.url, 'order', { 'x-user-id': userId })).toBeGreaterThan(20);
    expect(await expectNo5xxForJunk(order.url, 'order')).toBeGreaterThan(20);
  });
});
