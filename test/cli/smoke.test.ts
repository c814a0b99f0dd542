import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { printSmoke, smoke } from '../../cli/smoke.js';

interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

/**
 * A stand-in for the shop behind the ingress gateway: just the routes the smoke test
 * drives, with the shapes of apps/user and apps/product. The order settles on the second
 * read and its notification shows up on the second listing, as the saga and Kafka would.
 */
function fakeShop(options: { finalStatus?: 'CONFIRMED' | 'CANCELLED'; gateway404?: boolean } = {}) {
  const seen: Seen[] = [];
  let orderReads = 0;
  let notificationReads = 0;
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
      seen.push({ method: req.method!, path: req.url!, headers: req.headers, body });
      const send = (status: number, payload?: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json', server: 'istio-envoy' });
        res.end(payload === undefined ? '' : JSON.stringify(payload));
      };
      const authed = req.headers.authorization === 'Bearer token-1';
      const route = `${req.method} ${req.url}`;
      if (options.gateway404 && route === 'POST /users') return send(404);
      if (route === 'POST /users') return send(201, { id: '5b1c7a52-0000-4000-8000-000000000001', email: body?.email, name: body?.name });
      if (route === 'POST /sessions') return send(201, { accessToken: 'token-1', tokenType: 'Bearer', expiresIn: 900 });
      if (route === 'GET /products')
        return send(200, {
          products: [
            { id: 'anniversary-roast', available: 0 },
            { id: 'espresso-beans', available: 200 },
          ],
          limit: 50,
          offset: 0,
        });
      if (!authed) return send(401, { error: { code: 'UNAUTHENTICATED', message: 'sign in' } });
      if (route === 'POST /orders') return send(202, { id: 'order-1', status: 'PENDING' });
      if (route === 'GET /orders/order-1') {
        orderReads++;
        const status = orderReads < 2 ? 'PENDING' : (options.finalStatus ?? 'CONFIRMED');
        return send(200, { id: 'order-1', status, cancelReason: status === 'CANCELLED' ? 'PAYMENT_DECLINED' : null });
      }
      if (route === 'GET /notifications') {
        notificationReads++;
        return send(200, { notifications: notificationReads < 2 ? [] : [{ id: 'n-1', orderId: 'order-1', type: 'OrderConfirmed' }] });
      }
      send(404);
    });
  });
  return { server, seen };
}

let running: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (running ? running.close(() => resolve()) : resolve())));

async function listen(server: Server): Promise<string> {
  running = server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const fast = { sleep: async () => undefined, settleTimeoutMs: 5_000 };

describe('make smoke', () => {
  it('registers, logs in, lists products, orders one in stock, and sees the order confirmed and notified', async () => {
    const { server, seen } = fakeShop();
    const baseUrl = await listen(server);
    const results = await smoke({ baseUrl, ...fast });
    expect(results.map((r) => [r.name, r.outcome])).toEqual([
      ['register', 'pass'],
      ['log in', 'pass'],
      ['list products', 'pass'],
      ['place an order', 'pass'],
      ['order confirmed', 'pass'],
      ['notification', 'pass'],
    ]);
    const order = seen.find((s) => s.method === 'POST' && s.path === '/orders')!;
    expect(order.body).toEqual({ items: [{ productId: 'espresso-beans', quantity: 1 }], paymentToken: 'tok_visa' });
    expect(order.headers).toMatchObject({ authorization: 'Bearer token-1', 'content-type': 'application/json' });
    expect(order.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    const register = seen.find((s) => s.path === '/users')!;
    expect(register.body).toMatchObject({ email: expect.stringMatching(/^smoke-[0-9a-f]{8}@example\.com$/), name: 'Smoke Test' });
    expect((register.body as { password: string }).password.length).toBeGreaterThanOrEqual(8);
    expect(register.headers.authorization).toBeUndefined();
  });

  it('fails on a cancelled order with its reason and skips what depends on it', async () => {
    const baseUrl = await listen(fakeShop({ finalStatus: 'CANCELLED' }).server);
    const results = await smoke({ baseUrl, ...fast });
    expect(results.slice(4)).toEqual([
      { name: 'order confirmed', outcome: 'fail', ms: expect.any(Number), detail: 'order order-1 was CANCELLED (PAYMENT_DECLINED)' },
      { name: 'notification', outcome: 'skip', ms: 0, detail: 'an earlier check failed' },
    ]);
  });

  it('explains a refused connection and a missing route on the gateway', async () => {
    const closed = createServer();
    const url = await listen(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    running = undefined;
    const refused = await smoke({ baseUrl: url, ...fast });
    expect(refused[0]!.outcome).toBe('fail');
    expect(refused[0]!.detail).toBe(
      `POST /users: no answer (ECONNREFUSED): nothing listens on ${url}; \`make status\` shows whether the cluster and the ingress gateway are up`,
    );
    expect(refused.slice(1).every((r) => r.outcome === 'skip')).toBe(true);

    const baseUrl = await listen(fakeShop({ gateway404: true }).server);
    const noRoute = await smoke({ baseUrl, ...fast });
    expect(noRoute[0]!.detail).toBe('POST /users answered 404 (no route on the ingress gateway for this path: the Gateway and VirtualServices must expose it)');
  });

  it('prints a pass/fail line per check and a verdict', () => {
    const lines: string[] = [];
    const ok = printSmoke((l) => lines.push(l), 'http://localhost:8080', [
      { name: 'register', outcome: 'pass', ms: 120, detail: 'user u-1' },
      { name: 'log in', outcome: 'fail', ms: 3_000, detail: 'POST /sessions answered 503' },
      { name: 'list products', outcome: 'skip', ms: 0, detail: 'an earlier check failed' },
    ]);
    expect(ok).toBe(false);
    expect(lines).toEqual([
      'meshkit smoke against http://localhost:8080',
      '  PASS  register          0.1s  user u-1',
      '  FAIL  log in            3.0s  POST /sessions answered 503',
      '  SKIP  list products     0.0s  an earlier check failed',
      'smoke: FAILED (1 of 3 passed)',
    ]);
  });
});
