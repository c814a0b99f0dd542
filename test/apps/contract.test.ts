import { describe, expect, it } from 'vitest';
import { edgeAuth, services } from '../../charts/platform.js';
import type { AnyRoute, ServiceContext, ServiceDefinition } from '../../apps/kit/index.js';
import { notificationService } from '../../apps/notification/app.js';
import { orderService } from '../../apps/order/app.js';
import { paymentService } from '../../apps/payment/app.js';
import { productService } from '../../apps/product/app.js';
import { userService } from '../../apps/user/app.js';
import { pino } from 'pino';
import { HttpMetrics, loadConfig, USER_ID_HEADER } from '../../apps/kit/index.js';

/** Builds a service's routes without a database or network, to compare them with the platform model. */
async function routesOf(definition: ServiceDefinition<never>): Promise<string[]> {
  const noDb = new Proxy({}, { get: () => () => Promise.resolve([]) });
  const ctx = {
    config: { httpClientTimeoutMs: 1000, kafka: undefined },
    settings: {
      userUrl: 'http://u',
      productUrl: 'http://p',
      paymentUrl: 'http://pay',
      sweepIntervalMs: 1000,
      staleOrderMs: 1000,
      issuer: 'i',
      audience: 'a',
      ttlSeconds: 60,
    },
    logger: pino({ level: 'silent' }),
    db: { ...noDb, transaction: async () => [{ kid: 'k', privateKey: undefined, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x' } }] },
    metrics: new HttpMetrics('contract', { defaultMetrics: false }),
    kafka: undefined,
  } as unknown as ServiceContext<never>;
  const parts = await definition.create(ctx);
  return parts.routes.map((r: AnyRoute) => `${r.method === 'GET' ? 'GET|HEAD' : r.method} ${r.path}`).sort();
}

const apps = { user: userService, product: productService, order: orderService, payment: paymentService, notification: notificationService };

describe('API contract with charts/platform.ts', () => {
  for (const spec of services) {
    it(`${spec.name} serves exactly the routes the platform declares`, async () => {
      const declared = spec.routes.map((r) => r.description).sort();
      expect(await routesOf(apps[spec.name] as ServiceDefinition<never>)).toEqual(declared);
    });
  }
});

describe('edge authentication contract with charts/platform.ts', () => {
  it('reads the user id from the header the gateway writes the JWT subject into', () => {
    expect(USER_ID_HEADER).toBe(edgeAuth.userIdHeader);
  });

  it('issues tokens for the issuer and audience the RequestAuthentication accepts, and serves the JWKS where it looks', async () => {
    const { settings } = loadConfig(userService, {});
    expect(settings.issuer).toBe(edgeAuth.issuer);
    expect(edgeAuth.audiences).toContain(settings.audience);
    expect(await routesOf(userService as ServiceDefinition<never>)).toContain(`GET|HEAD ${edgeAuth.jwksPath}`);
  });
});
