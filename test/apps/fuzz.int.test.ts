import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startService, type RunningService, type ServiceDefinition } from '../../apps/kit/index.js';
import { notificationService } from '../../apps/notification/app.js';
import { orderService } from '../../apps/order/app.js';
import { paymentService } from '../../apps/payment/app.js';
import { productService } from '../../apps/product/app.js';
import { userService } from '../../apps/user/app.js';
import { services, type ServiceName } from '../../charts/platform.js';
import { createDatabase } from '../../infra/postgres.js';
import { fuzz, schemathesisBinary, type FuzzResult } from './schemathesis.js';
import { request, testEnv } from './support.js';

// fuzz.test.ts on the real PostgreSQL (one database per service), which refuses what PGlite
// might not: every operation of every service, from the committed OpenAPI documents.
const { url: postgresUrl } = inject('postgres');
const run = randomUUID().replaceAll('-', '').slice(0, 12);
const running = new Map<ServiceName, RunningService>();
const results = new Map<ServiceName, Promise<FuzzResult>>();

async function start<S>(definition: ServiceDefinition<S>, extra: Record<string, string> = {}): Promise<RunningService> {
  const databaseUrl = await createDatabase(postgresUrl, `fuzz_${definition.name}_${run}`);
  const service = await startService(definition, testEnv({ DATABASE_URL: databaseUrl, ...extra }));
  running.set(definition.name as ServiceName, service);
  return service;
}

beforeAll(async () => {
  const binary = schemathesisBinary();
  const [user, product, payment] = await Promise.all([start(userService), start(productService), start(paymentService), start(notificationService)]);
  await start(orderService, { USER_URL: user!.url, PRODUCT_URL: product!.url, PAYMENT_URL: payment!.url });
  const registered = await request(user!.url, 'POST', '/users', { json: { email: 'fuzz@example.org', password: 'password123', name: 'Fuzz' } });
  const headers = { 'x-user-id': registered.body.id as string };
  for (const s of services) results.set(s.name, fuzz(binary, { service: s.name, baseUrl: running.get(s.name)!.url, headers }));
  await Promise.allSettled(results.values());
}, 600_000);
afterAll(async () => {
  await running.get('order')?.stop();
  await Promise.all([...running.values()].map((s) => s.stop()));
});

describe('schemathesis against the services on PostgreSQL', () => {
  it.each(services.map((s) => s.name))('finds no 5xx and no answer that departs from docs/openapi/%s.json', async (name) => {
    const result = await results.get(name)!;
    console.log(
      `fuzz ${name} (PostgreSQL): ${result.requests} requests in ${result.seconds.toFixed(1)} s, ${result.serverErrors} 5xx, ${result.failures.length} failed checks`,
    );
    expect(result.requests).toBeGreaterThan(20);
    expect(result.failures, result.output).toEqual([]);
    expect(result.serverErrors).toBe(0);
  });
});
