import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BODY_READ_TIMEOUT_MS, HEADERS_TIMEOUT_MS, type RunningService } from '../../apps/kit/index.js';
import { notificationService } from '../../apps/notification/app.js';
import { orderService } from '../../apps/order/app.js';
import { paymentService } from '../../apps/payment/app.js';
import { productService } from '../../apps/product/app.js';
import { userService } from '../../apps/user/app.js';
import { expectError, request, startForTest } from './support.js';

// Regression tests for issue 12: the exact inputs that answered 500 or held a socket for minutes.
// The five services in-process on PGlite; test/apps/fuzz.test.ts looks for more of the same.
let user: RunningService, product: RunningService, payment: RunningService, order: RunningService, notification: RunningService;
let userId: string;

beforeAll(async () => {
  [user, product, payment, notification] = await Promise.all([
    startForTest(userService),
    startForTest(productService),
    startForTest(paymentService),
    startForTest(notificationService),
  ]);
  order = await startForTest(orderService, { USER_URL: user.url, PRODUCT_URL: product.url, PAYMENT_URL: payment.url });
  userId = (await request(user.url, 'POST', '/users', { json: { email: 'nul@example.org', password: 'password123', name: 'Nul' } })).body.id;
}, 180_000);
afterAll(async () => {
  await order?.stop();
  await Promise.all([user?.stop(), product?.stop(), payment?.stop(), notification?.stop()]);
}, 30_000);

describe('a NUL character (which PostgreSQL cannot store) in any string', () => {
  it('answers POST /users with a NUL in the email (the issue repro) 400 VALIDATION_FAILED naming the field', async () => {
    // curl -XPOST $EDGE/users -d '{"email":"a\u0000b@example.com","password":"password123","name":"x"}'
    const res = await request(user.url, 'POST', '/users', { raw: '{"email":"a\\u0000b@example.com","password":"password123","name":"x"}' });
    expectError(res, 400, 'VALIDATION_FAILED');
    expect(res.body.error.details).toEqual([{ path: 'body/email', message: expect.stringContaining('NUL') }]);
  });

  it('answers a NUL in the user name and in the login email 400, not 500', async () => {
    expectError(
      await request(user.url, 'POST', '/users', { json: { email: 'n@example.org', password: 'password123', name: 'x\u0000' } }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(await request(user.url, 'POST', '/sessions', { json: { email: 'a\u0000b@example.com', password: 'password123' } }), 400, 'VALIDATION_FAILED');
  });

  it('answers a NUL in a payment reference or refund reason 400, and nothing is charged', async () => {
    const key = randomUUID();
    const res = await request(payment.url, 'POST', '/charges', {
      json: { amountCents: 100, currency: 'EUR', source: 'tok_visa', reference: 'order\u0000' },
      headers: { 'idempotency-key': key },
    });
    expectError(res, 400, 'VALIDATION_FAILED');
    expect(await payment.db.query('SELECT id FROM payments WHERE reference LIKE $1', ['order%'])).toEqual([]);
  });

  it('answers an unpaired UTF-16 surrogate (which a jsonb column refuses) 400 as well', async () => {
    const res = await request(payment.url, 'POST', '/charges', {
      raw: '{"amountCents":100,"currency":"EUR","source":"tok_visa","reference":"x\\ud800"}',
      headers: { 'idempotency-key': randomUUID() },
    });
    expectError(res, 400, 'VALIDATION_FAILED');
    expect(res.body.error.details).toEqual([{ path: 'body/reference', message: expect.stringContaining('surrogate') }]);
  });
});

describe('the same product twice in one order', () => {
  it('answers 400 DUPLICATE_PRODUCT (the issue repro) and places nothing', async () => {
    const before = (await request(product.url, 'GET', '/products/ceramic-mug')).body.available;
    const res = await request(order.url, 'POST', '/orders', {
      raw: '{"items":[{"productId":"ceramic-mug","quantity":1},{"productId":"ceramic-mug","quantity":1}]}',
      headers: { 'x-user-id': userId },
    });
    expectError(res, 400, 'DUPLICATE_PRODUCT');
    expect(res.body.error.details).toEqual([{ path: 'body/items/1/productId', message: expect.stringContaining('ceramic-mug') }]);
    expect((await request(order.url, 'GET', '/orders', { headers: { 'x-user-id': userId } })).body.orders).toEqual([]);
    expect((await request(product.url, 'GET', '/products/ceramic-mug')).body.available).toBe(before);
  });
});

describe('limit and offset that are not finite numbers', () => {
  const values = ['Infinity', '-Infinity', '1e500', '-1e500'];
  it.each(['/products?limit=', '/products?offset=', '/orders?limit=', '/notifications?limit='])(
    'answer GET %s<Infinity|-Infinity|1e500> 400',
    async (prefix) => {
      const service = prefix.startsWith('/products') ? product : prefix.startsWith('/orders') ? order : notification;
      for (const value of values) {
        const res = await request(service.url, 'GET', `${prefix}${value}`, { headers: { 'x-user-id': userId } });
        expectError(res, 400, 'VALIDATION_FAILED');
      }
    },
  );
});

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** From the first byte sent to the server closing the connection. */
  readonly closedAfterMs: number;
}

/** Writes bytes as they are (no client-side checks) and reads until the server closes the connection. */
function rawHttp(baseUrl: string, bytes: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), hostname, () => socket.write(bytes, 'latin1'));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body, closedAfterMs: Date.now() - started });
    });
  });
}

function expectRawError(answer: RawAnswer, status: number, code: string): void {
  expect({ status: answer.status, contentType: answer.headers['content-type'] }).toEqual({ status, contentType: expect.stringMatching(/^application\/json/) });
  const body = JSON.parse(answer.body) as { error: { code: string; message: string; requestId: string } };
  expect(body.error).toEqual({ code, message: expect.any(String), requestId: answer.headers['x-request-id'] });
}

describe('connections that stall', () => {
  it(`answer a body shorter than its content-length 408 REQUEST_TIMEOUT within ${BODY_READ_TIMEOUT_MS} ms and close`, async () => {
    const answer = await rawHttp(user.url, 'POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email":');
    expectRawError(answer, 408, 'REQUEST_TIMEOUT');
    expect(answer.headers['connection']).toBe('close');
    expect(answer.closedAfterMs).toBeGreaterThanOrEqual(BODY_READ_TIMEOUT_MS - 100);
    expect(answer.closedAfterMs).toBeLessThan(BODY_READ_TIMEOUT_MS + 2000);
    // The user was never created.
    expect(await user.db.query("SELECT id FROM users WHERE email = 'stalled@example.org'")).toEqual([]);
  });

  it(
    `answer headers that never end 408 REQUEST_TIMEOUT within ${HEADERS_TIMEOUT_MS} ms (and a second), then close`,
    async () => {
      const answer = await rawHttp(product.url, 'GET /products HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      expectRawError(answer, 408, 'REQUEST_TIMEOUT');
      expect(answer.closedAfterMs).toBeLessThan(HEADERS_TIMEOUT_MS + 2000);
    },
    HEADERS_TIMEOUT_MS + 10_000,
  );
});

describe("requests Node's HTTP parser refuses", () => {
  const cases: Array<[string, string, number, string]> = [
    [
      'a content-length that is not a number',
      'POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}',
      400,
      'BAD_REQUEST',
    ],
    ['a control character in the request line', 'GET /prod\x01ucts HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'BAD_REQUEST'],
    [
      'both transfer-encoding and content-length',
      'POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
      400,
      'BAD_REQUEST',
    ],
    ['headers larger than 16 KiB', `GET /products HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
  ];
  it.each(cases)('answers %s in the JSON error shape and closes', async (_name, bytes, status, code) => {
    const answer = await rawHttp(product.url, bytes);
    expectRawError(answer, status, code);
    expect(answer.headers['connection']).toBe('close');
    expect(answer.closedAfterMs).toBeLessThan(2000);
  });
});
