import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../apps/kit/index.js';
import { productService } from '../../apps/product/app.js';
import { expectError, expectNo5xxForJunk, oversized, request, startForTest } from './support.js';

let service: RunningService;
const call = (method: string, path: string, options?: Parameters<typeof request>[3]) => request(service.url, method, path, options);
const available = async (id: string) => (await call('GET', `/products/${id}`)).body.available as number;

beforeAll(async () => {
  service = await startForTest(productService);
}, 60_000);
afterAll(() => service?.stop());

describe('product catalog', () => {
  it('lists the seeded catalog with prices and stock, paginated', async () => {
    const all = await call('GET', '/products');
    expect(all.status).toBe(200);
    expect(all.body.products).toHaveLength(6);
    expect(all.body.products[0]).toEqual({
      id: 'anniversary-roast',
      name: expect.any(String),
      description: expect.any(String),
      priceCents: 3500,
      currency: 'EUR',
      available: 5,
    });
    const page = await call('GET', '/products?limit=2&offset=2');
    expect(page.body.products.map((p: { id: string }) => p.id)).toEqual(all.body.products.slice(2, 4).map((p: { id: string }) => p.id));
  });

  it('rejects bad paging with 400 VALIDATION_FAILED', async () => {
    expectError(await call('GET', '/products?limit=0'), 400, 'VALIDATION_FAILED');
    expectError(await call('GET', '/products?limit=ten'), 400, 'VALIDATION_FAILED');
    expectError(await call('GET', '/products?limit=1&limit=2'), 400, 'VALIDATION_FAILED');
  });

  it('gets one product; unknown ids are 404 PRODUCT_NOT_FOUND, malformed ones 400', async () => {
    expect((await call('GET', '/products/ceramic-mug')).body.name).toBe('Ceramic mug');
    expectError(await call('GET', '/products/no-such-thing'), 404, 'PRODUCT_NOT_FOUND');
    expectError(await call('GET', '/products/Bad%20Id'), 400, 'VALIDATION_FAILED');
  });
});

describe('reservations', () => {
  it('reserves stock, prices the lines and answers a retry with the same reservation (201 then 200)', async () => {
    const orderId = randomUUID();
    const before = await available('filter-beans');
    const body = {
      orderId,
      items: [
        { productId: 'filter-beans', quantity: 2 },
        { productId: 'ceramic-mug', quantity: 1 },
      ],
    };
    const first = await call('POST', '/reservations', { json: body });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({
      orderId,
      status: 'RESERVED',
      items: [
        { productId: 'ceramic-mug', quantity: 1, unitPriceCents: 1450 },
        { productId: 'filter-beans', quantity: 2, unitPriceCents: 1190 },
      ],
      totalCents: 1450 + 2 * 1190,
      currency: 'EUR',
    });
    const retry = await call('POST', '/reservations', { json: body });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(await available('filter-beans')).toBe(before - 2);
  });

  it('refuses a second reservation for the same order with other items: 409 RESERVATION_MISMATCH', async () => {
    const orderId = randomUUID();
    await call('POST', '/reservations', { json: { orderId, items: [{ productId: 'filter-beans', quantity: 1 }] } });
    expectError(await call('POST', '/reservations', { json: { orderId, items: [{ productId: 'filter-beans', quantity: 3 }] } }), 409, 'RESERVATION_MISMATCH');
  });

  it('never oversells: of 8 concurrent orders for 5 units in stock exactly 5 succeed', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        call('POST', '/reservations', { json: { orderId: randomUUID(), items: [{ productId: 'anniversary-roast', quantity: 1 }] } }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(5);
    for (const refused of results.filter((r) => r.status !== 201)) expectError(refused, 409, 'INSUFFICIENT_STOCK');
    expect(await available('anniversary-roast')).toBe(0);
  });

  it('takes nothing when one line cannot be served (all or nothing)', async () => {
    const before = await available('espresso-beans');
    const res = await call('POST', '/reservations', {
      json: {
        orderId: randomUUID(),
        items: [
          { productId: 'espresso-beans', quantity: 1 },
          { productId: 'hand-grinder', quantity: 999 },
        ],
      },
    });
    expectError(res, 409, 'INSUFFICIENT_STOCK');
    expect(res.body.error.details).toEqual({ productId: 'hand-grinder', requested: 999, available: 12 });
    expect(await available('espresso-beans')).toBe(before);
  });

  it('answers unknown products in a reservation with 422 UNKNOWN_PRODUCT', async () => {
    expectError(
      await call('POST', '/reservations', { json: { orderId: randomUUID(), items: [{ productId: 'unicorn', quantity: 1 }] } }),
      422,
      'UNKNOWN_PRODUCT',
    );
  });

  it('commits once, idempotently, and refuses to release a committed reservation', async () => {
    const orderId = randomUUID();
    await call('POST', '/reservations', { json: { orderId, items: [{ productId: 'pour-over-kettle', quantity: 1 }] } });
    const commit = await call('POST', `/reservations/${orderId}/commit`);
    expect(commit.status).toBe(200);
    expect(commit.body.status).toBe('COMMITTED');
    expect((await call('POST', `/reservations/${orderId}/commit`, { json: {} })).body.status).toBe('COMMITTED');
    expectError(await call('POST', `/reservations/${orderId}/release`), 409, 'RESERVATION_COMMITTED');
  });

  it('releases idempotently, returning the stock exactly once', async () => {
    const orderId = randomUUID();
    const before = await available('hand-grinder');
    await call('POST', '/reservations', { json: { orderId, items: [{ productId: 'hand-grinder', quantity: 2 }] } });
    expect(await available('hand-grinder')).toBe(before - 2);
    expect((await call('POST', `/reservations/${orderId}/release`)).body.status).toBe('RELEASED');
    expect((await call('POST', `/reservations/${orderId}/release`)).body.status).toBe('RELEASED');
    expect(await available('hand-grinder')).toBe(before);
    expectError(await call('POST', `/reservations/${orderId}/commit`), 409, 'RESERVATION_RELEASED');
  });

  it('remembers a release that came before the reservation, so a late reserve is refused', async () => {
    const orderId = randomUUID();
    expect((await call('POST', `/reservations/${orderId}/release`)).body).toMatchObject({ orderId, status: 'RELEASED', items: [] });
    expectError(await call('POST', '/reservations', { json: { orderId, items: [{ productId: 'ceramic-mug', quantity: 1 }] } }), 409, 'RESERVATION_RELEASED');
  });

  it('answers commit of an unknown order with 404 RESERVATION_NOT_FOUND', async () => {
    expectError(await call('POST', `/reservations/${randomUUID()}/commit`), 404, 'RESERVATION_NOT_FOUND');
  });

  it('rejects bad reservation requests with 4xx and the error shape, never 500', async () => {
    const orderId = randomUUID();
    const cases: Array<[Parameters<typeof request>[3], number, string]> = [
      [{ json: { orderId, items: [] } }, 400, 'VALIDATION_FAILED'],
      [{ json: { orderId: 'abc', items: [{ productId: 'ceramic-mug', quantity: 1 }] } }, 400, 'VALIDATION_FAILED'],
      [{ json: { orderId, items: [{ productId: 'ceramic-mug', quantity: '1' }] } }, 400, 'VALIDATION_FAILED'],
      [{ json: { orderId, items: [{ productId: 'ceramic-mug', quantity: 0 }] } }, 400, 'VALIDATION_FAILED'],
      [{ json: { orderId, items: [{ productId: 'ceramic-mug', quantity: 1.5 }] } }, 400, 'VALIDATION_FAILED'],
      [{ json: { items: [{ productId: 'ceramic-mug', quantity: 1 }] } }, 400, 'VALIDATION_FAILED'],
      [{ raw: '{"orderId":' }, 400, 'INVALID_JSON'],
      [{ raw: oversized() }, 413, 'PAYLOAD_TOO_LARGE'],
      [{}, 400, 'VALIDATION_FAILED'],
    ];
    for (const [options, status, code] of cases) expectError(await call('POST', '/reservations', options), status, code);
    expectError(await call('POST', `/reservations/${orderId}/commit`, { json: { force: true } }), 400, 'VALIDATION_FAILED');
    expectError(await call('POST', '/reservations/not-a-uuid/release'), 400, 'VALIDATION_FAILED');
    expectError(await call('GET', '/reservations'), 405, 'METHOD_NOT_ALLOWED');
    expectError(await call('POST', '/products', { json: {} }), 405, 'METHOD_NOT_ALLOWED');
  });
});

describe('junk', () => {
  it('answers junk on every declared route with a 4xx and the error shape, never a 5xx', async () => {
    expect(await expectNo5xxForJunk(service.url, 'product')).toBeGreaterThan(50);
  });
});
