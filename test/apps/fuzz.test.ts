import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../apps/kit/index.js';
import { notificationService } from '../../apps/notification/app.js';
import { orderService } from '../../apps/order/app.js';
import { paymentService } from '../../apps/payment/app.js';
import { productService } from '../../apps/product/app.js';
import { userService } from '../../apps/user/app.js';
import { services, type ServiceName } from '../../charts/platform.js';
import { fuzz, schemathesisBinary, type FuzzResult } from './schemathesis.js';
import { request, startForTest } from './support.js';

// Every operation of every service, fuzzed from its committed OpenAPI document (docs/openapi)
// by schemathesis, against the five services in-process on PGlite. The same run on the real
// PostgreSQL is fuzz.int.test.ts.
let binary: string;
const running = new Map<ServiceName, RunningService>();
const results = new Map<ServiceName, Promise<FuzzResult>>();

beforeAll(async () => {
  binary = schemathesisBinary();
  const [user, product, payment, notification] = await Promise.all([
    startForTest(userService),
    startForTest(productService),
    startForTest(paymentService),
    startForTest(notificationService),
  ]);
  const order = await startForTest(orderService, { USER_URL: user.url, PRODUCT_URL: product.url, PAYMENT_URL: payment.url });
  Object.entries({ user, product, payment, notification, order }).forEach(([name, s]) => running.set(name as ServiceName, s));
  // The mesh sets x-user-id from a verified JWT; the fuzzer acts as one registered user.
  const registered = await request(user.url, 'POST', '/users', { json: { email: 'fuzz@example.org', password: 'password123', name: 'Fuzz' } });
  const headers = { 'x-user-id': registered.body.id as string };
  // The five runs at once: each is one schemathesis process with one worker, so each is deterministic.
  for (const s of services) results.set(s.name, fuzz(binary, { service: s.name, baseUrl: running.get(s.name)!.url, headers }));
  await Promise.allSettled(results.values());
}, 600_000);
afterAll(async () => {
  await running.get('order')?.stop();
  await Promise.all([...running.values()].map((s) => s.stop()));
}, 30_000);

describe('schemathesis against the services on PGlite', () => {
  it.each(services.map((s) => s.name))('finds no 5xx and no answer that departs from docs/openapi/%s.json', async (name) => {
    const result = await results.get(name)!;
    console.log(
      `fuzz ${name} (PGlite): ${result.requests} requests in ${result.seconds.toFixed(1)} s, ${result.serverErrors} 5xx, ${result.failures.length} failed checks`,
    );
    expect(result.requests).toBeGreaterThan(20);
    expect(result.failures, result.output).toEqual([]);
    expect(result.serverErrors).toBe(0);
  });
});
