import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { smoke } from '../../cli/smoke.js';
import { startService, type RunningService, type ServiceDefinition } from '../../apps/kit/index.js';
import { notificationService } from '../../apps/notification/app.js';
import { orderService } from '../../apps/order/app.js';
import { paymentService } from '../../apps/payment/app.js';
import { productService } from '../../apps/product/app.js';
import { userService } from '../../apps/user/app.js';
import { jwks, verifyAccessToken } from '../../apps/user/domain/tokens.js';
import { createDatabase } from '../harness/postgres.js';
import { testEnv } from '../apps/support.js';

// `make smoke`'s client against the five real services (real PostgreSQL, real Kafka) behind a
// stand-in for the Istio ingress gateway.
const { url: postgresUrl } = inject('postgres');
const { brokers } = inject('kafka');
const run = randomUUID().replaceAll('-', '').slice(0, 12);
const running: RunningService[] = [];
let edge: Server;
let edgeUrl: string;

async function start<S>(definition: ServiceDefinition<S>, extra: Record<string, string> = {}): Promise<RunningService> {
  const databaseUrl = await createDatabase(postgresUrl, `${definition.name}_smoke_${run}`);
  const service = await startService(definition, testEnv({ DATABASE_URL: databaseUrl, KAFKA_BROKERS: brokers.join(','), ...extra }));
  running.push(service);
  return service;
}

/**
 * What the edge does for the shop (mesh/edge-gateway.ts): routes by path to the owning
 * service and, like RequestAuthentication with outputClaimToHeaders, verifies the bearer
 * JWT against the user service's JWKS and passes its `sub` as x-user-id (a client's own
 * x-user-id never gets through).
 */
function startEdge(byPrefix: Record<string, RunningService>, jwksUrl: string): Promise<string> {
  edge = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const prefix = Object.keys(byPrefix).find((p) => req.url === p || req.url!.startsWith(`${p}/`) || req.url!.startsWith(`${p}?`));
        if (!prefix) {
          res.writeHead(404, { server: 'istio-envoy' }).end();
          return;
        }
        const headers: Record<string, string> = {};
        for (const name of ['content-type', 'accept', 'idempotency-key']) {
          const value = req.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        if (bearer) {
          try {
            const set = (await (await fetch(jwksUrl)).json()) as ReturnType<typeof jwks>;
            headers['x-user-id'] = verifyAccessToken(bearer, set, { iss: 'meshkit-user', aud: 'meshkit' }).sub;
          } catch {
            res.writeHead(401, { server: 'istio-envoy' }).end('Jwt verification fails');
            return;
          }
        }
        const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
        const upstream = await fetch(`${byPrefix[prefix]!.url}${req.url}`, { method: req.method, headers, body });
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json', server: 'istio-envoy' });
        res.end(Buffer.from(await upstream.arrayBuffer()));
      })();
    });
  });
  return new Promise((resolve) => edge.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(edge.address() as AddressInfo).port}`)));
}

beforeAll(async () => {
  const admin = new Kafka({ clientId: `smoke-int-${run}`, brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: 'orders.events', numPartitions: 3 },
      { topic: 'payments.events', numPartitions: 3 },
      { topic: 'notifications.dlq', numPartitions: 1 },
    ],
  });
  await admin.disconnect();
  const [user, product, payment] = await Promise.all([
    start(userService),
    start(productService),
    start(paymentService, { KAFKA_PRODUCE_TOPICS: 'payments.events' }),
  ]);
  const order = await start(orderService, { USER_URL: user.url, PRODUCT_URL: product.url, PAYMENT_URL: payment.url, KAFKA_PRODUCE_TOPICS: 'orders.events' });
  const notification = await start(notificationService, {
    KAFKA_CONSUME_TOPICS: 'orders.events',
    KAFKA_PRODUCE_TOPICS: 'notifications.dlq',
    KAFKA_GROUP_ID: `notification-smoke-${run}`,
  });
  edgeUrl = await startEdge(
    { '/users': user, '/sessions': user, '/.well-known': user, '/products': product, '/orders': order, '/notifications': notification },
    `${user.url}/.well-known/jwks.json`,
  );
});

afterAll(async () => {
  await new Promise<void>((resolve) => (edge ? edge.close(() => resolve()) : resolve()));
  await Promise.allSettled(running.map((s) => s.stop()));
});

describe('make smoke against the real services', () => {
  it('passes every check: register, log in, products, order, CONFIRMED, notification', async () => {
    const results = await smoke({ baseUrl: edgeUrl, settleTimeoutMs: 45_000, pollMs: 250 });
    expect(results.filter((r) => r.outcome !== 'pass')).toEqual([]);
    expect(results.map((r) => r.name)).toEqual(['register', 'log in', 'list products', 'place an order', 'order confirmed', 'notification']);
    expect(results[4]!.detail).toMatch(/^order [0-9a-f-]{36} CONFIRMED$/);
  });
});
